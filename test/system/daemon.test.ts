/**
 * The daemon as an operator runs it: the real binary, real HTTP over 127.0.0.1, real peers
 * (promtool, Python's OpenMetrics parser) reading what it serves.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, renameSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { BIN, runToExit, startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-daemon-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

async function daemon(args: string[], options: Parameters<typeof startDaemon>[1] = {}): Promise<Daemon> {
  const d = await startDaemon(args, options);
  running.push(d);
  return d;
}

function fixtureDir(name: string, ...cases: string[]): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  for (const c of cases) cpSync(join(FIXTURES, c), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
  return dir;
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' = 'GET') {
  const r = await request(url, { method, headers });
  const body = Buffer.from(await r.body.arrayBuffer());
  return { status: r.statusCode, headers: r.headers, body };
}

/** Merged (non-self) samples of a text or OpenMetrics body, as sorted lines. */
function mergedLines(body: string): string[] {
  return sampleLines(parseExposition(body).samples.filter((s) => !s.name.startsWith('multiproc_exporter_')));
}

function expectedLines(fixture: string): string[] {
  return sampleLines(parseExposition(readFileSync(join(FIXTURES, fixture, 'expected.txt'), 'utf8')).samples);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const { promtool, python } = peers();

describe('serving a directory', async () => {
  const dir = fixtureDir('serve', 'v025-counter_basic');
  const d = await daemon(['--dir', dir]);

  it('serves text 0.0.4 by default with the merged samples and self metrics', async () => {
    const r = await get(`${d.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = r.body.toString();
    expect(mergedLines(text)).toEqual(expectedLines('v025-counter_basic'));
    expect(text).toContain('# TYPE multiproc_exporter_scrape_duration_seconds histogram\n');
    expect(text).toMatch(/^multiproc_exporter_build_info\{native="compiled",nodejs_version="v\d+\.\d+\.\d+",version="\d+\.\d+\.\d+"\} 1$/m);
    expect(text).toContain('multiproc_exporter_files{dialect="python",type="counter"} 3\n');
    expect(text).toContain('multiproc_exporter_files{dialect="unknown",type="counter"} 1\n'); // counter_999999.db: no entries yet
    expect(text).toContain('multiproc_exporter_entries 11\n');
    expect(text).toContain('multiproc_exporter_directory_readable 1\n');
  });

  it.skipIf(!promtool.available)('passes promtool check metrics', async () => {
    const r = await get(`${d.url}/metrics`);
    const check = spawnSync(promtool.command, ['check', 'metrics'], { input: r.body, encoding: 'utf8' });
    expect(check.stdout + check.stderr).not.toMatch(/error while linting|parsing error/);
    expect([0, 3]).toContain(check.status);
  });

  it('serves OpenMetrics 1.0.0 when Prometheus asks for it', async () => {
    const accept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    const r = await get(`${d.url}/metrics`, { accept });
    expect(r.headers['content-type']).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    const om = r.body.toString();
    expect(om.endsWith('# EOF\n')).toBe(true);
    expect(mergedLines(om)).toEqual(expectedLines('v025-counter_basic'));
  });

  it.skipIf(!python.available)("serves OpenMetrics that Python's strict parser accepts", async () => {
    const r = await get(`${d.url}/metrics`, { accept: 'application/openmetrics-text; version=1.0.0' });
    const check = spawnSync(
      python.command,
      ['-c', 'import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nprint(sum(len(f.samples) for f in p(sys.stdin.read())))'],
      { input: r.body, encoding: 'utf8' },
    );
    expect(check.stderr).toBe('');
    expect(Number(check.stdout)).toBe(parseExposition(r.body.toString()).samples.length);
  });

  it('gzips when Accept-Encoding allows, and the body round-trips', async () => {
    const r = await get(`${d.url}/metrics`, { 'accept-encoding': 'gzip, deflate' });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(r.headers['vary']).toBe('Accept, Accept-Encoding');
    expect(mergedLines(gunzipSync(r.body).toString())).toEqual(expectedLines('v025-counter_basic'));
    const plain = await get(`${d.url}/metrics`, { 'accept-encoding': 'gzip;q=0, identity' });
    expect(plain.headers['content-encoding']).toBeUndefined();
  });

  it('answers HEAD with the headers and no body', async () => {
    const r = await get(`${d.url}/metrics`, {}, 'HEAD');
    expect(r.status).toBe(200);
    expect(Number(r.headers['content-length'])).toBeGreaterThan(1000);
    expect(r.body.length).toBe(0);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    const missing = await get(`${d.url}/metricz`);
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toBe('404 not found: /metricz\n');
    const post = await get(`${d.url}/metrics`, {}, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
  });

  it('has health endpoints and a landing page on the same listener by default', async () => {
    expect((await get(`${d.url}/liveness`)).body.toString()).toBe('{"status":"ok"}\n');
    const ready = await get(`${d.url}/readiness`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body.toString())).toEqual({ status: 'ready', dir });
    const landing = await get(`${d.url}/`);
    expect(landing.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(landing.body.toString()).toContain('<a href="/metrics">/metrics</a>');
  });
});

describe('readiness follows the directory', () => {
  it('is 503 until the directory exists, 200 once it does, 503 when removed, 200 when recreated', async () => {
    const dir = join(tmp, 'later');
    const d = await daemon(['--dir', dir]);
    const notReady = await get(`${d.url}/readiness`);
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.body.toString())).toEqual({
      status: 'not ready',
      dir,
      reason: `metrics directory ${dir} cannot be read: ENOENT: no such file or directory, stat '${dir}'`,
    });
    expect((await get(`${d.url}/liveness`)).status).toBe(200);
    const selfOnly = (await get(`${d.url}/metrics`)).body.toString();
    expect(mergedLines(selfOnly)).toEqual([]);
    expect(selfOnly).toContain('multiproc_exporter_directory_readable 0\n');

    // Appears (created elsewhere and renamed in, as a deploy would): ready, samples served.
    const staging = fixtureDir('staging', 'counter_basic');
    renameSync(staging, dir);
    await until('ready', async () => ((await get(`${d.url}/readiness`)).status === 200 ? true : undefined));
    expect(mergedLines((await get(`${d.url}/metrics`)).body.toString())).toEqual(expectedLines('counter_basic'));

    rmSync(dir, { recursive: true });
    expect((await get(`${d.url}/readiness`)).status).toBe(503);
    renameSync(fixtureDir('staging2', 'rb-same_worker_id'), dir);
    await until('ready again', async () => ((await get(`${d.url}/readiness`)).status === 200 ? true : undefined));
    expect(mergedLines((await get(`${d.url}/metrics`)).body.toString())).toEqual(expectedLines('rb-same_worker_id'));

    const warnings = d.logs.filter((l) => l['msg'] === 'metrics directory not readable: not ready (retried on every scrape and readiness check)');
    expect(warnings.length).toBe(2); // once at start, once after the removal: not once per check
  });

  it('indexes a new file from the fs.watch hint before any scrape', async () => {
    const dir = fixtureDir('watched', 'counter_basic');
    const d = await daemon(['--dir', dir, '--log.level', 'debug']);
    await get(`${d.url}/readiness`);
    const entriesOf = async (): Promise<number> => {
      const m = /^multiproc_exporter_entries (\d+)$/m.exec((await get(`${d.url}/metrics`)).body.toString());
      return Number(m![1]);
    };
    const before = await entriesOf();
    writeFileSync(join(dir, 'gauge_all_4242.db'), buildDb([{ key: '["g", "g", {}, "h"]', value: 7 }], { slot: 8, size: 65536 }));
    // The hint alone must make the file indexed: wait without scraping, then check a scrape.
    await new Promise((r) => setTimeout(r, 300));
    expect(await entriesOf()).toBe(before + 1);
  });
});

describe('configuration', () => {
  it('runs from environment variables only (GME_* names)', async () => {
    const dir = fixtureDir('envonly', 'rb-basic');
    const d = await daemon([], {
      noListenFlag: true,
      env: { GME_MMAP_METRICS_DIR: dir, GME_SERVER_HOST: '127.0.0.1', GME_SERVER_PORT: '0', GME_LOG_LEVEL: 'debug', MULTIPROC_EXPORTER_LABELS: 'shard=catchall' },
    });
    const start = d.logs.find((l) => l['msg'] === 'multiproc-exporter started')!;
    expect(start['dir']).toBe(dir);
    expect(start['logLevel']).toBe('debug');
    expect(start['labels']).toEqual({ shard: 'catchall' });
    const lines = mergedLines((await get(`${d.url}/metrics`)).body.toString());
    expect(lines).toContain('rb_requests_total{code="200",method="GET",shard="catchall"} 7.5');
    expect(lines.every((l) => l.includes('shard="catchall"'))).toBe(true);
  });

  it('never lets a constant label override a label the series has', async () => {
    const dir = fixtureDir('constlabel', 'counter_basic');
    const d = await daemon(['--dir', dir, '--label', 'code=overridden', '--label', 'shard=s1']);
    const lines = mergedLines((await get(`${d.url}/metrics`)).body.toString());
    expect(lines).toContain('requests_total{code="200",method="GET",shard="s1"} 15.75');
    expect(lines).toContain('jobs_processed_total{code="overridden",shard="s1"} 111');
  });

  it('serves health on its own listener with --web.health-address', async () => {
    const dir = fixtureDir('split', 'counter_basic');
    const d = await daemon(['--dir', dir, '--web.health-address', '127.0.0.1:0']);
    expect(d.healthUrl).not.toBe(d.url);
    expect((await get(`${d.healthUrl}/readiness`)).status).toBe(200);
    expect((await get(`${d.healthUrl}/liveness`)).status).toBe(200);
    expect((await get(`${d.healthUrl}/metrics`)).status).toBe(404);
    expect((await get(`${d.url}/liveness`)).status).toBe(404);
    expect((await get(`${d.url}/metrics`)).status).toBe(200);
  });

  it('logs a skipped file once, not once per scrape', async () => {
    const dir = fixtureDir('badfile', 'counter_basic');
    writeFileSync(join(dir, 'counter_777.db'), Buffer.from([1, 2, 3]));
    writeFileSync(join(dir, 'counter_778.db'), Buffer.from([16, 0, 1, 0, 0, 0, 0, 0])); // used 65,552 in an 8-byte file
    const d = await daemon(['--dir', dir, '--log.level', 'debug']);
    for (let i = 0; i < 3; i++) await get(`${d.url}/metrics`);
    const body = (await get(`${d.url}/metrics`)).body.toString();
    expect(body).toContain('multiproc_exporter_files_skipped{reason="empty_file"} 1\n');
    expect(body).toContain('multiproc_exporter_skipped_files_total{reason="empty_file"} 1\n');
    expect(body).toContain('multiproc_exporter_skipped_files_total{reason="used_out_of_range"} 1\n');
    // A file caught before its header is written is how every new worker's file starts: debug, not warn.
    expect(d.logs.filter((l) => l['file'] === 'counter_777.db')).toEqual([
      expect.objectContaining({ level: 'debug', reason: 'empty_file', msg: `${dir}/counter_777.db: has 3 bytes, fewer than the 8-byte header (still being created?); skipped, other files served` }),
    ]);
    const lines = d.logs.filter((l) => l['file'] === 'counter_778.db');
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', reason: 'used_out_of_range' })]);
    expect(String(lines[0]!['msg'])).toMatch(/^.+\/counter_778\.db: .+; skipped, other files served$/);
  });

  it('writes logfmt to GME_LOG_FILE', async () => {
    const dir = fixtureDir('logfile', 'counter_basic');
    const logFile = join(tmp, 'exporter.log');
    const env = { GME_LOG_FILE: logFile };
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'multiproc-exporter'), '--dir', dir, '--web.listen-address', '127.0.0.1:0', '--log.format', 'logfmt'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    // Port 0 (a port picked beforehand could be taken meanwhile): the bound one is in the started line.
    const listen = await until('the started line', () => Promise.resolve(existsSync(logFile) ? / msg="multiproc-exporter started" .* listen=(127\.0\.0\.1:\d+) /.exec(readFileSync(logFile, 'utf8'))?.[1] : undefined));
    await until('liveness', async () => {
      try {
        return (await get(`http://${listen}/liveness`)).status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    });
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/^time=\S+ level=info msg="multiproc-exporter started" version=\S+ /m);
    expect(log).toMatch(/ level=info msg=stopped$/m);
  });

  it.each([
    [['--dir', '/x', '--web.listen-address', 'nope'], 'multiproc-exporter: --web.listen-address "nope": expected host:port, :port or [ipv6]:port\n'],
    [['--dir', '/x', '--tls.cert-file', '/nonexistent/c.pem', '--tls.key-file', '/nonexistent/k.pem'], 'multiproc-exporter: TLS certificate file: /nonexistent/c.pem: cannot read: file does not exist\n'],
    [['--dir', '/x', '--label', 'bad-name=1'], /^multiproc-exporter: --label "bad-name=1": expected name=value/],
    [['--dir', '/x', '--log.level', 'chatty'], 'multiproc-exporter: --log.level "chatty": must be debug, info, warn, error or quiet\n'],
    [['--web.listen-address', '127.0.0.1:0'], 'multiproc-exporter: no metrics directory: give --dir or set PROMETHEUS_MULTIPROC_DIR / prometheus_multiproc_dir / GME_MMAP_METRICS_DIR\n'],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    const r = await runToExit(['serve', ...args], { PROMETHEUS_MULTIPROC_DIR: undefined, prometheus_multiproc_dir: undefined, GME_MMAP_METRICS_DIR: undefined });
    expect(r.code).toBe(2);
    if (typeof message === 'string') expect(r.stderr).toBe(message);
    else expect(r.stderr).toMatch(message);
  });

  it('exits 2 when the port is in use', async () => {
    const blocker = await listenOn(0);
    const port = (blocker.address() as { port: number }).port;
    const r = await runToExit(['--dir', tmp, '--web.listen-address', `127.0.0.1:${port}`]);
    blocker.close();
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`multiproc-exporter: --web.listen-address 127.0.0.1:${port}: cannot listen: the port is in use (EADDRINUSE)\n`);
  });

  it('--help lists every option with its env var and default', () => {
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'bin', 'multiproc-exporter'), 'serve', '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    for (const fragment of [
      '--dir <path>',
      '[env: PROMETHEUS_MULTIPROC_DIR, prometheus_multiproc_dir, GME_MMAP_METRICS_DIR]',
      '--web.listen-address <host:port>',
      '[env: GME_SERVER_HOST + GME_SERVER_PORT] [default: :9798]',
      '--web.telemetry-path <path>',
      '--web.config.file <file>',
      '--tls.cert-file <file>',
      '[env: GME_CERT_FILE]',
      '[env: GME_CERT_KEY]',
      '--web.health-address <host:port>',
      '--label <name=value>',
      '[env: MULTIPROC_EXPORTER_LABELS]',
      '--log.level <level>',
      '[env: GME_LOG_LEVEL] [default: info]',
      '--log.format <format>',
      '[env: GME_LOG_FILE]',
      '--web.max-requests <n>',
      '0 = no limit [default: 40]',
      '--web.header-timeout <duration>',
      '(slowloris); e.g. 500ms, 10s, 1m [default: 10s]',
      '--web.request-timeout <duration>',
      'at least --web.header-timeout [default: 30s]',
    ]) {
      expect(help).toContain(fragment);
    }
  });
});

