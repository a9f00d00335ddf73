/**
 * startExporter()'s options: what a caller may give, and their checked, defaulted form
 * (SupervisorSettings). A bad option is a TypeError that names it.
 */
import { resolve as resolvePath } from 'node:path';
import { ConfigError, parseListenAddress } from '../config.js';
import type { LogTarget } from './daemon-process.js';

export interface RestartOptions {
  /** Delay before the first restart after a crash; doubles on each consecutive one. Default 100. */
  readonly initialDelayMs?: number;
  /** Cap of the delay. Default 30 000. */
  readonly maxDelayMs?: number;
  /** A daemon that served this long before it died counts as stable: the delay starts over. Default 10 000. */
  readonly stableAfterMs?: number;
}

export interface StartExporterOptions {
  /** Metrics directory (`--dir`). Default: `PROMETHEUS_MULTIPROC_DIR` of `env`, else of this process. */
  readonly dir?: string;
  /**
   * `host:port` to serve on (`--web.listen-address`); port 0 picks a free port. Default: the
   * daemon's (`:9798`, or `GME_SERVER_HOST`/`GME_SERVER_PORT`). Restarts reuse the bound address,
   * so `url` stays valid.
   */
  readonly listen?: string;
  /** Further `serve` flags, as given, e.g. `['--label', 'app=web', '--log.level', 'warn']`. */
  readonly args?: readonly string[];
  /** The daemon's environment: this process's, with these set (`undefined` removes a variable). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where the daemon's and the supervisor's log lines go. Default `'inherit'` (this process's stdout/stderr). */
  readonly log?: LogTarget;
  /**
   * Remove the directory's `*.db` files (creating it if missing) before the daemon starts. Call
   * startExporter before forking workers: files of running workers would be deleted. Default false.
   */
  readonly wipeDirectory?: boolean;
  /** Stop the daemon on this process's SIGTERM/SIGINT (then re-raise it if nothing else handles it). Default false. */
  readonly stopOnSignals?: boolean;
  /** After SIGTERM, the daemon's group gets this long before SIGKILL. Default 10 000. */
  readonly killGraceMs?: number;
  /** The daemon must report serving within this time. Default 10 000. */
  readonly startTimeoutMs?: number;
  readonly restart?: RestartOptions;
}

const DEFAULTS = { killGraceMs: 10_000, startTimeoutMs: 10_000, initialDelayMs: 100, maxDelayMs: 30_000, stableAfterMs: 10_000 } as const;

/** The options, checked and with their defaults. */
export interface SupervisorSettings {
  readonly dir: string;
  readonly listen: string | undefined;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly log: LogTarget;
  readonly wipeDirectory: boolean;
  readonly stopOnSignals: boolean;
  readonly killGraceMs: number;
  readonly startTimeoutMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly stableAfterMs: number;
}

export function resolveOptions(o: StartExporterOptions): SupervisorSettings {
  const where = 'startExporter()';
  if (typeof o !== 'object' || o === null) throw new TypeError(`${where}: options must be an object`);
  const known = new Set(['dir', 'listen', 'args', 'env', 'log', 'wipeDirectory', 'stopOnSignals', 'killGraceMs', 'startTimeoutMs', 'restart']);
  for (const key of Object.keys(o)) if (!known.has(key)) throw new TypeError(`${where}: unknown option ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);

  const envOverrides = o.env ?? {};
  if (typeof envOverrides !== 'object' || envOverrides === null) throw new TypeError(`${where}: options.env must be an object of strings`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(envOverrides)) {
    if (value === undefined) delete env[name];
    else if (typeof value === 'string') env[name] = value;
    else throw new TypeError(`${where}: options.env.${name} must be a string or undefined, got ${typeof value}`);
  }

  const dirValue = o.dir ?? env['PROMETHEUS_MULTIPROC_DIR'];
  if (typeof dirValue !== 'string' || dirValue === '') {
    throw new TypeError(`${where}: no metrics directory: give options.dir or set PROMETHEUS_MULTIPROC_DIR`);
  }

  if (o.listen !== undefined) {
    if (typeof o.listen !== 'string') throw new TypeError(`${where}: options.listen must be a "host:port" string, got ${typeof o.listen}`);
    try {
      parseListenAddress(o.listen, 'options.listen');
    } catch (e) {
      if (e instanceof ConfigError) throw new TypeError(`${where}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  const args = o.args ?? [];
  if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string')) throw new TypeError(`${where}: options.args must be an array of strings`);
  for (const a of args) {
    const flag = a.split('=')[0];
    if (flag === '--dir') throw new TypeError(`${where}: options.args has --dir: give the directory as options.dir`);
    if (flag === '--web.listen-address') throw new TypeError(`${where}: options.args has --web.listen-address: give it as options.listen (restarts reuse the bound address)`);
  }

  const log = o.log ?? 'inherit';
  if (log !== 'inherit' && log !== 'ignore' && typeof log !== 'function') throw new TypeError(`${where}: options.log must be 'inherit', 'ignore' or a function (line, source) => void`);

  const flag = (name: 'wipeDirectory' | 'stopOnSignals'): boolean => {
    const v = o[name] ?? false;
    if (typeof v !== 'boolean') throw new TypeError(`${where}: options.${name} must be a boolean, got ${typeof v}`);
    return v;
  };

  const restart = o.restart ?? {};
  if (typeof restart !== 'object' || restart === null) throw new TypeError(`${where}: options.restart must be an object`);
  const ms = (name: string, value: unknown, def: number, min: number): number => {
    const v = value ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 2 ** 31 - 1) {
      throw new TypeError(`${where}: options.${name} must be an integer number of milliseconds ≥ ${min}, got ${typeof v === 'number' ? v : JSON.stringify(v)}`);
    }
    return v;
  };
  const initialDelayMs = ms('restart.initialDelayMs', restart.initialDelayMs, DEFAULTS.initialDelayMs, 1);
  const maxDelayMs = ms('restart.maxDelayMs', restart.maxDelayMs, Math.max(DEFAULTS.maxDelayMs, initialDelayMs), 1);
  if (maxDelayMs < initialDelayMs) throw new TypeError(`${where}: options.restart.maxDelayMs (${maxDelayMs}) is below restart.initialDelayMs (${initialDelayMs})`);

  return {
    dir: resolvePath(dirValue),
    listen: o.listen,
    args,
    env,
    log,
    wipeDirectory: flag('wipeDirectory'),
    stopOnSignals: flag('stopOnSignals'),
    killGraceMs: ms('killGraceMs', o.killGraceMs, DEFAULTS.killGraceMs, 0),
    startTimeoutMs: ms('startTimeoutMs', o.startTimeoutMs, DEFAULTS.startTimeoutMs, 1),
    initialDelayMs,
    maxDelayMs,
    stableAfterMs: ms('restart.stableAfterMs', restart.stableAfterMs, DEFAULTS.stableAfterMs, 0),
  };
}
