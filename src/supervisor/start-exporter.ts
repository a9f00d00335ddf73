/**
 * `startExporter()`: run the daemon as a supervised child of a Node cluster primary. It is
 * spawned in its own process group, restarted with exponential backoff when it dies, stopped with
 * SIGTERM then SIGKILL to the group (as GitLab's supervisor does), and killed with the primary.
 *
 *   const exporter = await startExporter({ dir: '/run/metrics', listen: ':9798', wipeDirectory: true });
 *   for (let i = 0; i < 4; i++) cluster.fork({ PROMETHEUS_MULTIPROC_DIR: '/run/metrics' });
 *   process.once('SIGTERM', () => void exporter.stop());
 */
import { EventEmitter } from 'node:events';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseListenAddress } from '../config.js';
import { Backoff } from './backoff.js';
import { DaemonProcess, DaemonStartError, describeExit, type LogSource, type LogTarget, type ProcessExit } from './daemon-process.js';
import type { StartedMessage } from './protocol.js';
import { WipeError, wipeMetricsDirectory } from './wipe-directory.js';

export type { LogSource, LogTarget, ProcessExit };
export { DaemonStartError };

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

/** Each exit of a daemon process. */
export interface ExitEvent extends ProcessExit {
  readonly pid: number;
  /** `stopped`: by stop(); `crashed`: after it had served; `failed`: a restart that never served. */
  readonly reason: 'stopped' | 'crashed' | 'failed';
  /** How long it had served, 0 if it never did. */
  readonly uptimeMs: number;
  /** When the next restart is due, or null (stopped). */
  readonly restartInMs: number | null;
  /** Why a restart failed, e.g. the daemon's configuration message. */
  readonly message?: string;
}

/** A replacement daemon serves again. */
export interface RestartEvent {
  readonly pid: number;
  /** The daemon that died last, and how. */
  readonly previous: { readonly pid: number } & ProcessExit;
  /** The backoff delay waited before this daemon was spawned. */
  readonly delayMs: number;
  /** Restarts so far, this one included. */
  readonly restarts: number;
}

export interface ExporterEvents {
  exit: ExitEvent;
  restart: RestartEvent;
}

export interface Exporter {
  /** Base URL of the metrics listener, e.g. `http://127.0.0.1:9798` (a wildcard address as 127.0.0.1). */
  readonly url: string;
  /** `url` + the telemetry path. */
  readonly metricsUrl: string;
  /** The serving daemon's pid, which is also its process group id; undefined while it is restarted. */
  readonly pid: number | undefined;
  readonly restarts: number;
  /**
   * SIGTERM to the daemon's process group, SIGKILL after `killGraceMs`; resolves once no process of
   * the group is left, with the daemon's exit (null if none was running). Idempotent.
   */
  stop(): Promise<ProcessExit | null>;
  on<E extends keyof ExporterEvents>(event: E, listener: (e: ExporterEvents[E]) => void): this;
  off<E extends keyof ExporterEvents>(event: E, listener: (e: ExporterEvents[E]) => void): this;
}

/** This package's launcher (dist/supervisor/ and src/supervisor/ are both two levels below it). */
const BIN = fileURLToPath(new URL('../../bin/multiproc-exporter', import.meta.url));

const DEFAULTS = { killGraceMs: 10_000, startTimeoutMs: 10_000, initialDelayMs: 100, maxDelayMs: 30_000, stableAfterMs: 10_000 } as const;

