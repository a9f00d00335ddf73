/**
 * The daemon's push when the receiver misbehaves, end to end (the binary, a scripted receiver on
 * 127.0.0.1): down at start, down for a while then back (no loss within the queue bound; beyond
 * it the oldest dropped and counted, the queue and memory flat), a 400 logged once, a wrong CA,
 * SIGTERM with a batch pending (sent, or counted as dropped; exit 0 within 10 s), and push with
 * no metrics listener (health still served).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/parse-exposition.js';
import { decodeWriteRequest } from '../push/decode.js';
import { ok, sleep, startReceiver, until, type Receiver } from '../push/receiver.js';
import { freePort } from '../helpers/servers.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v025-app_realistic');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-push-faults-'));
const dir = join(tmp, 'metrics');
{
  mkdirSync(dir);
  for (const f of readdirSync(FIXTURE).filter((n) => n.endsWith('.db'))) copyFileSync(join(FIXTURE, f), join(dir, f));
}
/** Merged samples of the fixture: each collection's batch holds them and the self metrics. */
const FIXTURE_SAMPLES = parseExposition(readFileSync(join(FIXTURE, 'expected.txt'), 'utf8')).samples.length;
const daemons: Daemon[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  for (const r of receivers.splice(0)) await r.close();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function daemon(args: string[], noListenFlag = false): Promise<Daemon> {
  const d = await startDaemon(['--dir', dir, '--liveness', 'off', ...args], { noListenFlag });
  daemons.push(d);
  return d;
}

async function receiver(answer = ok, port = 0): Promise<Receiver> {
  const r = await startReceiver(answer, port);
  receivers.push(r);
  return r;
}

/** The collection time of each received remote write request (one per collection here). */
const timestamps = (r: Receiver): number[] => r.requests.map((q) => decodeWriteRequest(q.body).timeseries[0]!.samples[0]!.timestamp);

/** A self metric of the daemon, summed over the series that match `labels`. */
async function selfMetric(d: Daemon, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  return parseExposition(text)
    .samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels.some(([n, x]) => n === k && x === v)))
    .reduce((a, s) => a + s.value, 0);
}

