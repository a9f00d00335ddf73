/**
 * What `serve` tells its supervisor over the IPC channel, when it was spawned with one (as
 * startExporter does): where it serves once it is listening, or why it could not start. The
 * channel does not depend on the log format, level or destination the operator chose.
 */
import type { ListenAddress } from '../config.js';

/** Sent once the listeners are bound (port 0 resolved). */
export interface StartedMessage {
  readonly type: 'multiproc-exporter:started';
  /** Bound metrics address, port 0 resolved; no host: every interface (absent in JSON). */
  readonly listen: ListenAddress;
  /** Bound health address (the metrics address unless --web.health-address was given). */
  readonly health: ListenAddress;
  readonly tls: boolean;
  readonly telemetryPath: string;
}

/** Sent before exit code 2: the configuration message the daemon also writes to stderr. */
export interface StartFailedMessage {
  readonly type: 'multiproc-exporter:start-failed';
  readonly message: string;
}

export type DaemonMessage = StartedMessage | StartFailedMessage;

/** The message, or null for anything else arriving on the channel. */
export function parseDaemonMessage(value: unknown): DaemonMessage | null {
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  if (m['type'] === 'multiproc-exporter:started') {
    const listen = listenAddressOf(m['listen']);
    const health = listenAddressOf(m['health']);
    const { tls, telemetryPath } = m;
    if (listen !== null && health !== null && typeof tls === 'boolean' && typeof telemetryPath === 'string') {
      return { type: 'multiproc-exporter:started', listen, health, tls, telemetryPath };
    }
    return null;
  }
  if (m['type'] === 'multiproc-exporter:start-failed' && typeof m['message'] === 'string') {
    return { type: 'multiproc-exporter:start-failed', message: m['message'] };
  }
  return null;
}

function listenAddressOf(value: unknown): ListenAddress | null {
  if (typeof value !== 'object' || value === null) return null;
  const { host, port } = value as Record<string, unknown>;
  if (host !== undefined && typeof host !== 'string') return null;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host, port };
}

/** Send a message to the supervisor, if there is one; `then` runs once it is written (or at once). */
export function tellSupervisor(message: DaemonMessage, then: () => void = () => {}): void {
  if (process.send === undefined || !process.connected) return then();
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    clearTimeout(fallback);
    then();
  };
  // A supervisor that has gone away must not keep the daemon from going on (or exiting).
  const fallback = setTimeout(once, 1_000);
  try {
    process.send(message, undefined, {}, once);
  } catch {
    once();
  }
}
