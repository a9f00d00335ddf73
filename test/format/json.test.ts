/**
 * src/format/json.ts: the strict JSON parser that keeps number text (docs/FORMAT.md §4).
 */
import { describe, expect, it } from 'vitest';
import { JsonNumber, JsonSyntaxError, parseJson, type JsonValue } from '../../src/format/json.js';

describe('json: strict parser that keeps number text', () => {
  const num = (v: JsonValue): string => {
    expect(v).toBeInstanceOf(JsonNumber);
    return (v as JsonNumber).text;
  };
  const rejects = (text: string): void => {
    expect(() => parseJson(text), JSON.stringify(text)).toThrow(JsonSyntaxError);
  };

  it('keeps the source text of numbers (-1.0e-07, 403, 1.0, -0.5, 0, 1E+2)', () => {
    for (const t of ['-1.0e-07', '403', '1.0', '-0.5', '0', '-0', '1E+2', '2.5e10']) expect(num(parseJson(t))).toBe(t);
    const arr = parseJson('[403, -1.0e-07,1.0]') as JsonValue[];
    expect(arr.map(num)).toEqual(['403', '-1.0e-07', '1.0']);
  });

  it('rejects numbers JSON does not allow (01, 1., .5, +1, -, 0x10, NaN, Infinity)', () => {
    for (const t of ['01', '1.', '.5', '+1', '-', '0x10', 'NaN', 'Infinity', '-Infinity', '1e', '1.e5']) rejects(t);
  });

  it('parses literals, arrays and objects (members in source order, duplicates kept)', () => {
    expect(parseJson('true')).toBe(true);
    expect(parseJson('false')).toBe(false);
    expect(parseJson('null')).toBeNull();
    expect(parseJson(' [ ] ')).toEqual([]);
    expect(parseJson('{}')).toEqual({ members: [] });
    expect(parseJson('\t{ "b" : "1" ,\r\n"a":[null,true], "b": "2"}\n')).toEqual({
      members: [
        ['b', '1'],
        ['a', [null, true]],
        ['b', '2'],
      ],
    });
  });

  it('decodes every escape, including \\u00e9 and \\/', () => {
    expect(parseJson(String.raw`"a\"b\\c\/d\b\f\n\r\t"`)).toBe('a"b\\c/d\b\f\n\r\t');
    expect(parseJson(String.raw`"caf\u00e9"`)).toBe('café');
    expect(parseJson(String.raw`"caf\u00E9 \u65e5\u672c \u007f \u2028"`)).toBe('café 日本 \u007f \u2028');
    expect(parseJson(String.raw`"\u0000"`)).toBe('\u0000');
  });

  it('joins an escaped surrogate pair \\ud83d\\ude42 into 🙂, and keeps raw astral characters', () => {
    expect(parseJson(String.raw`"\ud83d\ude42"`)).toBe('🙂');
    expect(parseJson(String.raw`"x\uD83D\uDE42y"`)).toBe('x🙂y');
    expect(parseJson('"🙂"')).toBe('🙂');
  });

  it('decodes unpaired surrogates to U+FFFD, each one, so strings that render alike are equal', () => {
    expect(parseJson(String.raw`"\ud83d"`)).toBe('\ufffd');
    expect(parseJson(String.raw`"\ude42"`)).toBe('\ufffd');
    expect(parseJson(String.raw`"\ud83dx"`)).toBe('\ufffdx');
    expect(parseJson(String.raw`"\ude42\ud83d"`)).toBe('\ufffd\ufffd'); // the wrong order is no pair
    expect(parseJson(String.raw`"\ud83d\u0041"`)).toBe('\ufffdA');
    expect(parseJson(String.raw`"a\ud800" `)).toBe(parseJson(String.raw`"a\udbff"`));
    expect(parseJson('"\ud83d"')).toBe('\ufffd'); // a raw lone surrogate in the JS string
    expect(parseJson(String.raw`{"\udc00": "\ud800\ud83d\ude42"}`)).toEqual({ members: [['\ufffd', '\ufffd🙂']] });
  });

  it('rejects bad escapes and unterminated strings', () => {
    for (const t of [String.raw`"\x41"`, String.raw`"\u12"`, String.raw`"\u12g4"`, String.raw`"\'"`, '"abc', '"abc\\', "'a'"]) rejects(t);
  });

  it('rejects trailing garbage after the value', () => {
    for (const t of ['[1] x', '[1]]', '"a" "b"', '{}{}', 'truex', 'null,', '1 2']) rejects(t);
    expect(parseJson('[1] \n\t\r')).toEqual([new JsonNumber('1')]);
  });

  it('rejects raw control characters inside strings (they must be escaped)', () => {
    for (const c of ['\n', '\t', '\r', '\u0000', '\u0001', '\u001f']) rejects(`"a${c}b"`);
    expect(parseJson('"a\u007fb"')).toBe('a\u007fb'); // DEL is not a control character for JSON
  });

  it('rejects malformed structure (trailing commas, missing colons, unquoted names, empty input)', () => {
    for (const t of ['', ' ', '[1,]', '[,1]', '{"a" "b"}', '{"a":}', '{a:1}', '{"a":1,}', '[1 2]', '[', '{', '\u00a0[]']) rejects(t);
  });

  it('accepts the shallow nesting of keys but rejects deep nesting without overflowing the stack', () => {
    const nest = (d: number): string => '['.repeat(d) + ']'.repeat(d);
    expect(() => parseJson(nest(10))).not.toThrow();
    rejects(nest(100));
    rejects(nest(200_000));
    rejects('{"a":'.repeat(1000) + '1' + '}'.repeat(1000));
  });

  it('reports the position of the error', () => {
    try {
      parseJson('[1, x]');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(JsonSyntaxError);
      expect((e as JsonSyntaxError).position).toBe(4);
    }
  });
});

