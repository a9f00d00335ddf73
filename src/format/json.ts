/**
 * A strict JSON parser for entry keys that keeps number tokens as their source text: Ruby label
 * values may be JSON numbers (`403`, `-1.0e-07`) and must be exported with the text the
 * application wrote (docs/FORMAT.md §4.2), which JSON.parse would normalise (`-1e-7`).
 */

export type JsonValue = string | JsonNumber | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  /** Members in source order; duplicate names are kept (callers decide). */
  readonly members: readonly (readonly [string, JsonValue])[];
}
export class JsonNumber {
  constructor(readonly text: string) {}
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at character ${position}`);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

export function parseJson(text: string): JsonValue {
  let pos = 0;

  const fail = (what: string): never => {
    throw new JsonSyntaxError(what, pos);
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };

  const parseString = (): string => {
    pos++; // opening quote
    let out = '';
    let start = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(start, pos);
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          pos -= 1;
          fail('bad escape');
      }
      start = pos;
    }
    out += text.slice(start, pos);
    pos++; // closing quote
    // An unpaired surrogate (Python's json.dumps writes `"\ud800"` for a lone one) becomes U+FFFD
    // here, as it would in any UTF-8 output: strings that render alike are then equal and merge.
    return out.isWellFormed() ? out : out.toWellFormed();
  };

  const parseValue = (depth: number): JsonValue => {
    if (depth > 16) fail('nesting too deep');
    skipWs();
    const c = text[pos];
    if (c === '"') return parseString();
    if (c === '[') {
      pos++;
      const items: JsonValue[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return items;
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipWs();
        const d = text[pos++];
        if (d === ']') return items;
        if (d !== ',') {
          pos--;
          fail("expected ',' or ']'");
        }
      }
    }
    if (c === '{') {
      pos++;
      const members: (readonly [string, JsonValue])[] = [];
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return { members };
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail('expected a member name');
        const name = parseString();
        skipWs();
        if (text[pos++] !== ':') {
          pos--;
          fail("expected ':'");
        }
        members.push([name, parseValue(depth + 1)]);
        skipWs();
        const d = text[pos++];
        if (d === '}') return { members };
        if (d !== ',') {
          pos--;
          fail("expected ',' or '}'");
        }
      }
    }
    if (text.startsWith('true', pos)) return (pos += 4), true;
    if (text.startsWith('false', pos)) return (pos += 5), false;
    if (text.startsWith('null', pos)) return (pos += 4), null;
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) return fail('unexpected character');
    pos += m[0].length;
    return new JsonNumber(m[0]);
  };

  const value = parseValue(0);
  skipWs();
  if (pos !== text.length) fail('trailing characters');
  return value;
}