describe('shutdown', () => {
  it('finishes a scrape in flight on SIGTERM, refuses new connections, and exits 0', async () => {
    // A large response (~2 MB) that the client reads slowly, so SIGTERM lands mid-response.
    const dir = join(tmp, 'big');
    mkdirSync(dir);
    const entries = Array.from({ length: 20_000 }, (_, i) => ({ key: `["big", "big_total", {"series": "s${i}"}, "A big counter."]`, value: i }));
    writeFileSync(join(dir, 'counter_1.db'), buildDb(entries, { slot: 16 }));
    const d = await daemon(['--dir', dir]);
    const url = new URL(`${d.url}/metrics`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname }, (res) => {
        const chunks: Buffer[] = [];
        res.once('data', (first: Buffer) => {
          chunks.push(first);
          res.pause();
          d.child.kill('SIGTERM');
          setTimeout(() => {
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks).toString()));
            res.resume();
          }, 500);
        });
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toContain('big_total{series="s19999"} 19999\n');
    expect(parseExposition(body).samples.filter((s) => s.name === 'big_total').length).toBe(20_000);
    expect(await d.exited).toBe(0);
    expect(d.logs.map((l) => l['msg'])).toContain('shutting down: no new connections, finishing in-flight scrapes');
  });
});

describe('with an IPC channel (how startExporter runs it)', () => {
  function spawnWithIpc(args: string[]) {
    const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (stderr += c));
    const messages: unknown[] = [];
    child.on('message', (m) => messages.push(m));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    void exited.then(() => clearTimeout(killer));
    return { child, messages, exited, stderr: () => stderr };
  }

  it('reports its bound address once serving, and stops with exit 0 when the channel closes', async () => {
    const d = spawnWithIpc(['--dir', tmp, '--web.listen-address', '127.0.0.1:0']);
    const started = await until('the started message', () => Promise.resolve(d.messages[0]));
    const { port } = (started as { listen: { port: number } }).listen;
    expect(Number.isInteger(port) && port > 0).toBe(true);
    const listen = { host: '127.0.0.1', port };
    expect(started).toEqual({ type: 'multiproc-exporter:started', listen, health: listen, tls: false, telemetryPath: '/metrics' });
    expect((await get(`http://127.0.0.1:${port}/liveness`)).status).toBe(200);
    d.child.disconnect();
    expect(await d.exited).toBe(0);
    expect(d.stderr()).toContain('"reason":"supervisor gone (IPC channel closed)","msg":"shutting down: no new connections, finishing in-flight scrapes"');
  });

  it('reports a configuration error on the channel before exiting 2', async () => {
    const d = spawnWithIpc(['--dir', tmp, '--web.listen-address', 'nope']);
    expect(await d.exited).toBe(2);
    const message = '--web.listen-address "nope": expected host:port, :port or [ipv6]:port';
    expect(d.messages).toEqual([{ type: 'multiproc-exporter:start-failed', message }]);
    expect(d.stderr()).toBe(`multiproc-exporter: ${message}\n`);
  });
});

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

peerAvailableUnderCi(promtool);
peerAvailableUnderCi(python);
