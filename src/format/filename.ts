/**
 * What a `.db` file name says (docs/FORMAT.md §1): metric type, gauge mode and process id.
 *
 *   Python  counter_<id>.db  histogram_<id>.db  summary_<id>.db  gauge_<mode>_<id>.db
 *   Ruby    <prefix>_<id>-<n>.db   (prefix as above; `-<n>` picks between live processes sharing an id)
 *
 * Unlike Python's reader (which takes the third `_`-separated part), the id is everything after
 * the prefix, so ids with underscores (`worker_7`, `puma_master`) survive.
 */

import { ARCHIVE_ID_PREFIX } from './reserved.js';

export type FileType = 'counter' | 'gauge' | 'histogram' | 'summary';

export const GAUGE_MODES = [
  'all',
  'liveall',
  'min',
  'livemin',
  'max',
  'livemax',
  'sum',
  'livesum',
  'mostrecent',
  'livemostrecent',
] as const;
export type GaugeMode = (typeof GAUGE_MODES)[number];

export interface ParsedFileName {
  readonly type: FileType;
  /** Gauge aggregation mode; undefined for other types. */
  readonly mode: GaugeMode | undefined;
  /** Everything after the type (and mode): the process id as a Python writer wrote it (`uwsgi-3`). */
  readonly id: string;
  /** The id without a trailing `-<n>`: the process id as a Ruby writer wrote it (`puma_master`). */
  readonly rubyId: string;
  /** The `-<n>` suffix, if any (Ruby: which of several live processes sharing an id). */
  readonly instance: number | undefined;
  /** A compaction archive of this daemon (`<prefix>_mpe-archive-<layout>.db`): it has no writer. */
  readonly archive: boolean;
}

/** The process id of a file, read the way the dialect that wrote it names files. */
export function processIdOf(name: ParsedFileName, rubyNaming: boolean): string {
  return rubyNaming ? name.rubyId : name.id;
}

export type FileNameProblem = 'not_db' | 'unknown_type' | 'unknown_gauge_mode' | 'no_process_id';

export type FileNameResult =
  | { readonly ok: true; readonly name: ParsedFileName }
  | { readonly ok: false; readonly problem: FileNameProblem; readonly message: string };

const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary']);
const MODES: ReadonlySet<string> = new Set(GAUGE_MODES);
const RUBY_INSTANCE = /-(\d+)$/;

export function parseFileName(fileName: string): FileNameResult {
  if (!fileName.endsWith('.db')) return problem('not_db', 'does not end in .db');
  const base = fileName.slice(0, -3);
  const sep = base.indexOf('_');
  const type = sep < 0 ? base : base.slice(0, sep);
  if (!TYPES.has(type)) {
    return problem('unknown_type', `metric type prefix "${type}" is not counter, gauge, histogram or summary`);
  }
  let rest = sep < 0 ? '' : base.slice(sep + 1);
  let mode: GaugeMode | undefined;
  if (type === 'gauge') {
    const sep2 = rest.indexOf('_');
    const m2 = sep2 < 0 ? rest : rest.slice(0, sep2);
    if (!MODES.has(m2)) return problem('unknown_gauge_mode', `gauge mode "${m2}" is not one of ${GAUGE_MODES.join(', ')}`);
    mode = m2 as GaugeMode;
    rest = sep2 < 0 ? '' : rest.slice(sep2 + 1);
  }
  const m = RUBY_INSTANCE.exec(rest);
  const rubyId = m === null ? rest : rest.slice(0, m.index);
  if (rubyId === '') return problem('no_process_id', 'has no process id after the type');
  const instance = m === null ? undefined : Number(m[1]);
  return { ok: true, name: { type: type as FileType, mode, id: rest, rubyId, instance, archive: rest.startsWith(ARCHIVE_ID_PREFIX) } };
}

function problem(p: FileNameProblem, why: string): FileNameResult {
  return { ok: false, problem: p, message: why };
}