interface Settings {
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

/**
 * Spawns the daemon and resolves once it serves. Rejects with a TypeError for a bad option, and
 * with a DaemonStartError if the first daemon does not serve (e.g. exit code 2 for a port in use,
 * with the daemon's message): that one is not restarted.
 */
export async function startExporter(options: StartExporterOptions = {}): Promise<Exporter> {
  const settings = validate(options);
  if (settings.wipeDirectory) {
    try {
      wipeMetricsDirectory(settings.dir);
    } catch (e) {
      if (e instanceof WipeError) throw new Error(`startExporter: wipeDirectory: ${e.message}`);
      throw e;
    }
  }
  const daemon = await DaemonProcess.spawn({ command: process.execPath, args: daemonArgs(settings, settings.listen), env: settings.env, log: settings.log, startTimeoutMs: settings.startTimeoutMs });
  // Registered before the first await on the daemon, so that no exit of this process orphans it.
  const onProcessExit = (): void => daemon.killGroupNow();
  process.on('exit', onProcessExit);
  let started: StartedMessage;
  try {
    started = await daemon.ready;
  } catch (e) {
    await daemon.terminate(0);
    process.off('exit', onProcessExit);
    if (e instanceof DaemonStartError) {
      throw new DaemonStartError(`startExporter: the daemon (pid ${daemon.pid}) ${e.message}; not restarted`, e.exit, e.daemonMessage);
    }
    throw e;
  }
  process.off('exit', onProcessExit);
  return new SupervisedExporter(settings, daemon, started);
}

class SupervisedExporter extends EventEmitter implements Exporter {
  readonly url: string;
  readonly metricsUrl: string;
  restarts = 0;

