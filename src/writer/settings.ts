/**
 * Where and how this process writes: `configure({ dir, layout, processId })`, resolved lazily so a
 * module may define its metrics before the application calls configure().
 */
import { statSync } from 'node:fs';
import { DIALECTS, type Dialect } from '../format/dialect.js';

export interface WriterOptions {
  /** Metrics directory; default `PROMETHEUS_MULTIPROC_DIR`. */
  dir?: string;
  /** `python` (prometheus_client ≥ 0.18, default), `python-legacy` (≤ 0.17) or `ruby` (GitLab gem). */
  layout?: Dialect;
  /**
   * Identifies this process in file names; default `process.pid`. Use a stable id (e.g. the
   * cluster worker id) to bound the number of files: a restarted worker continues its files.
   */
  processId?: string | number;
  /**
   * Keep a heartbeat: every this many seconds the reserved gauge
   * `multiproc_exporter_worker_heartbeat_timestamp_seconds` is set to the time, for the daemon's
   * /health/workers and --readiness.min-workers. Off by default.
   */
  heartbeatSeconds?: number;
}

export interface WriterSettings {
  readonly dir: string;
  readonly layout: Dialect;
  readonly processId: string;
}

export class WriterConfigError extends Error {
  constructor(message: string) {
    super(`multiproc-exporter/writer: ${message}`);
    this.name = 'WriterConfigError';
  }
}

let options: WriterOptions = {};
let resolved: WriterSettings | null = null;

export function configure(next: WriterOptions): void {
  if (resolved !== null) {
    throw new WriterConfigError('configure() must be called before the first metric is written (files are already open)');
  }
  options = { ...next };
  validate(options);
}

/** Whether settings can be resolved now without error (dir known), used to create entries eagerly. */
export function settingsAvailable(): boolean {
  return resolved !== null || options.dir !== undefined || (process.env['PROMETHEUS_MULTIPROC_DIR'] ?? '') !== '';
}

/** The settings, resolved and checked once; throws WriterConfigError with what to do. */
export function settings(): WriterSettings {
  if (resolved !== null) return resolved;
  const dir = options.dir ?? process.env['PROMETHEUS_MULTIPROC_DIR'];
  if (dir === undefined || dir === '') {
    throw new WriterConfigError('no metrics directory: set PROMETHEUS_MULTIPROC_DIR or call configure({ dir })');
  }
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw new WriterConfigError(`metrics directory ${dir} cannot be used: ${(e as Error).message}`);
  }
  if (!isDir) throw new WriterConfigError(`metrics directory ${dir} is not a directory`);
  resolved = { dir, layout: options.layout ?? 'python', processId: String(options.processId ?? process.pid) };
  return resolved;
}

function validate(o: WriterOptions): void {
  if (o.layout !== undefined && !DIALECTS.includes(o.layout)) {
    throw new WriterConfigError(`layout ${JSON.stringify(o.layout)} is not python, python-legacy or ruby`);
  }
  if (o.heartbeatSeconds !== undefined && !(o.heartbeatSeconds > 0 && Number.isFinite(o.heartbeatSeconds))) {
    throw new WriterConfigError(`heartbeatSeconds must be a positive number of seconds, got ${String(o.heartbeatSeconds)}`);
  }
  if (o.processId !== undefined) {
    const id = String(o.processId);
    if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new WriterConfigError(`processId ${JSON.stringify(id)} may only contain letters, digits, ".", "-" and "_"`);
    if ((o.layout ?? 'python') !== 'ruby' && id.includes('_')) {
      // Python's reader takes the third "_"-separated part of gauge_<mode>_<id>.db as the pid.
      throw new WriterConfigError(`processId ${JSON.stringify(id)} contains "_", which Python's reader misreads; use "-" instead`);
    }
  }
}

/** Tests only: forget the configuration (files already open stay open). */
export function resetSettingsForTests(): void {
  options = {};
  resolved = null;
}
