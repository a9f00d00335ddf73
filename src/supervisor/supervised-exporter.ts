/**
 * The supervisor behind startExporter(): watches the serving daemon, restarts it with backoff
 * when it dies (at the address it first bound), and stops it on request or with this process.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { formatListenAddress, type ListenAddress } from '../config.js';
import { Backoff } from './backoff.js';
import { DaemonProcess, describeExit, type ProcessExit } from './daemon-process.js';
import type { Exporter, ExporterEvents, ExitEvent, RestartEvent } from './exporter.js';
import type { SupervisorSettings } from './options.js';
import type { StartedMessage } from './protocol.js';

/** This package's launcher (dist/supervisor/ and src/supervisor/ are both two levels below it). */
const BIN = fileURLToPath(new URL('../../bin/multiproc-exporter', import.meta.url));

export class SupervisedExporter extends EventEmitter implements Exporter {
  readonly url: string;
  readonly metricsUrl: string;
  restarts = 0;

  private current: DaemonProcess | null;
  private readonly listen: ListenAddress;
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
    private readonly settings: SupervisorSettings,
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
    const spawning = spawnDaemon(this.settings, formatListenAddress(this.listen));
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

/** Spawns one daemon for `settings` serving on `listen` (undefined: the daemon's default address). */
export function spawnDaemon(settings: SupervisorSettings, listen: string | undefined): Promise<DaemonProcess> {
  const listenFlag = listen === undefined ? [] : ['--web.listen-address', listen];
  const args = [BIN, 'serve', '--dir', settings.dir, ...listenFlag, ...settings.args];
  return DaemonProcess.spawn({ command: process.execPath, args, env: settings.env, log: settings.log, startTimeoutMs: settings.startTimeoutMs });
}

/** The host part of a URL for a bound address; a wildcard address is reached on loopback. */
export function urlHost(listen: ListenAddress): string {
  const wildcard = listen.host === undefined || listen.host === '0.0.0.0' || listen.host === '::';
  return formatListenAddress({ host: wildcard ? '127.0.0.1' : listen.host, port: listen.port });
}
