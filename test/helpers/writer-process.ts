/**
 * Real writer processes for the tests: test/helpers/writer-worker.mjs run with node, writing into
 * a directory in one of the writer's layouts under a given process id.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Dialect } from '../../src/format/dialect.js';

export const WRITER_WORKER = join(import.meta.dirname, 'writer-worker.mjs');

export type Layout = Dialect;

export function writerEnv(dir: string, layout: Layout, processId: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, WRITER_LAYOUT: layout };
  if (processId !== undefined) env['WRITER_PROCESS_ID'] = processId;
  else delete env['WRITER_PROCESS_ID'];
  return env;
}

/** Run one writer scenario to completion; throws with its stderr if it fails. */
export function runWriter(dir: string, layout: Layout, processId: string | undefined, scenario: string, args: (string | number)[] = []): void {
  const r = spawnSync(process.execPath, [WRITER_WORKER, scenario, ...args.map(String)], { env: writerEnv(dir, layout, processId), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`writer ${scenario} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/** Run a writer scenario in the background; resolves with its exit code. */
export function startWriter(dir: string, layout: Layout, processId: string | undefined, scenario: string, args: (string | number)[] = []): Promise<number | null> {
  const child = spawn(process.execPath, [WRITER_WORKER, scenario, ...args.map(String)], { env: writerEnv(dir, layout, processId), stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve) => child.once('exit', resolve));
}

export interface HeldWriter {
  /** Resolves once the writer has written and holds its files. */
  readonly ready: Promise<void>;
  /** Let the writer exit (closes its stdin). */
  release(): void;
  /** SIGKILL: the writer dies without any clean-up. */
  kill(): void;
  readonly pid: number;
  readonly exited: Promise<number | null>;
}

/** A writer that keeps its files (and their flocks) until released: scenarios that call holdUntilStdinCloses. */
export function holdWriter(dir: string, layout: Layout, processId: string | undefined, scenario: string, args: (string | number)[] = []): HeldWriter {
  return holdProcess(process.execPath, [WRITER_WORKER, scenario, ...args.map(String)], writerEnv(dir, layout, processId));
}

/** Any writer process that prints a line once it has written, then waits for its stdin to close. */
export function holdProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv): HeldWriter {
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal === null ? code : -1)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code, signal) => reject(new Error(`${command} ${args.join(' ')} exited ${code ?? signal} before it was ready`)));
  });
  ready.catch(() => {});
  return { ready, release: () => child.stdin.end(), kill: () => child.kill('SIGKILL'), pid: child.pid!, exited };
}
