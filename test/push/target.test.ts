/**
 * One push target against scripted receivers on 127.0.0.1: what is retried (network errors,
 * timeouts, 429 after its Retry-After, 5xx) and what is not (400, logged once with the server's
 * message); the bounded queue (no loss within it, oldest dropped and counted beyond it, sent in
 * order when the receiver is back); TLS trust errors; auth and headers; the shutdown drain.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PushBatch } from '../../src/push/batch.js';
import { PushClient, parseRetryAfter, type ClientSettings } from '../../src/push/client.js';
import { targetName } from '../../src/push/pusher.js';
import { REMOTE_WRITE_HEADERS } from '../../src/push/remote-write.js';
import { PushTarget, type TargetOptions } from '../../src/push/target.js';
import { SelfMetrics } from '../../src/server/self-metrics.js';
import { makeCerts } from '../helpers/certs.js';
import { ok, sleep, startReceiver, until, type Receiver } from './receiver.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-push-target-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const receivers: Receiver[] = [];
const targets: PushTarget[] = [];
afterEach(async () => {
  for (const t of targets.splice(0)) await t.drain(Date.now());
  for (const r of receivers.splice(0)) await r.close();
});

const NO_TLS = { caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined, insecureSkipVerify: false };

interface Harness {
  readonly target: PushTarget;
  readonly logs: Record<string, unknown>[];
  /** A self metric's value for this target (0 when absent). */
  metric(name: string, extra?: Record<string, string>): Promise<number>;
}

function harness(url: string, options: Partial<TargetOptions> = {}, client: Partial<ClientSettings> = {}): Harness {
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const self = new SelfMetrics({ version: 'test', native: 'none' });
  const name = targetName(url);
  const settings: ClientSettings = { bearerTokenFile: undefined, basicAuthUsername: undefined, basicAuthPasswordFile: undefined, headers: [], tls: NO_TLS, timeoutMs: 2_000, ...client };
  const target = new PushTarget({
    name,
    protocol: { name: 'remote-write', headers: REMOTE_WRITE_HEADERS },
    client: new PushClient(url, settings, '--push.remote-write'),
    maxQueueBatches: 10,
    minBackoffMs: 40,
    maxBackoffMs: 200,
    userAgent: 'multiproc-exporter/test',
    logger,
    metrics: self.pushTarget(name, 'remote-write'),
    ...options,
  });
  targets.push(target);
  return {
    target,
    logs,
    metric: async (metric, extra = {}) => {
      const m = self.registry.getSingleMetric(`multiproc_exporter_${metric}`);
      const values = (await m!.get()).values;
      const want = { target: name, protocol: 'remote-write', ...extra };
      const v = values.find((x) => Object.entries(want).every(([k, val]) => x.labels[k] === val) && (metric.endsWith('_bucket') || x.labels['le'] === undefined));
      return v?.value ?? 0;
    },
  };
}

const batch = (i: number, samples = 10): PushBatch => ({ body: Buffer.from(`batch-${i}`), samples, collectedAtMs: i });
const bodies = (r: Receiver): string[] => r.requests.map((q) => q.body.toString());

async function receiver(answer = ok, port = 0): Promise<Receiver> {
  const r = await startReceiver(answer, port);
  receivers.push(r);
  return r;
}