  private current: DaemonProcess | null;
  private readonly listen: string;
  private readonly backoff: Backoff;
  private restartTimer: NodeJS.Timeout | undefined;
  private spawning: Promise<unknown> | undefined;
  private lastDelayMs = 0;
  private stopping: Promise<ProcessExit | null> | null = null;
  private readonly onProcessExit = (): void => this.current?.killGroupNow();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    void this.stop().finally(() => {
      // Nobody else handles it: end this process as the signal would have without us.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };

  constructor(
    private readonly settings: Settings,
    daemon: DaemonProcess,
    started: StartedMessage,
  ) {
    super();
    this.current = daemon;
    this.listen = started.listen;
    this.url = `${started.tls ? 'https' : 'http'}://${urlHost(started.listen)}`;
    this.metricsUrl = `${this.url}${started.telemetryPath}`;
    this.backoff = new Backoff({ initialMs: settings.initialDelayMs, maxMs: settings.maxDelayMs });
    process.on('exit', this.onProcessExit);
    if (settings.stopOnSignals) {
      process.on('SIGTERM', this.onSignal);
      process.on('SIGINT', this.onSignal);
    }
    this.watch(daemon);
    this.note('info', 'multiproc-exporter daemon started', { pid: daemon.pid, url: this.url, dir: settings.dir });
  }

  get pid(): number | undefined {
    const d = this.current;
    return d !== null && d.running && d.readyAt !== undefined ? d.pid : undefined;
  }

  stop(): Promise<ProcessExit | null> {
    this.stopping ??= (async () => {
      clearTimeout(this.restartTimer);
      await this.spawning; // a replacement being spawned becomes `current` first
      const daemon = this.current;
      const exit = daemon !== null && daemon.running ? await daemon.terminate(this.settings.killGraceMs) : null;
      process.off('exit', this.onProcessExit);
      process.off('SIGTERM', this.onSignal);
      process.off('SIGINT', this.onSignal);
      return exit;
    })();
    return this.stopping;
  }

  override on<E extends keyof ExporterEvents>(event: E, listener: (e: ExporterEvents[E]) => void): this {
    return super.on(event, listener);
  }

  override off<E extends keyof ExporterEvents>(event: E, listener: (e: ExporterEvents[E]) => void): this {
    return super.off(event, listener);
  }

  private watch(daemon: DaemonProcess): void {
    void daemon.exited.then((exit) => this.onExit(daemon, exit));
  }

  private onExit(daemon: DaemonProcess, exit: ProcessExit): void {
    const uptimeMs = daemon.readyAt === undefined ? 0 : Date.now() - daemon.readyAt;
    const base = { pid: daemon.pid, code: exit.code, signal: exit.signal, uptimeMs };
    if (this.stopping !== null) {
      this.note('info', 'multiproc-exporter daemon stopped', { pid: daemon.pid, code: exit.code, signal: exit.signal });
      this.emit('exit', { ...base, reason: 'stopped', restartInMs: null } satisfies ExitEvent);
      return;
    }
    if (uptimeMs >= this.settings.stableAfterMs) this.backoff.reset();
    const delayMs = this.backoff.next();
    this.lastDelayMs = delayMs;
    const previous = { pid: daemon.pid, code: exit.code, signal: exit.signal };
    // Scheduled before the listeners run, so that one that throws cannot cancel the restart.
    this.restartTimer = setTimeout(() => void this.spawnReplacement(previous), delayMs);
    if (daemon.readyAt !== undefined) {
      this.note('warn', `multiproc-exporter daemon died (${describeExit(exit)}): restarting in ${delayMs} ms`, { ...base, restartInMs: delayMs });
      this.emit('exit', { ...base, reason: 'crashed', restartInMs: delayMs } satisfies ExitEvent);
    } else {
      const message = daemon.startError?.daemonMessage ?? daemon.startError?.message;
      this.note('error', `multiproc-exporter daemon did not start again (${describeExit(exit)}): retrying in ${delayMs} ms`, { ...base, restartInMs: delayMs, message });
      this.emit('exit', { ...base, reason: 'failed', restartInMs: delayMs, message } satisfies ExitEvent);
    }
  }

  private async spawnReplacement(previous: RestartEvent['previous']): Promise<void> {
    if (this.stopping !== null) return;
    const spawning = DaemonProcess.spawn({ command: process.execPath, args: daemonArgs(this.settings, this.listen), env: this.settings.env, log: this.settings.log, startTimeoutMs: this.settings.startTimeoutMs });
    this.spawning = spawning.then(
      (d) => (this.current = d),
      () => undefined,
    );
    let daemon: DaemonProcess;
    try {
      daemon = await spawning;
    } catch (e) {
      if (this.stopping !== null) return;
      // The process could not even be created (e.g. EAGAIN): try again later, like a crash.
      const delayMs = this.backoff.next();
      this.lastDelayMs = delayMs;
      this.note('error', `cannot spawn the multiproc-exporter daemon: ${(e as Error).message}; retrying in ${delayMs} ms`, { restartInMs: delayMs });
      this.restartTimer = setTimeout(() => void this.spawnReplacement(previous), delayMs);
      return;
    }
    this.watch(daemon); // also while stopping: stop() terminates it and its exit is reported
    daemon.ready.then(
      () => {
        if (this.stopping !== null) return;
        this.restarts++;
        this.note('info', 'multiproc-exporter daemon restarted', { pid: daemon.pid, previousPid: previous.pid, delayMs: this.lastDelayMs, restarts: this.restarts });
        this.emit('restart', { pid: daemon.pid, previous, delayMs: this.lastDelayMs, restarts: this.restarts } satisfies RestartEvent);
      },
      () => {}, // reported by onExit, with daemon.startError
    );
  }

  private note(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
    const log = this.settings.log;
    if (log === 'ignore') return;
    const line = JSON.stringify({ level, time: new Date().toISOString(), component: 'startExporter', ...fields, msg });
    if (log === 'inherit') process.stderr.write(`${line}\n`);
    else log(line, 'supervisor');
  }
}

function daemonArgs(settings: Settings, listen: string | undefined): string[] {
  const listenFlag = listen === undefined ? [] : ['--web.listen-address', listen];
  return [BIN, 'serve', '--dir', settings.dir, ...listenFlag, ...settings.args];
}

/** The host part of a URL for a bound address; a wildcard address is reached on loopback. */
function urlHost(listen: string): string {
  const i = listen.lastIndexOf(':');
  const host = listen.slice(0, i);
  const port = listen.slice(i + 1);
  return `${host === '' || host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
}

function validate(o: StartExporterOptions): Settings {
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
      if (e instanceof ConfigError) throw new TypeError(`${where}: ${e.message}`);
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
      throw new TypeError(`${where}: options.${name} must be an integer number of milliseconds ≥ ${min}, got ${String(v)}`);
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
