/**
 * SIGTERM keeps its promise: a scrape in flight — here 11 MB read by a client at ~3 MB/s — is
 * delivered whole, new connections to the metrics listener are refused meanwhile, the health
 * listener says not ready (and alive), and the daemon then exits 0.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { until } from '../helpers/scrape.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-shutdown-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

/** Writes `series` counters with long labels through the writer, in a child process that then exits. */
async function writeLargeDirectory(dir: string, series: number): Promise<void> {
  const script = `
    import { Counter, configure } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'writer', 'index.js'))};
    configure({ dir: ${JSON.stringify(dir)}, processId: 'w1' });
    const c = new Counter({ name: 'big_total', help: 'Many series.', labelNames: ['id', 'pad'] });
    const pad = 'p'.repeat(1000);
    for (let i = 0; i < ${series}; i++) c.labels(String(i), pad).inc(i);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  expect(await new Promise((r) => child.once('exit', r))).toBe(0);
}

it('a slowly read 11 MB scrape in flight at SIGTERM is delivered whole; then exit 0', async () => {
  const dir = join(tmp, 'large');
  await import('node:fs').then((fs) => fs.mkdirSync(dir));
  await writeLargeDirectory(dir, 11_000);
  const d = await startDaemon(['--dir', dir, '--liveness', 'off', '--web.health-address', '127.0.0.1:0']);
  running.push(d);
  const { hostname, port } = new URL(d.url);
  const health = new URL(d.healthUrl);
  const probe = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: health.hostname, port: health.port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
  const readiness = (): Promise<{ status: number; body: string }> => probe('/readiness');
  expect((await readiness()).status).toBe(200);

  const socket = connect(Number(port), hostname);
  socket.write(`GET /metrics HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    received += c.length;
    socket.pause();
    setTimeout(() => socket.resume(), 20); // ~64 KiB per 20 ms: about 3 MB/s
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await until('the response started', () => (received > 0 ? true : undefined));

  d.child.kill('SIGTERM');
  await until('shutdown began', () => (d.logs.some((l) => l['msg'] === 'shutting down: no new connections, finishing in-flight scrapes') ? true : undefined));
  const during = await readiness();
  expect(during).toEqual({ status: 503, body: `${JSON.stringify({ status: 'not ready', dir, reason: 'shutting down' })}\n` });
  expect((await probe('/liveness')).status).toBe(200);
  const refused = await new Promise<string>((resolve) => {
    const s = connect(Number(port), hostname);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  expect(refused).toBe('ECONNREFUSED');

  await ended;
  const raw = Buffer.concat(chunks).toString('latin1');
  const headerEnd = raw.indexOf('\r\n\r\n');
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(raw.slice(0, headerEnd + 2))![1]);
  expect(length).toBeGreaterThan(11_000_000);
  expect(raw.length - headerEnd - 4).toBe(length); // every byte arrived
  expect(raw.slice(headerEnd + 4)).toContain(`big_total{id="10999",pad="${'p'.repeat(1000)}"} 10999\n`);
  expect(await d.exited).toBe(0);
  expect(d.logs.some((l) => l['msg'] === 'in-flight requests did not finish in time: their connections were closed')).toBe(false);
}, 60_000);
