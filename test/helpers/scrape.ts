/**
 * Scraping the real daemon over 127.0.0.1 in tests: a GET that never throws on HTTP status, the
 * merged (non-self) samples of a body, and one self metric's value.
 */
import { request } from 'undici';
import { parseExposition, sampleLines } from './parse-exposition.js';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const r = await request(url, { headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

/** Merged (non-self) samples of a text or OpenMetrics body, as sorted `name{labels} value` lines. */
export function mergedLines(body: string): string[] {
  return sampleLines(parseExposition(body).samples.filter((s) => !s.name.startsWith('multiproc_exporter_')));
}

/** The value of one self-metric sample (`multiproc_exporter_<name>` with exactly these labels), or undefined. */
export function selfValue(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const s = parseExposition(body).samples.find(
    (x) => x.name === `multiproc_exporter_${name}` && JSON.stringify(x.labels) === JSON.stringify(want),
  );
  return s?.value;
}

/** Poll `probe` every 25 ms until it returns a value, at most `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
