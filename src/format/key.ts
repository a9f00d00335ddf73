/**
 * Entry keys (docs/FORMAT.md §4): the JSON text that names a sample inside a `.db` file.
 *
 *   Python ≥ 0.16  ["metric", "sample", {"label": "value", ...}, "help"]
 *   Python ≤ 0.15  ["metric", "sample", {"label": "value", ...}]
 *   Ruby (all)     ["metric", "sample", ["label", ...], [value, ...]]   values: string|number|bool|null
 */
import { compareLabelNames, type Label } from './label.js';
import { FormatError } from './layout.js';
import { JsonNumber, JsonSyntaxError, parseJson, type JsonValue } from './json.js';
import { isLabelName, isMetricName } from './names.js';

export type KeyShape = 'python' | 'python-nohelp' | 'ruby';

export interface DecodedKey {
  readonly shape: KeyShape;
  /** key[0]: the metric name (Python counters: without `_total`). */
  readonly metric: string;
  /** key[1]: the sample name (`…_total`, `…_bucket`, `…_sum`, …). */
  readonly sample: string;
  /** Labels sorted by name; empty values dropped (an empty label value is the same as no label). */
  readonly labels: readonly Label[];
  /** Help text when the key carries it (Python ≥ 0.16). */
  readonly help: string | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode a key from its bytes; throws FormatError with the key's offset for anything invalid. */
export function decodeKey(bytes: Uint8Array, offset: number): DecodedKey {
  return parseKey(keyText(bytes, offset), offset);
}

/** The key's text (strict UTF-8); throws FormatError `bad_key_utf8`. */
export function keyText(bytes: Uint8Array, offset: number): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FormatError('bad_key_utf8', `key at offset ${offset} is not valid UTF-8`, offset);
  }
}

/** Parse and validate a key's text (`offset` is only for messages); throws FormatError. */
export function parseKey(text: string, offset: number): DecodedKey {
  let json: JsonValue;
  try {
    json = parseJson(text);
  } catch (e) {
    const why = e instanceof JsonSyntaxError ? e.message : String(e);
    throw new FormatError('bad_key_json', `key at offset ${offset} is not JSON (${why}): ${preview(text)}`, offset);
  }
  const shapeError = (why: string): never => {
    throw new FormatError('bad_key_shape', `key at offset ${offset} ${why}: ${preview(text)}`, offset);
  };
  if (!Array.isArray(json) || json.length < 3 || json.length > 4) {
    return shapeError('is not a 3- or 4-element JSON list');
  }
  const [metric, sample, third, fourth] = json;
  if (typeof metric !== 'string' || !isMetricName(metric)) return shapeError('has an invalid metric name');
  if (typeof sample !== 'string' || !isMetricName(sample)) return shapeError('has an invalid sample name');

  const labels: [string, string][] = [];
  let shape: KeyShape;
  let help: string | undefined;
  if (Array.isArray(third)) {
    // Ruby: parallel arrays of names and values.
    if (!Array.isArray(fourth) || fourth.length !== third.length) {
      return shapeError('has label names and values of different lengths');
    }
    shape = 'ruby';
    for (let i = 0; i < third.length; i++) {
      const name = third[i];
      if (typeof name !== 'string') return shapeError('has a label name that is not a string');
      labels.push([name, rubyLabelValue(fourth[i], shapeError)]);
    }
  } else if (third !== null && typeof third === 'object' && !(third instanceof JsonNumber)) {
    shape = json.length === 4 ? 'python' : 'python-nohelp';
    if (json.length === 4) {
      if (typeof fourth !== 'string') return shapeError('has help text that is not a string');
      help = fourth;
    }
    for (const [name, value] of third.members) {
      if (typeof value !== 'string') return shapeError(`has a non-string value for label "${name}"`);
      labels.push([name, value]);
    }
  } else {
    return shapeError('has neither a label object nor label arrays');
  }

  for (const [name] of labels) {
    if (!isLabelName(name)) return shapeError(`has an invalid label name "${name}"`);
  }
  labels.sort(compareLabelNames);
  for (let i = 1; i < labels.length; i++) {
    if (labels[i]![0] === labels[i - 1]![0]) return shapeError(`repeats label "${labels[i]![0]}"`);
  }
  const kept = labels.filter((l) => l[1] !== '');
  return { shape, metric, sample, labels: kept, help };
}

/** Ruby keeps a label value's JSON type: numbers and booleans are exported as their JSON text. */
function rubyLabelValue(v: JsonValue | undefined, shapeError: (why: string) => never): string {
  if (typeof v === 'string') return v;
  if (v instanceof JsonNumber) return v.text;
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (v === null) return ''; // Ruby nil: the same as no label
  return shapeError('has a label value that is a list or object');
}

function preview(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

/**
 * Python's key bytes (`mmap_dict.py mmap_key`): `json.dumps([metric, sample, labels, help],
 * sort_keys=True)` with CPython's defaults, separators `", "` and `": "`, ensure_ascii
 * (docs/FORMAT.md §4.1). `labels` must be sorted by name.
 */
export function encodePythonKey(metric: string, sample: string, labels: readonly Label[], help: string): string {
  let dict = '{';
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) dict += ', ';
    dict += `${pythonJsonString(labels[i]![0])}: ${pythonJsonString(labels[i]![1])}`;
  }
  dict += '}';
  return `[${pythonJsonString(metric)}, ${pythonJsonString(sample)}, ${dict}, ${pythonJsonString(help)}]`;
}

/**
 * The Ruby gem's key bytes (`mmaped_value.rb rebuild_key`): compact JSON of
 * `[metric, sample, names, values]`, non-ASCII raw (docs/FORMAT.md §4.2). `labels` sorted by name.
 */
export function encodeRubyKey(metric: string, sample: string, labels: readonly Label[]): string {
  const names = labels.map((l) => rubyJsonString(l[0])).join(',');
  const values = labels.map((l) => rubyJsonString(l[1])).join(',');
  return `[${rubyJsonString(metric)},${rubyJsonString(sample)},[${names}],[${values}]]`;
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x08: '\\b', 0x0c: '\\f' };

/** CPython json with ensure_ascii: everything outside U+0020..U+007E escaped, lowercase `\uXXXX`. */
function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

/** Ruby's json generator: `"`, `\` and control characters escaped (lowercase `\u001f`); the rest raw. */
function rubyJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) out += short;
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}
