/** The part of snappyjs 0.7's API the push uses (the package ships no types). */
declare module 'snappyjs' {
  /** Snappy block format (not the framed stream format), as remote write requires. */
  export function compress<T extends Uint8Array | ArrayBuffer>(input: T): T;
  export function uncompress<T extends Uint8Array | ArrayBuffer>(input: T, maxLength?: number): T;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
