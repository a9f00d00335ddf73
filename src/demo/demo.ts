/**
 * `demo`: a temporary metrics directory, a few worker processes writing to it with the writer
 * library, and the daemon serving their merged metrics. Ctrl-C stops everything and removes
 * the directory.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatListenAddress, resolveConfig } from '../config.js';
import { startDaemon } from '../daemon.js';
import { directoryFilesystem } from '../reader/filesystem.js';

export interface DemoOptions {
  readonly listen: string;
  readonly workers: number;
}

/** /dev/shm when it is tmpfs (where metrics directories belong: no page write-back), else the temp dir. */
function demoParent(): string {
  return directoryFilesystem('/dev/shm')?.inMemory === true ? '/dev/shm' : tmpdir();
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const dir = mkdtempSync(join(demoParent(), 'multiproc-exporter-demo-'));
  const workerScript = fileURLToPath(new URL('./worker.js', import.meta.url));
  const workers: ChildProcess[] = [];
  for (let i = 0; i < o.workers; i++) {
    workers.push(fork(workerScript, [], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, DEMO_WORKER_ID: String(i) }, stdio: 'inherit' }));
  }
  const daemon = await startDaemon(resolveConfig({ dir, 'web.listenAddress': o.listen, 'log.level': 'warn' }, {})).catch((e: unknown) => {
    for (const w of workers) w.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const url = `http://${formatListenAddress(daemon.addresses[0]!).replace(/^:/, '127.0.0.1:')}`;
  process.stdout.write(
    `multiproc-exporter demo: ${o.workers} worker processes write to ${dir}\n` +
      `  metrics:   ${url}/metrics\n  readiness: ${url}/readiness\n  Ctrl-C to stop.\n`,
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // The directory is removed once no worker can create a file in it any more (bounded wait).
    const exited = workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => w.once('exit', () => r()))));
    for (const w of workers) w.kill('SIGTERM');
    const bounded = Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 5_000))]);
    void Promise.all([bounded, daemon.stop('demo stopped')]).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