const rss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('push faults, end to end', () => {
  it('starts with the receiver down, and delivers every collection in order once it is up', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/v1/write`;
    const d = await daemon(['--push.remote-write.url', url, '--push.interval', '200ms', '--push.retry.min-backoff', '100ms', '--push.retry.max-backoff', '300ms']);
    await until(() => d.logs.some((l) => String(l['msg']).startsWith('push failed: connect ECONNREFUSED')), 10_000, 'the refused push logged');
    await sleep(1_000);
    const upAt = Date.now();
    const r = await receiver(ok, port);
    await until(() => timestamps(r).some((t) => t > upAt + 400), 10_000, 'pushes after the receiver came up');
    const ts = timestamps(r);
    expect(ts[0]!).toBeLessThan(upAt - 800); // the backlog came first
    for (let i = 1; i < ts.length; i++) {
      expect(ts[i]!).toBeGreaterThan(ts[i - 1]!); // in order
      expect(ts[i]! - ts[i - 1]!).toBeLessThan(1_500); // no collection missing (200ms apart, more under load)
    }
    expect(await selfMetric(d, 'multiproc_exporter_push_dropped_batches_total')).toBe(0);
    expect(await selfMetric(d, 'multiproc_exporter_push_failed_requests_total', { reason: 'network' })).toBeGreaterThanOrEqual(1);
    expect(d.logs.some((l) => l['msg'] === 'push: sending again after failures')).toBe(true);
  });

  it('beyond the queue bound drops the oldest and counts them; queue and memory stay flat; the newest arrive', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/v1/write`;
    const d = await daemon(['--push.remote-write.url', url, '--push.interval', '100ms', '--push.queue.max-batches', '3', '--push.retry.min-backoff', '100ms', '--push.retry.max-backoff', '200ms']);
    const pid = d.child.pid!;
    await sleep(1_000);
    const rssEarly = rss(pid);
    let maxQueue = 0;
    let maxRss = 0;
    for (let i = 0; i < 10; i++) {
      maxQueue = Math.max(maxQueue, await selfMetric(d, 'multiproc_exporter_push_queue_batches'));
      maxRss = Math.max(maxRss, rss(pid));
      await sleep(300);
    }
    const dropped = await selfMetric(d, 'multiproc_exporter_push_dropped_batches_total', { reason: 'queue_full' });
    expect(maxQueue).toBe(3);
    expect(dropped).toBeGreaterThanOrEqual(10); // ~40 collections in 4 s, 3 kept
    expect(await selfMetric(d, 'multiproc_exporter_push_dropped_samples_total', { reason: 'queue_full' })).toBeGreaterThan(dropped * FIXTURE_SAMPLES);
    expect(maxRss - rssEarly).toBeLessThan(40 * 1024 * 1024);
    const upAt = Date.now();
    const r = await receiver(ok, port);
    await until(() => r.requests.length >= 5, 10_000, 'pushes after the receiver came up');
    const ts = timestamps(r);
    expect(ts[0]!).toBeGreaterThan(upAt - 2_000); // the oldest were dropped: what arrives first is recent
    expect(ts[0]!).toBeLessThan(upAt);
  });

  it('logs a 400 once with the server message, however many pushes it refuses, and does not retry', async () => {
    const r = await receiver((_q, res) => {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('err: out of bounds');
    });
    const d = await daemon(['--push.remote-write.url', r.url, '--push.interval', '200ms']);
    await until(() => r.requests.length >= 6, 10_000, 'six refused pushes');
    const refused = d.logs.filter((l) => l['level'] === 'error');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ target: r.url, answer: 'HTTP 400: err: out of bounds', msg: 'push: the receiver refused the batch: dropped, not retried (logged once per distinct answer)' });
    const ts = timestamps(r);
    expect(new Set(ts).size).toBe(ts.length); // each collection sent once: no retry
  });

  it('says clearly that a wrong CA does not trust the receiver', async () => {
    const certs = makeCerts(join(tmp, 'certs'));
    const r = await startReceiver(ok, 0, { cert: readFileSync(certs.path('server.crt')), key: readFileSync(certs.path('server.key')) });
    receivers.push(r);
    const d = await daemon(['--push.remote-write.url', r.url, '--push.remote-write.tls.ca-file', certs.path('rogue.crt'), '--push.interval', '200ms']);
    await until(() => d.logs.some((l) => l['reason'] === 'tls'), 10_000, 'the TLS failure logged');
    const line = d.logs.find((l) => l['reason'] === 'tls')!;
    expect(line['level']).toBe('warn');
    expect(String(line['msg'])).toContain("TLS: the server's certificate is not trusted");
    expect(String(line['msg'])).toContain('give the CA that signed it with --push.remote-write.tls.ca-file');
    expect(r.requests).toHaveLength(0);
    const good = await daemon(['--push.remote-write.url', r.url, '--push.remote-write.tls.ca-file', certs.path('ca.crt'), '--push.interval', '200ms']);
    await until(() => r.requests.length >= 1, 10_000, 'a push over TLS with the right CA');
    expect(good.logs.some((l) => l['reason'] === 'tls')).toBe(false);
  });

  it('on SIGTERM with a batch the receiver never answers: counts it dropped and exits 0 within 10 s', async () => {
    const r = await receiver(() => {}); // accepts, never answers
    const d = await daemon(['--push.remote-write.url', r.url, '--push.interval', '10s', '--push.timeout', '60s']);
    await until(() => r.requests.length >= 1, 10_000, 'the first push');
    const t0 = Date.now();
    const code = await d.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const line = d.logs.find((l) => l['msg'] === 'push: shutdown budget spent with batches still queued: dropped');
    expect(line).toMatchObject({ target: r.url, batches: 2 }); // the one in flight and the final collection
    expect(Number(line!['samples'])).toBeGreaterThan(2 * FIXTURE_SAMPLES);
  });

  it('on SIGTERM sends the last collection when the receiver answers, then exits 0', async () => {
    const r = await receiver((q, res) => setTimeout(() => ok(q, res), 300));
    const d = await daemon(['--push.remote-write.url', r.url, '--push.interval', '10s']);
    await until(() => r.requests.length >= 1, 10_000, 'the first push');
    await sleep(400);
    const t0 = Date.now();
    const code = await d.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.requests).toHaveLength(2);
    expect(r.requests[1]!.at).toBeGreaterThanOrEqual(t0);
    expect(timestamps(r)[1]!).toBeGreaterThanOrEqual(t0 - 50);
    expect(d.logs.some((l) => String(l['msg']).includes('dropped'))).toBe(false);
  });

  it('pushes with no metrics listener, health still served on --web.health-address', async () => {
    const r = await receiver();
    const d = await daemon(['--web.listen-address', 'off', '--web.health-address', '127.0.0.1:0', '--push.remote-write.url', r.url, '--push.interval', '200ms'], true);
    const start = d.logs.find((l) => l['msg'] === 'multiproc-exporter started')!;
    expect(start['listen']).toBeNull();
    await until(() => r.requests.length >= 2, 10_000, 'two pushes');
    const series = decodeWriteRequest(r.requests[1]!.body).timeseries;
    expect(series.some((s) => s.labels.some((l) => l.name === '__name__' && l.value === 'http_requests_total'))).toBe(true);
    expect((await fetch(`${d.healthUrl}/readiness`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
    expect((await fetch(`${d.healthUrl}/liveness`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
    expect((await fetch(`${d.healthUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).status).toBe(404);
    expect(await d.stop()).toBe(0);
  });
});
