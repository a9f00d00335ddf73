/**
 * The programs scenarios run in other processes: the interpreters, the scripts in
 * benchmarks/drivers/, and running them to completion (tracked, bounded), a few at a time.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { track } from './resources.js';

export const PYTHON = '/usr/bin/python3';
export const RUBY = '/usr/bin/ruby';
export const DRIVERS = join(import.meta.dirname, '..', 'drivers');

/** Run a program to completion (tracked, bounded); rejects with its stderr on a non-zero exit. */
export function runProgram(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/** `count` tasks, at most `concurrency` at a time. */
export async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  });
  await Promise.all(lanes);
  return out;
}
