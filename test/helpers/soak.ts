/**
 * `npm run soak` sets MULTIPROC_EXPORTER_SOAK=1: the reliability tests then run their long
 * variants (more cycles, more increments, longer load). `npm test` runs the short ones.
 */
export const SOAK = process.env['MULTIPROC_EXPORTER_SOAK'] === '1';

/** `short` under `npm test`, `long` under `npm run soak`. */
export function scaled(short: number, long: number): number {
  return SOAK ? long : short;
}
