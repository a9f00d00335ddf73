/**
 * What a Directory knows of one `.db` name it lists: the state the name is in, one of five, and
 * what outlives a change of state (the liveness memo, the last scan that listed it); and how the
 * status page shows each state (`statusOf`). The transitions are made by directory.ts (scan,
 * compaction) and folded-files.ts (a writer back):
 *
 *   unopened ─open─▶ open ─writer dead, values folded─▶ folded ─writer back or file replaced─▶ unopened
 *   open ⇄ skipped (a problem this scan; a file already mapped stays mapped, and bound, meanwhile)
 *   open ─an archive's manifest lists it─▶ absorbed ─that archive gone─▶ unopened
 */
import type { ParsedFileName } from '../format/filename.js';
import type { KeyShape } from '../format/key.js';
import type { SlotWidth } from '../format/layout.js';
import type { LivenessMemo, WriterState } from './liveness.js';
import { dialectOf, type FileProblem, type MappedFile, type SkipReason } from './mapped-file.js';

/** One file as the status page shows it. */
export interface FileStatus {
  readonly fileName: string;
  readonly type: string | null;
  readonly mode: string | null;
  readonly processId: string | null;
  readonly dialect: string;
  /**
   * live/unknown: served from its mapping; dead: folded and unmapped; skipped: see `error`;
   * absorbed: already in a compaction archive (left over by a crash; not counted again).
   */
  readonly state: WriterState | 'skipped' | 'absorbed';
  readonly entries: number;
  readonly bytes: number;
  readonly mappedBytes: number;
  readonly heartbeat: number | undefined;
  readonly error: string | null;
  /** Why a skipped file is not served (the `reason` label of `multiproc_exporter_files_skipped`), else null. */
  readonly skipReason: SkipReason | null;
}

/** A file whose writer died: folded into the merge, unmapped, remembered by identity. */
export interface FoldedFile {
  readonly fileName: string;
  readonly parsed: ParsedFileName;
  readonly processId: string;
  readonly dialect: string;
  readonly entries: number;
  readonly size: number;
  /** Last heartbeat the writer stored (UNIX seconds), if it kept one. */
  readonly heartbeat: number | undefined;
}

/** What the directory keeps of a folded file: enough to probe it and to know it again. */
export interface FoldedRecord extends FoldedFile {
  readonly dev: number;
  readonly ino: number;
  readonly lockingName: boolean;
  readonly shape: KeyShape | null;
  readonly slot: SlotWidth | null;
}

/** Served from its mapping (writer live or unknown), or handed out to be folded (writer dead). */
export interface OpenState {
  readonly kind: 'open';
  readonly file: MappedFile;
  /** As the liveness probe found it at the last scan. */
  writer: WriterState;
}

export type EntryState =
  /** Listed but not mapped: new, served again after being folded, or not yet opened after a compaction. */
  | { readonly kind: 'unopened'; readonly writer: WriterState }
  | OpenState
  /** Not served at the last scan, for `problem`. */
  | { readonly kind: 'skipped'; readonly problem: FileProblem; readonly file: MappedFile | null }
  | { readonly kind: 'folded'; readonly record: FoldedRecord }
  /** Listed in the manifest of `archive` (a compaction crashed before deleting it): not counted. */
  | { readonly kind: 'absorbed'; readonly archive: string };

export interface FileEntry {
  state: EntryState;
  /** Scan number of the last sighting in readdir. */
  seen: number;
  memo: LivenessMemo;
  /** Opened since the archive manifests were last compared with it. */
  absorbCheck: boolean;
}

export const UNOPENED: EntryState = { kind: 'unopened', writer: 'unknown' };

/** The file this entry keeps mapped, if any. */
export function fileOf(state: EntryState): MappedFile | null {
  return state.kind === 'open' || state.kind === 'skipped' ? state.file : null;
}

/** Not mapped, with the writer state the entry had (an archive, or a folded file, has a dead one). */
export function unopened(s: EntryState): EntryState {
  const writer: WriterState = s.kind === 'open' || s.kind === 'unopened' ? s.writer : s.kind === 'folded' ? 'dead' : 'unknown';
  return writer === 'unknown' ? UNOPENED : { kind: 'unopened', writer };
}

export function statusOf(fileName: string, s: EntryState): FileStatus {
  switch (s.kind) {
    case 'open':
      return fileStatus(fileName, s.file, s.writer, null);
    case 'skipped':
      return s.file !== null ? fileStatus(fileName, s.file, 'skipped', s.problem) : unmappedStatus(fileName, 'skipped', s.problem);
    case 'folded': {
      const r = s.record;
      return { fileName, type: r.parsed.type, mode: r.parsed.mode ?? null, processId: r.processId, dialect: r.dialect, state: 'dead', entries: r.entries, bytes: r.size, mappedBytes: 0, heartbeat: r.heartbeat, error: null, skipReason: null };
    }
    case 'absorbed':
      return unmappedStatus(fileName, 'absorbed', null);
    case 'unopened':
      return unmappedStatus(fileName, s.writer, null);
  }
}

function fileStatus(fileName: string, f: MappedFile, state: FileStatus['state'], problem: FileProblem | null): FileStatus {
  const error = problem?.message ?? null;
  return { fileName, type: f.parsed.type, mode: f.parsed.mode ?? null, processId: f.processId, dialect: dialectOf(f), state, entries: f.entryCount, bytes: f.size, mappedBytes: f.mappedBytes, heartbeat: f.heartbeat(), error, skipReason: problem?.reason ?? null };
}

function unmappedStatus(fileName: string, state: FileStatus['state'], problem: FileProblem | null): FileStatus {
  return { fileName, type: null, mode: null, processId: null, dialect: 'unknown', state, entries: 0, bytes: 0, mappedBytes: 0, heartbeat: undefined, error: problem?.message ?? null, skipReason: problem?.reason ?? null };
}
