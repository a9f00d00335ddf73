/** What startExporter() returns: the supervised daemon's handle, and the events it emits. */
import type { ProcessExit } from './daemon-process.js';

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
