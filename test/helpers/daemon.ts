/**
 * Spawn the real daemon binary (built dist/) on 127.0.0.1 with port 0, and learn its bound
 * address from its start-up log line. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'multiproc-exporter');

export interface Daemon {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:PORT` of the metrics listener. */
  readonly url: string;
  /** Health listener URL (same as url unless --web.health-address was given). */
  readonly healthUrl: string;
  /** Log lines so far (JSON objects when --log.format is json). */
  readonly logs: Record<string, unknown>[];
  readonly stderr: () => string;
  /** SIGTERM and wait for exit (bounded); resolves the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  readonly env?: Record<string, string | undefined>;
  /** Use the environment only (no --web.listen-address added). */
  readonly noListenFlag?: boolean;
  readonly timeoutMs?: number;
  /** Run the daemon as this user and group (the test runs as root: to drop privileges). */
  readonly uid?: number;
  readonly gid?: number;
  /** The bin script to run (default: this checkout's bin/multiproc-exporter). */
  readonly bin?: string;
}

/** Starts `multiproc-exporter serve ARGS --web.listen-address 127.0.0.1:0` and waits for its start line. */
export function startDaemon(args: readonly string[], options: SpawnOptions = {}): Promise<Daemon> {
  const listen = options.noListenFlag === true ? [] : ['--web.listen-address', '127.0.0.1:0'];
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(process.execPath, [options.bin ?? BIN, 'serve', ...listen, ...args], {
    env: env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  let stderr = '';
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`daemon did not start within ${options.timeoutMs ?? 10_000} ms; stderr:\n${stderr}`));
    }, options.timeoutMs ?? 10_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const start = stderr.length;
      stderr += chunk;
      const fresh = stderr.slice(stderr.lastIndexOf('\n', start - 1) + 1);
      for (const line of fresh.split('\n')) {
        if (!line.startsWith('{') || !line.endsWith('}')) continue;
        let record: Record<string, unknown>;
        try {
          record = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logs.push(record);
        if (record['msg'] === 'multiproc-exporter started') {
          clearTimeout(timer);
          const url = `http://${String(record['listen'])}`.replace('http://:', 'http://127.0.0.1:');
          const healthUrl = `http://${String(record['health'])}`.replace('http://:', 'http://127.0.0.1:');
          resolve({
            child,
            url,
            healthUrl,
            logs,
            stderr: () => stderr,
            exited,
            stop: async (signal = 'SIGTERM') => {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              const killer = setTimeout(() => child.kill('SIGKILL'), 12_000);
              const code = await exited;
              clearTimeout(killer);
              return code;
            },
          });
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before starting; stderr:\n${stderr}`));
    });
  });
}

/** Run the binary to completion (for configuration errors), bounded. */
export function runToExit(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stderr: string }> {
  const full: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const child = spawn(process.execPath, [BIN, ...args], { env: full as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
