/**
 * The opt-in worker heartbeat: a reserved gauge (mode liveall, so one series per worker that
 * vanishes when the worker dies) set to the current time every `heartbeatSeconds`. The daemon
 * reads it for /health/workers and `--readiness.min-workers`.
 */
import { HEARTBEAT_METRIC } from '../format/reserved.js';
import { Gauge } from './gauge.js';

let gauge: Gauge | null = null;
let timer: NodeJS.Timeout | null = null;

/** Record a heartbeat now (also what the timer does). Call it from your own health loop if you like. */
export function heartbeat(): void {
  gauge ??= new Gauge({ name: HEARTBEAT_METRIC, help: 'UNIX time of the worker’s last heartbeat.', multiprocessMode: 'liveall' });
  gauge.setToCurrentTime();
}

/** Beat now and then every `seconds` (the timer does not keep the process alive). */
export function startHeartbeat(seconds: number): void {
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new TypeError(`heartbeatSeconds must be a positive number, got ${String(seconds)}`);
  stopHeartbeat();
  heartbeat();
  timer = setInterval(heartbeat, seconds * 1000);
  timer.unref();
}

export function stopHeartbeat(): void {
  if (timer !== null) clearInterval(timer);
  timer = null;
}
