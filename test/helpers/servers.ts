/**
 * Real receivers for the push tests, started on 127.0.0.1 with an ephemeral port and a temp
 * data dir: Debian's Prometheus (remote-write receiver on) and VictoriaMetrics. Under CI=true a
 * missing one fails (peerAvailableUnderCi); locally its tests skip with a reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { IN_CI, type Peer } from './peers.js';

function probe(name: string, debianPackage: string, command: string, args: string[]): Peer {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  const available = r.status === 0;
  if (!available && !IN_CI) console.warn(`${name} tests skipped: \`${command} ${args.join(' ')}\` failed; install Debian's ${debianPackage}`);
  return { name, debianPackage, available, command };
}

export const prometheusPeer = (): Peer => probe('prometheus server', 'prometheus', '/usr/bin/prometheus', ['--version']);
export const victoriaMetricsPeer = (): Peer => probe('victoria-metrics', 'victoria-metrics', '/usr/bin/victoria-metrics', ['-version']);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Server {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Where to push remote write. */
  readonly writeUrl: string;
  readonly log: () => string;
  stop(): Promise<void>;
}

function run(command: string, args: string[], cwd: string, url: string, writeUrl: string, ready: string): Promise<Server> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let log = '';
  const onData = (c: Buffer): void => void (log = (log + c.toString()).slice(-64_000));
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server: Server = {
    url,
    writeUrl,
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
  return (async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode} at start:\n${log}`);
      try {
        const res = await fetch(`${url}${ready}`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return server;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`${command} not ready within 30 s:\n${log}`);
      }
      await sleep(200);
    }
  })();
}

export async function startPrometheus(dir: string): Promise<Server> {
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, 'global:\n  evaluation_interval: 1m\n');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return run(
    '/usr/bin/prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--storage.tsdb.retention.time=1h',
      '--query.max-concurrency=2',
    ],
    dir,
    url,
    `${url}/api/v1/write`,
    '/-/ready',
  );
}

export async function startVictoriaMetrics(dir: string): Promise<Server> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  return run(
    '/usr/bin/victoria-metrics',
    [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${join(dir, 'vm-data')}`, '-search.latencyOffset=0s', '-search.disableCache', '-retentionPeriod=1d', '-loggerLevel=WARN'],
    dir,
    url,
    `${url}/api/v1/write`,
    '/health',
  );
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query against a Prometheus-compatible API. */
export async function query(api: string, promql: string): Promise<VectorSample[]> {
  const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: VectorSample[] } };
  if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`query ${promql} failed (${res.status}): ${body.error ?? JSON.stringify(body)}`);
  return body.data.result;
}
