/**
 * Workers as the files show them: one per process id, alive unless every file of it is dead, with
 * the newest heartbeat its files carry. Readiness can require a number of them to be fresh.
 */
import type { FileStatus } from '../reader/directory.js';

export interface WorkerStatus {
  readonly id: string;
  /** live: some file's writer was seen alive; dead: all its files are folded; else unknown. */
  readonly state: 'live' | 'dead' | 'unknown';
  /** Newest heartbeat (UNIX seconds) of its files, if the worker keeps one. */
  readonly lastHeartbeat: number | null;
  readonly heartbeatAgeSeconds: number | null;
  /** Alive (not dead) with a heartbeat no older than the maximum age. */
  readonly fresh: boolean;
  readonly files: number;
}

export interface WorkerHealth {
  readonly workers: readonly WorkerStatus[];
  readonly fresh: number;
  readonly minWorkers: number;
  readonly maxHeartbeatAgeSeconds: number;
  /** Why readiness fails because of the workers, else null. */
  readonly notReadyReason: string | null;
}

export function workerHealth(files: readonly FileStatus[], nowSeconds: number, minWorkers: number, maxAgeSeconds: number): WorkerHealth {
  const byId = new Map<string, { states: Set<string>; heartbeat: number | null; files: number }>();
  for (const f of files) {
    if (f.processId === null || f.state === 'skipped') continue;
    let w = byId.get(f.processId);
    if (w === undefined) byId.set(f.processId, (w = { states: new Set(), heartbeat: null, files: 0 }));
    w.states.add(f.state);
    w.files++;
    if (f.heartbeat !== undefined && Number.isFinite(f.heartbeat) && (w.heartbeat === null || f.heartbeat > w.heartbeat)) w.heartbeat = f.heartbeat;
  }
  const workers: WorkerStatus[] = [...byId]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, w]) => {
      const state = w.states.has('live') ? 'live' : w.states.size === 1 && w.states.has('dead') ? 'dead' : 'unknown';
      const ageSeconds = w.heartbeat === null ? null : Math.max(0, nowSeconds - w.heartbeat);
      return { id, state, lastHeartbeat: w.heartbeat, heartbeatAgeSeconds: ageSeconds, fresh: state !== 'dead' && ageSeconds !== null && ageSeconds <= maxAgeSeconds, files: w.files };
    });
  const fresh = workers.filter((w) => w.fresh).length;
  const notReadyReason =
    fresh >= minWorkers ? null : `${fresh} of the ${minWorkers} required workers have a heartbeat newer than ${maxAgeSeconds}s (--readiness.min-workers)`;
  return { workers, fresh, minWorkers, maxHeartbeatAgeSeconds: maxAgeSeconds, notReadyReason };
}
