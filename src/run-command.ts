/**
 * `run [serve options] -- COMMAND ARGS…`: the daemon and the application in one command, for any
 * language (what sidecar scripts do by hand). Prepares the metrics directory (created, or emptied
 * of stale `.db` files), starts the daemon on it, starts COMMAND with PROMETHEUS_MULTIPROC_DIR and
 * prometheus_multiproc_dir set to it, forwards SIGTERM/SIGINT/SIGHUP to it, and when it exits
 * stops the daemon cleanly and exits with its status. The application needs no hook, and the
 * daemon sees its workers' processes (same pid namespace) by construction.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, OPTIONS, resolveConfig, type Flags } from './config.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { directoryFilesystem } from './reader/filesystem.js';

/** The environment variables the Python client (new and old spelling) and the Ruby gem read. */
export const DIRECTORY_ENV = ['PROMETHEUS_MULTIPROC_DIR', 'prometheus_multiproc_dir'] as const;

const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export interface PreparedDirectory {
  readonly dir: string;
  /** Created here (no --dir, no env): removed again at exit. */
  readonly owned: boolean;
  /** Stale `.db` files removed from a directory that already existed. */
  readonly removed: number;
}

/**
 * The directory to give the application: --dir or the env var if set (created if missing, its
 * stale `.db` files removed: they belong to processes of an earlier run), else a new private
 * one on tmpfs when /dev/shm is tmpfs. Only regular `*.db` files are removed.
 */
export function prepareDirectory(flagDir: string | undefined, env: Readonly<Record<string, string | undefined>>): PreparedDirectory {
  const given = flagDir ?? OPTIONS[0].env.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  if (given === undefined) {
    const parent = directoryFilesystem('/dev/shm')?.inMemory === true ? '/dev/shm' : tmpdir();
    return { dir: mkdtempSync(join(parent, 'multiproc-exporter-run-')), owned: true, removed: 0 };
  }
  try {
    mkdirSync(given, { recursive: true });
    let removed = 0;
    for (const name of readdirSync(given)) {
      if (!name.endsWith('.db')) continue;
      const path = join(given, name);
      if (!lstatSync(path).isFile()) continue;
      unlinkSync(path);
      removed++;
    }
    return { dir: given, owned: false, removed };
  } catch (e) {
    throw new ConfigError(`metrics directory ${given}: cannot prepare it for run (create, remove stale .db files): ${(e as Error).message}`);
  }
}

/** Exit status of a child the way shells report it: its code, or 128 + the signal's number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : (SIGNAL_NUMBERS[signal] ?? 0);
  return 128 + (n ?? 0);
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/** Runs the command under the daemon; resolves the status to exit with. */
export async function runCommand(flags: Flags, command: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const prepared = prepareDirectory(flags.dir, env);
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(resolveConfig({ ...flags, dir: prepared.dir }, env));
  } catch (e) {
    if (prepared.owned) rmSync(prepared.dir, { recursive: true, force: true });
    throw e;
  }
  const logger = daemon.logger;
  if (prepared.removed > 0) logger.info({ dir: prepared.dir, removed: prepared.removed }, 'run: stale .db files of an earlier run removed');
  const childEnv: NodeJS.ProcessEnv = { ...env };
  for (const name of DIRECTORY_ENV) childEnv[name] = prepared.dir;
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: childEnv });
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of FORWARDED) {
    const handler = (): void => {
      logger.info({ signal, pid: child.pid }, `run: ${signal} forwarded to the command`);
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      if (signal === 'SIGHUP') void daemon.reload('SIGHUP');
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  const status = await new Promise<number>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      logger.error({ command: command[0], code: err.code }, `run: cannot start the command: ${err.message}`);
      resolve(err.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      const s = exitStatus(code, signal);
      logger.info({ pid: child.pid, code, signal, status: s }, 'run: the command exited; stopping');
      resolve(s);
    });
  });
  for (const [signal, handler] of handlers) process.off(signal, handler);
  await daemon.stop('run: the command exited');
  if (prepared.owned) rmSync(prepared.dir, { recursive: true, force: true });
  return status;
}
