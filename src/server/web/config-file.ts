/**
 * The web config file as YAML nodes: reads and parses it, walks its mappings, scalars and lists
 * the way exporter-toolkit's strict unmarshalling does (unknown keys are errors, numbers and
 * booleans read as written where a string is expected), and makes every error: the only place a
 * WebConfigError about the file is built, so each one says the file, the line and the key
 * (`web config /etc/web.yml:4: tls_server_config.client_auth_type: invalid value …`).
 */
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode, type Scalar } from 'yaml';
import { readRegularFile } from './regular-file.js';

export type { YamlNode };

export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';
}

/** One `key: value` of a mapping, both as nodes (the value null when empty). */
export interface Entry {
  readonly key: YamlNode;
  readonly value: YamlNode | null;
}

/** An absent or empty value (`key:`, `key: null`, `key: ~`); narrows the rest to a node. */
export function isNull(node: YamlNode | null): node is null | Scalar<null> {
  return node === null || (isScalar(node) && node.value === null);
}

export class ConfigFile {
  /** Absolute path of the file. */
  readonly path: string;
  /** Its directory: relative paths in the file are resolved against it. */
  readonly dir: string;
  /** The top-level node (null for an empty file). */
  readonly root: YamlNode | null;
  readonly #doc: Document;
  readonly #lines: LineCounter;

  private constructor(path: string, doc: Document, lines: LineCounter) {
    this.path = path;
    this.dir = dirname(path);
    this.#doc = doc;
    this.#lines = lines;
    this.root = this.deref(doc.contents);
  }

  /**
   * Reads and parses the file; an unreadable file (not a regular file, over 1 MiB: see
   * regular-file.ts) or invalid YAML is a WebConfigError.
   */
  static read(file: string): ConfigFile {
    const path = resolve(file);
    let source: string;
    try {
      source = readRegularFile(path);
    } catch (err) {
      throw new WebConfigError(`web config ${path}: cannot read: ${describeFsError(err)}`);
    }
    const lines = new LineCounter();
    const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const firstError = doc.errors[0];
    if (firstError !== undefined) {
      const pos = lines.linePos(firstError.pos[0]);
      const message = firstError.message.split('\n')[0] ?? firstError.message;
      throw new WebConfigError(`web config ${path}:${pos.line}:${pos.col}: invalid YAML: ${message}`);
    }
    return new ConfigFile(path, doc, lines);
  }

  /**
   * The one way an error about the file's contents is made: `web config FILE:LINE: WHERE: MESSAGE`,
   * where WHERE is the key path (`tls_server_config.cert_file`; '' for the file itself) and LINE
   * the line of `node`, the key or value the error is about.
   */
  fail(where: string, message: string, node: YamlNode): never {
    const line = this.#lines.linePos(node.range?.[0] ?? 0).line;
    throw new WebConfigError(`web config ${this.path}:${line}: ${where === '' ? '' : `${where}: `}${message}`);
  }

  /** A path in the file, resolved against the file's directory. */
  resolvePath(value: string): string {
    return resolve(this.dir, value);
  }

  private deref(node: unknown): YamlNode | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return node.resolve(this.#doc) ?? null;
    return node as YamlNode;
  }

  /** A mapping (null/absent = empty) as key → entry, keys as written in the file. */
  map(raw: unknown, where: string): Map<string, Entry> {
    const node = this.deref(raw);
    const out = new Map<string, Entry>();
    if (isNull(node)) return out;
    if (!isMap(node)) this.fail(where, where === '' ? 'the file must be a YAML mapping' : 'must be a mapping', node);
    for (const pair of node.items) {
      const key = this.deref(pair.key);
      if (key === null || !isScalar(key) || key.value === null) {
        this.fail(where, 'keys must be plain strings', key ?? node);
      }
      const name = typeof key.value === 'string' ? key.value : (key.source ?? JSON.stringify(key.value));
      out.set(name, { key, value: this.deref(pair.value) });
    }
    return out;
  }

  /** Fails on the first key not in `allowed`; `unsupported` keys fail with their own reason. */
  checkKeys(m: Map<string, Entry>, where: string, allowed: readonly string[], unsupported: Readonly<Record<string, string>>): void {
    for (const [name, entry] of m) {
      const path = where === '' ? name : `${where}.${name}`;
      if (Object.hasOwn(unsupported, name)) this.fail(path, unsupported[name] as string, entry.key);
      if (!allowed.includes(name)) {
        this.fail(path, `unknown field (expected one of: ${allowed.join(', ')})`, entry.key);
      }
    }
  }

  /** A scalar as a string (numbers/booleans as written, like Go's yaml.v2); null/absent/"" → null. */
  string(raw: unknown, where: string): string | null {
    const node = this.deref(raw);
    if (isNull(node)) return null;
    if (!isScalar(node)) this.fail(where, 'must be a string', node);
    const value = typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
    return value === '' ? null : value;
  }

  bool(raw: unknown, where: string): boolean | null {
    const node = this.deref(raw);
    if (isNull(node)) return null;
    if (!isScalar(node) || typeof node.value !== 'boolean') this.fail(where, 'must be true or false', node);
    return node.value;
  }

  /** A YAML integer (a safe one), or null when absent. */
  integer(raw: unknown, where: string): number | null {
    const node = this.deref(raw);
    if (isNull(node)) return null;
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) this.fail(where, 'must be an integer', node);
    return node.value;
  }

  /**
   * A Go duration (`1s`, `500ms`, `1m30s`, `1.5h`; units ns, us, ms, s, m, h) in milliseconds, or
   * null when absent. A bare 0 is zero; any other bare number is refused: Go's yaml.v2 reads it as
   * nanoseconds, which is never what `interval: 1` means.
   */
  durationMs(raw: unknown, where: string): number | null {
    const node = this.deref(raw);
    if (isNull(node)) return null;
    if (isScalar(node) && typeof node.value === 'number') {
      if (node.value === 0) return 0;
      this.fail(where, `${node.source ?? String(node.value)} has no unit (exporter-toolkit would read nanoseconds); write a duration such as 1s, 500ms or 1m`, node);
    }
    const text = this.string(node, where);
    const ms = text === null ? null : parseGoDuration(text);
    if (ms === null) this.fail(where, `invalid duration ${JSON.stringify(text ?? '')}; write a number and a unit (ns, us, ms, s, m, h), e.g. 1s, 500ms or 1m30s`, node);
    return ms;
  }

  stringList(raw: unknown, where: string): Array<[string, YamlNode]> {
    const node = this.deref(raw);
    if (isNull(node)) return [];
    if (!isSeq(node)) this.fail(where, 'must be a list', node);
    return node.items.map((item, i) => {
      const n = this.deref(item);
      const s = this.string(n, `${where}[${i}]`);
      if (s === null || n === null) this.fail(`${where}[${i}]`, 'must be a non-empty string', n ?? node);
      return [s, n];
    });
  }
}

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;

/** Go's time.ParseDuration, in milliseconds; null when it would be an error there. */
export function parseGoDuration(text: string): number | null {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return null;
  let ms = 0;
  while (rest !== '') {
    const m = DURATION_PART.exec(rest);
    const [whole, frac, unit] = [m?.[1] ?? '', m?.[2] ?? '', m?.[3] ?? ''];
    if (m === null || (whole === '' && frac === '')) return null;
    ms += Number(`${whole || '0'}.${frac || '0'}`) * (DURATION_UNIT_MS[unit] as number);
    rest = rest.slice(m[0].length);
  }
  return sign * ms;
}

export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return errorMessage(err);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
