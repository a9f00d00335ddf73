/**
 * src/format/key.ts: entry keys of every dialect (docs/FORMAT.md §4).
 */
import { describe, expect, it } from 'vitest';
import { formatErrorOf } from '../helpers/format-error.js';
import { decodeKey } from '../../src/format/key.js';
import { FormatError, type FormatErrorReason } from '../../src/format/layout.js';

const utf8 = new TextEncoder();


const PY_JOBS = '["jobs_processed", "jobs_processed_total", {}, "Jobs processed (no labels)."]'; // n = 77

const PY_GET = '["requests", "requests_total", {"code": "200", "method": "GET"}, "Total requests handled."]'; // n = 91

describe('key: decodeKey (FORMAT.md §4)', () => {
  const dec = (text: string, offset = 12) => {
    const k = decodeKey(utf8.encode(text), offset);
    return { ...k, labels: k.labels.map((l) => [...l]) };
  };
  const keyError = (bytes: Uint8Array | string, reason: FormatErrorReason, offset = 4242): FormatError =>
    formatErrorOf(() => decodeKey(typeof bytes === 'string' ? utf8.encode(bytes) : bytes, offset), reason, offset);

  it('decodes a Python ≥ 0.16 key with help (shape python)', () => {
    expect(dec(PY_GET)).toEqual({
      shape: 'python',
      metric: 'requests',
      sample: 'requests_total',
      labels: [
        ['code', '200'],
        ['method', 'GET'],
      ],
      help: 'Total requests handled.',
    });
    expect(dec(PY_JOBS)).toEqual({ shape: 'python', metric: 'jobs_processed', sample: 'jobs_processed_total', labels: [], help: 'Jobs processed (no labels).' });
  });

  it('decodes lone surrogates (Python writes a lone one as "\\ud800") in values and help to U+FFFD; in a label name they are bad_key_shape', () => {
    const key = String.raw`["m", "m_total", {"v": "a\ud800"}, "help \udfff"]`;
    expect(dec(key)).toEqual({ shape: 'python', metric: 'm', sample: 'm_total', labels: [['v', 'a\ufffd']], help: 'help \ufffd' });
    expect(dec(String.raw`["m", "m_total", {"v": "a\udc00"}, "h"]`).labels).toEqual(dec(String.raw`["m", "m_total", {"v": "a\ufffd"}, "h"]`).labels);
    expect(keyError(String.raw`["m", "m_total", {"\ud800": "v"}, "h"]`, 'bad_key_shape').message).toBe('key at offset 4242 has an invalid label name "\ufffd": "[\\"m\\", \\"m_total\\", {\\"\\\\ud800\\": \\"v\\"}, \\"h\\"]"');
  });

  it('decodes the tricky_labels key of §4.1 (backslash, newline, quotes, \\u escapes, surrogate pair)', () => {
    const key = String.raw`["tricky_labels", "tricky_labels_total", {"alpha": "a1", "mid": "m", "zeta": "caf\u00e9 \u65e5\u672c \ud83d\ude42"}, "Help with \\ backslash,\nnewline, \"quotes\", unicode caf\u00e9 \ud83d\ude42."]`;
    expect(dec(key)).toEqual({
      shape: 'python',
      metric: 'tricky_labels',
      sample: 'tricky_labels_total',
      labels: [
        ['alpha', 'a1'],
        ['mid', 'm'],
        ['zeta', 'café 日本 🙂'],
      ],
      help: 'Help with \\ backslash,\nnewline, "quotes", unicode café 🙂.',
    });
  });

  it('decodes a Python ≤ 0.15 key without help (shape python-nohelp, help undefined)', () => {
    const k = dec('["requests", "requests_total", {"code": "200"}]');
    expect(k).toEqual({ shape: 'python-nohelp', metric: 'requests', sample: 'requests_total', labels: [['code', '200']], help: undefined });
    expect('help' in k && k.help).toBe(undefined);
  });

  it('keeps an empty help text as the empty string', () => {
    expect(dec('["m", "m", {}, ""]').help).toBe('');
  });

  it('decodes a Ruby key: numbers keep their text, true/false as words, null dropped as empty', () => {
    expect(dec('["m","m",["a","b","c","d"],[403,null,true,-0.5]]')).toEqual({
      shape: 'ruby',
      metric: 'm',
      sample: 'm',
      labels: [
        ['a', '403'],
        ['c', 'true'],
        ['d', '-0.5'],
      ],
      help: undefined,
    });
    expect(dec('["m","m",["e","f"],[false,-1.0e-07]]').labels).toEqual([
      ['e', 'false'],
      ['f', '-1.0e-07'],
    ]);
  });

  it('decodes a Ruby key with raw UTF-8 and escapes in values', () => {
    expect(dec('["rb_tricky_total","rb_tricky_total",["alpha","zeta"],["a1","café 日本 🙂"]]').labels).toEqual([
      ['alpha', 'a1'],
      ['zeta', 'café 日本 🙂'],
    ]);
    expect(dec(String.raw`["m","m",["v"],["ctrl\u0001char\ttab"]]`).labels).toEqual([['v', 'ctrl\u0001char\ttab']]);
  });

  it('sorts labels by name regardless of their order in the key (values follow their names)', () => {
    expect(dec('["m", "m", {"zeta": "1", "alpha": "2", "mid": "3"}, "h"]').labels).toEqual([
      ['alpha', '2'],
      ['mid', '3'],
      ['zeta', '1'],
    ]);
    expect(dec('["m","m",["z","a","M","_"],["1","2","3","4"]]').labels).toEqual([
      ['M', '3'],
      ['_', '4'],
      ['a', '2'],
      ['z', '1'],
    ]);
  });

  it('drops labels whose value is the empty string', () => {
    expect(dec('["m", "m", {"a": "", "b": "x"}, "h"]').labels).toEqual([['b', 'x']]);
    expect(dec('["m","m",["a","b"],["","x"]]').labels).toEqual([['b', 'x']]);
    expect(dec('["m", "m", {"a": ""}]').labels).toEqual([]);
  });

  it('accepts metric names with colons and labels named like reserved ones', () => {
    expect(dec('["a:b_c", "a:b_c", {"__name__x": "1", "le": "+Inf"}, "h"]')).toMatchObject({
      metric: 'a:b_c',
      labels: [
        ['__name__x', '1'],
        ['le', '+Inf'],
      ],
    });
  });

  it('rejects bytes that are not UTF-8 (bad_key_utf8 at the given offset)', () => {
    const withByte = (...b: number[]): Uint8Array => Uint8Array.from([...utf8.encode('["m", "m", {"a": "'), ...b, ...utf8.encode('"}, "h"]')]);
    keyError(withByte(0xff), 'bad_key_utf8');
    keyError(withByte(0xc3), 'bad_key_utf8'); // truncated 2-byte sequence
    keyError(withByte(0xed, 0xa0, 0xbd), 'bad_key_utf8'); // an encoded surrogate (CESU-8)
    keyError(withByte(0xc0, 0xaf), 'bad_key_utf8'); // overlong '/'
    keyError(withByte(0xff), 'bad_key_utf8', 0);
  });

  it('rejects text that is not JSON (bad_key_json at the given offset)', () => {
    keyError('not json', 'bad_key_json');
    keyError('', 'bad_key_json');
    keyError('["m", "m", {}', 'bad_key_json');
    keyError('["m", "m", {}, "h"]x', 'bad_key_json');
    keyError("['m', 'm', {}, 'h']", 'bad_key_json');
  });

  it('rejects JSON that is not a key (bad_key_shape at the given offset)', () => {
    for (const text of [
      '{}',
      '[]',
      '"m"',
      '[1,2,3]',
      '["m","s"]',
      '["m","s",{},"h",1]',
      '["m","s","labels"]',
      '["m","s",null]',
      '["m","s",1]',
    ]) {
      keyError(text, 'bad_key_shape');
    }
  });

  it('rejects Ruby keys whose names and values differ in length or are malformed (bad_key_shape)', () => {
    keyError('["m","s",["a"],[]]', 'bad_key_shape');
    keyError('["m","s",[],["x"]]', 'bad_key_shape');
    keyError('["m","s",["a"]]', 'bad_key_shape');
    keyError('["m","s",["a"],{"a":"x"}]', 'bad_key_shape');
    keyError('["m","s",[1],["x"]]', 'bad_key_shape'); // name not a string
    keyError('["m","s",["a"],[["x"]]]', 'bad_key_shape'); // value is a list
    keyError('["m","s",["a"],[{}]]', 'bad_key_shape'); // value is an object
  });

  it('rejects invalid metric and sample names (bad_key_shape)', () => {
    keyError('["9x","9x",{}]', 'bad_key_shape');
    keyError('["m","9x",{}]', 'bad_key_shape');
    keyError('["","m",{}]', 'bad_key_shape');
    keyError('["a-b","a-b",{}, "h"]', 'bad_key_shape');
    keyError('[1,"m",{}]', 'bad_key_shape');
    keyError('["m",null,{}]', 'bad_key_shape');
  });

  it('rejects invalid label names (bad_key_shape)', () => {
    keyError('["m", "m", {"a-b": "1"}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"1a": "1"}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"": "1"}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a:b": "1"}, "h"]', 'bad_key_shape'); // colons are for metric names only
    keyError('["m","m",["é"],["1"]]', 'bad_key_shape');
  });

  it('rejects a label name given twice (bad_key_shape)', () => {
    keyError('["m", "m", {"a": "1", "a": "2"}, "h"]', 'bad_key_shape');
    keyError('["m","m",["a","b","a"],["1","2","3"]]', 'bad_key_shape');
  });

  it('rejects non-string Python label values and help (bad_key_shape)', () => {
    keyError('["m", "m", {"a": 1}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a": null}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a": true}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {"a": ["x"]}, "h"]', 'bad_key_shape');
    keyError('["m", "m", {}, 1]', 'bad_key_shape');
    keyError('["m", "m", {}, null]', 'bad_key_shape');
  });

  it('puts the offset it was given on every error', () => {
    for (const offset of [0, 12, 65536, 0x7ffffff0]) {
      keyError(Uint8Array.of(0xff), 'bad_key_utf8', offset);
      keyError('nope', 'bad_key_json', offset);
      keyError('[1,2,3]', 'bad_key_shape', offset);
    }
  });
});