describe('a push target', () => {
  it('sends with the remote write headers, auth from a file re-read per request, and extra headers', async () => {
    const r = await receiver();
    const token = join(tmp, 'token');
    writeFileSync(token, 'first-token\n');
    const h = harness(r.url, {}, { bearerTokenFile: token, headers: [['X-Scope-OrgID', 'team-a']] });
    h.target.enqueue([batch(1)]);
    await until(() => r.requests.length === 1, 5_000, 'first request');
    writeFileSync(token, 'rotated-token');
    h.target.enqueue([batch(2)]);
    await until(() => r.requests.length === 2, 5_000, 'second request');
    const [a, b] = r.requests;
    expect(a!.method).toBe('POST');
    expect(a!.url).toBe('/api/v1/write');
    expect(a!.headers).toMatchObject({
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
      'user-agent': 'multiproc-exporter/test',
      authorization: 'Bearer first-token',
      'x-scope-orgid': 'team-a',
      'content-length': String('batch-1'.length),
    });
    expect(b!.headers['authorization']).toBe('Bearer rotated-token');
    expect(bodies(r)).toEqual(['batch-1', 'batch-2']);
    await until(() => h.target.queueLength === 0, 5_000, 'the answer to the second request'); // recorded before it is answered
    expect(await h.metric('push_samples_sent_total')).toBe(20);
    expect(await h.metric('push_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 10);
  });

  it('sends basic auth with the password from its file', async () => {
    const r = await receiver();
    const password = join(tmp, 'password');
    writeFileSync(password, 's3cret\n');
    const h = harness(r.url, {}, { basicAuthUsername: 'pusher', basicAuthPasswordFile: password });
    h.target.enqueue([batch(1)]);
    await until(() => r.requests.length === 1, 5_000, 'request');
    expect(r.requests[0]!.headers['authorization']).toBe(`Basic ${Buffer.from('pusher:s3cret').toString('base64')}`);
  });

  it('waits for the Retry-After of a 429, then sends', async () => {
    let n = 0;
    const r = await receiver((_q, res) => {
      if (n++ === 0) {
        res.writeHead(429, { 'Retry-After': '1' });
        res.end('slow down');
      } else ok(_q, res);
    });
    const h = harness(r.url, { minBackoffMs: 10, maxBackoffMs: 20 });
    h.target.enqueue([batch(1)]);
    await until(() => r.requests.length === 2, 5_000, 'the retry');
    const waited = r.requests[1]!.at - r.requests[0]!.at;
    expect(waited).toBeGreaterThanOrEqual(990); // not the 10–20 ms backoff
    expect(waited).toBeLessThan(2_500);
    expect(bodies(r)).toEqual(['batch-1', 'batch-1']);
    await until(() => h.target.queueLength === 0, 2_000, 'empty queue');
    expect(await h.metric('push_failed_requests_total', { reason: 'status_429' })).toBe(1);
    expect(await h.metric('push_samples_sent_total')).toBe(10);
    const warn = h.logs.find((l) => l['level'] === 40 && String(l['msg']).includes('HTTP 429: slow down'));
    expect(warn).toMatchObject({ reason: 'status_429', retryAfterMs: 1000, retryInMs: 1000 });
  });

  it('retries a 5xx with backoff until it is taken', async () => {
    let n = 0;
    const r = await receiver((q, res) => {
      if (n++ < 2) {
        res.writeHead(503);
        res.end('unavailable');
      } else ok(q, res);
    });
    const h = harness(r.url);
    h.target.enqueue([batch(1), batch(2)]);
    await until(() => r.requests.length === 4 && h.target.queueLength === 0, 5_000, 'two retries and the second batch');
    expect(bodies(r)).toEqual(['batch-1', 'batch-1', 'batch-1', 'batch-2']);
    expect(await h.metric('push_failed_requests_total', { reason: 'status_5xx' })).toBe(2);
    expect(await h.metric('push_samples_sent_total')).toBe(20);
    expect(h.logs.some((l) => l['msg'] === 'push: sending again after failures')).toBe(true);
  });

  it('drops a 400 without retrying, logging the server message once', async () => {
    const r = await receiver((_q, res) => {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('out of order sample');
    });
    const h = harness(r.url);
    h.target.enqueue([batch(1)]);
    h.target.enqueue([batch(2)]);
    h.target.enqueue([batch(3)]);
    await until(() => h.target.queueLength === 0, 5_000, 'queue empty');
    await sleep(300); // more than the backoff: a retry would have come
    expect(bodies(r)).toEqual(['batch-1', 'batch-2', 'batch-3']);
    expect(await h.metric('push_dropped_batches_total', { reason: 'rejected' })).toBe(3);
    expect(await h.metric('push_dropped_samples_total', { reason: 'rejected' })).toBe(30);
    expect(await h.metric('push_failed_requests_total', { reason: 'status_4xx' })).toBe(3);
    const errors = h.logs.filter((l) => l['level'] === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ answer: 'HTTP 400: out of order sample', target: r.url });
  });

  it('times out a slow receiver and retries', async () => {
    let n = 0;
    const r = await receiver((q, res) => {
      if (n++ === 0) setTimeout(() => ok(q, res), 1_500);
      else ok(q, res);
    });
    const h = harness(r.url, {}, { timeoutMs: 200 });
    const t0 = Date.now();
    h.target.enqueue([batch(1)]);
    await until(() => r.requests.length === 2, 5_000, 'the retry after the timeout');
    expect(r.requests[1]!.at - t0).toBeLessThan(1_200); // did not wait for the slow answer
    await until(() => h.target.queueLength === 0, 2_000, 'sent');
    expect(await h.metric('push_failed_requests_total', { reason: 'timeout' })).toBe(1);
    expect(h.logs.some((l) => String(l['msg']).includes('no complete answer within 200 ms (--push.timeout)'))).toBe(true);
  });

  it('keeps every batch within the queue bound while the receiver is down, and sends them in order when it is back', async () => {
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close(); // nothing listens there now: connection refused
    const h = harness(`http://127.0.0.1:${port}/api/v1/write`, { maxQueueBatches: 10 });
    for (let i = 1; i <= 8; i++) h.target.enqueue([batch(i)]);
    await until(() => h.logs.some((l) => String(l['msg']).includes('ECONNREFUSED')), 3_000, 'a refused connection');
    expect(h.target.queueLength).toBe(8);
    expect(await h.metric('push_queue_batches')).toBe(8);
    const r = await receiver(ok, port);
    await until(() => h.target.queueLength === 0, 5_000, 'the queue sent');
    expect(bodies(r)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => `batch-${i}`));
    expect(await h.metric('push_dropped_batches_total', { reason: 'queue_full' })).toBe(0);
    expect(await h.metric('push_failed_requests_total', { reason: 'network' })).toBeGreaterThanOrEqual(1);
    expect(await h.metric('push_samples_sent_total')).toBe(80);
  });

  it('drops the oldest batches beyond the bound and counts them; the queue never grows past it', async () => {
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const h = harness(`http://127.0.0.1:${port}/api/v1/write`, { maxQueueBatches: 5 });
    const big = Buffer.alloc(256 * 1024, 7);
    let maxSeen = 0;
    for (let i = 1; i <= 400; i++) {
      h.target.enqueue([i <= 395 ? { body: big, samples: 3, collectedAtMs: i } : batch(i, 3)]);
      maxSeen = Math.max(maxSeen, h.target.queueLength);
    }
    expect(maxSeen).toBe(5);
    expect(await h.metric('push_dropped_batches_total', { reason: 'queue_full' })).toBe(395);
    expect(await h.metric('push_dropped_samples_total', { reason: 'queue_full' })).toBe(395 * 3);
    const r = await receiver(ok, port);
    await until(() => h.target.queueLength === 0, 5_000, 'the queue sent');
    // The newest five; or, when a batch was in flight as the bound was hit (it counts in the bound
    // and is never dropped mid-request), that one and the newest four.
    expect(r.requests).toHaveLength(5);
    expect(bodies(r).slice(1)).toEqual([397, 398, 399, 400].map((i) => `batch-${i}`));
    expect(r.requests[0]!.body.equals(big) || r.requests[0]!.body.toString() === 'batch-396').toBe(true);
  });

  it('names a TLS trust failure and the flag that fixes it; the right CA works, with a client certificate', async () => {
    const certs = makeCerts(join(tmp, 'certs'));
    const tls = { cert: readFileSync(certs.path('server.crt')), key: readFileSync(certs.path('server.key')), ca: certs.ca, requestCert: true, rejectUnauthorized: true };
    const r = await startReceiver(ok, 0, tls);
    receivers.push(r);
    const wrong = harness(r.url, {}, { tls: { ...NO_TLS, caFile: certs.path('rogue.crt'), certFile: certs.path('client.crt'), keyFile: certs.path('client.key') } });
    wrong.target.enqueue([batch(1)]);
    await until(() => wrong.logs.some((l) => l['reason'] === 'tls'), 5_000, 'the TLS failure');
    const line = wrong.logs.find((l) => l['reason'] === 'tls')!;
    expect(String(line['msg'])).toMatch(/^push failed: TLS: the server's certificate is not trusted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE): .*\); give the CA that signed it with --push\.remote-write\.tls\.ca-file; retrying/);
    expect(r.requests).toHaveLength(0);
    expect(await wrong.metric('push_failed_requests_total', { reason: 'tls' })).toBeGreaterThanOrEqual(1);

    const right = harness(r.url, {}, { tls: { ...NO_TLS, caFile: certs.path('ca.crt'), certFile: certs.path('client.crt'), keyFile: certs.path('client.key') } });
    right.target.enqueue([batch(2)]);
    await until(() => r.requests.length === 1, 5_000, 'the TLS request');
    expect(bodies(r)).toEqual(['batch-2']);
  });

  it('on shutdown sends what it can within the budget and counts the rest as dropped', async () => {
    const r = await receiver(() => {}); // never answers
    const h = harness(r.url, {}, { timeoutMs: 60_000 });
    h.target.enqueue([batch(1), batch(2), batch(3)]);
    await until(() => r.requests.length === 1, 5_000, 'the first request');
    const t0 = Date.now();
    await h.target.drain(Date.now() + 300);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(h.target.queueLength).toBe(0);
    expect(await h.metric('push_dropped_batches_total', { reason: 'shutdown' })).toBe(3);
    expect(await h.metric('push_dropped_samples_total', { reason: 'shutdown' })).toBe(30);
    expect(h.logs.some((l) => l['msg'] === 'push: shutdown budget spent with batches still queued: dropped' && l['batches'] === 3)).toBe(true);
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:05 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});

