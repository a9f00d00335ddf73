/**
 * The scraper of the cluster scenario, in its own process so the load generator does not delay
 * it: GET URL every INTERVAL ms on a fresh connection, never two at once (a tick that finds a
 * scrape still running is skipped, as Prometheus does). On {type:'stop'} it finishes the
 * scrape in flight and sends {type:'result', latenciesMs, failures, skippedTicks, bytes}.
 *
 *   node --import tsx scrape_loop.ts URL INTERVAL_MS
 */
import { request } from 'node:http';

export interface ScrapeLoopResult {
  type: 'result';
  latenciesMs: number[];
  failures: number;
  skippedTicks: number;
  /** Body size of the last successful scrape. */
  bytes: number;
}

const [url, intervalArg] = process.argv.slice(2) as [string, string];
const latenciesMs: number[] = [];
let failures = 0;
let skippedTicks = 0;
let bytes = 0;
let inFlight: Promise<void> | null = null;

function scrape(): Promise<void> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      let size = 0;
      res.on('data', (c: Buffer) => (size += c.length));
      res.once('end', () => {
        if (res.statusCode === 200) {
          latenciesMs.push(performance.now() - t0);
          bytes = size;
        } else failures++;
        resolve();
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.once('error', () => {
      failures++;
      resolve();
    });
    req.end();
  });
}

const timer = setInterval(() => {
  if (inFlight !== null) {
    skippedTicks++;
    return;
  }
  inFlight = scrape().finally(() => (inFlight = null));
}, Number(intervalArg));

process.on('message', (m: { type?: string }) => {
  if (m.type !== 'stop') return;
  clearInterval(timer);
  void (inFlight ?? Promise.resolve()).then(() => {
    process.send!({ type: 'result', latenciesMs, failures, skippedTicks, bytes } satisfies ScrapeLoopResult, () => process.exit(0));
  });
});
process.send!({ type: 'started' });
