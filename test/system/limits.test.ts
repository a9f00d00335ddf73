/**
 * Limits of the HTTP listener, against the real daemon over 127.0.0.1: a client
 * that trickles its headers (slowloris) or its request is cut off by --web.header-timeout /
 * --web.request-timeout; more than --web.max-requests scrapes in flight get 503 with
 * Retry-After; oversized headers get 431. The daemon keeps serving through all of it.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, selfValue } from '../helpers/scrape.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-limits-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

async function daemon(name: string, args: string[], files: Record<string, Uint8Array>): Promise<Daemon> {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const [f, bytes] of Object.entries(files)) writeFileSync(join(dir, f), bytes);
  const d = await startDaemon(['--dir', dir, ...args]);
  running.push(d);
  return d;
}

const small = { 'counter_1.db': buildDb([{ key: '["ok", "ok_total", {}, "h"]', value: 3 }], { slot: 16 }) };

interface RawExchange {
  /** What the server sent before it closed the connection. */
  readonly reply: string;
  /** Bytes of the request the client had sent when the server closed. */
  readonly sent: number;
  readonly closedByServer: boolean;
}

/**
 * Send `head` at once, then `trickle` one byte per `everyMs` (bounded: it ends when the server
 * closes or the bytes run out, then waits at most 3 s more).
 */
function rawExchange(url: string, head: string, trickle: string, everyMs: number): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let reply = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    let giveUp: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (reply += c));
    socket.on('error', () => {}); // a reset after the server's close is the expected end
    socket.once('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ reply, sent, closedByServer: sent < head.length + trickle.length || reply !== '' });
    });
    socket.once('connect', () => {
      socket.write(head);
      sent = head.length;
      let i = 0;
      timer = setInterval(() => {
        if (i >= trickle.length) {
          clearInterval(timer);
          giveUp = setTimeout(() => socket.destroy(), 3_000);
          return;
        }
        socket.write(trickle[i++]!);
        sent++;
      }, everyMs);
    });
    socket.setTimeout(20_000, () => {
      socket.destroy();
      reject(new Error('raw exchange did not end within 20 s'));
    });
  });
}

describe('timeouts (slowloris)', async () => {
  const d = await daemon('slow', ['--web.header-timeout', '400ms', '--web.request-timeout', '800ms'], small);

  it('cuts off a client that sends its headers byte by byte, with 408, long before it is done', async () => {
    // 60 header bytes at one per 100 ms would take 6 s; the server must not wait for them.
    const r = await rawExchange(d.url, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n', `X-Slow: ${'a'.repeat(50)}\r\n\r\n`, 100);
    expect(r.reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(r.closedByServer).toBe(true);
    expect(r.sent).toBeLessThan('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n'.length + 30);
    expect((await get(`${d.url}/metrics`)).status).toBe(200);
  });

  it('cuts off a client that connects and sends nothing', async () => {
    const r = await rawExchange(d.url, '', 'G'.repeat(60), 100);
    expect(r.closedByServer).toBe(true);
    expect(r.sent).toBeLessThan(30);
  });

  it('cuts off a client that trickles a request body (request timeout)', async () => {
    const head = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 60\r\n\r\n';
    const r = await rawExchange(d.url, head, 'b'.repeat(60), 100);
    expect(r.closedByServer).toBe(true);
    expect(r.sent).toBeLessThan(head.length + 30);
    expect((await get(`${d.url}/liveness`)).status).toBe(200);
  });

  it('serves a client that sends its request in time over the same kind of raw connection', async () => {
    const r = await rawExchange(d.url, 'GET /liveness HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', '', 10);
    expect(r.reply).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"status":"ok"\}\n$/);
  });
});

describe('--web.max-requests', () => {
  it('answers 503 with Retry-After beyond the limit, serves health meanwhile, and frees slots when scrapes end', async () => {
    // ~12 MB of exposition: more than the socket buffers hold, so a client that stops reading
    // keeps its scrape in flight.
    const value = 'v'.repeat(400);
    const entries = Array.from({ length: 30_000 }, (_, i) => ({ key: `["wide", "wide_total", {"i": "${i}", "pad": "${value}"}, "h"]`, value: i }));
    const d = await daemon('maxreq', ['--web.max-requests', '2'], { 'counter_1.db': buildDb(entries, { slot: 16 }) });
    const url = new URL(`${d.url}/metrics`);

    const stalled: { res: IncomingMessage; destroy: () => void }[] = [];
    for (let i = 0; i < 2; i++) {
      stalled.push(
        await new Promise((resolve, reject) => {
          const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, agent: false }, (res) => {
            res.pause(); // read nothing: the response cannot finish
            resolve({ res, destroy: () => req.destroy() });
          });
          req.on('error', () => {});
          req.setTimeout(20_000, () => reject(new Error('no response headers within 20 s')));
          req.end();
        }),
      );
    }
    expect(stalled.map((s) => s.res.statusCode)).toEqual([200, 200]);

    const refused = await get(url.href);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toBe('503 too many scrapes in flight (limit 2, --web.max-requests); retry later\n');
    expect((await get(`${d.url}/liveness`)).status).toBe(200); // health is not limited

    for (const s of stalled) s.destroy();
    // Freed when the stalled connections close (bounded retry: the close reaches the server asynchronously).
    let again = await get(url.href);
    let stillRefused = 0;
    for (let i = 0; i < 40 && again.status === 503; i++) {
      stillRefused++;
      await new Promise((r) => setTimeout(r, 50));
      again = await get(url.href);
    }
    expect(again.status).toBe(200);
    expect(selfValue(again.body, 'scrapes_rejected_total')).toBe(1 + stillRefused);
  }, 60_000);
});

describe('oversized headers', async () => {
  const d = await daemon('bigheader', [], small);

  it('answers 431 to 20 KiB of headers and keeps serving', async () => {
    const r = await rawExchange(d.url, `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20 * 1024)}\r\n\r\n`, '', 10);
    expect(r.reply).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const ok = await get(`${d.url}/metrics`);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('ok_total 3\n');
  });
});
