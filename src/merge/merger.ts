/**
 * Entries → metric families, by the rules of the dialect that wrote each file (FORMAT.md §5).
 *
 * Each entry is bound once to the series it contributes to; a scrape then only adds values:
 * `series.add(values[valueIndex[i]])` per entry, no key parsing, no allocation in steady state.
 */
import type { DecodedKey } from '../format/key.js';
import type { GaugeMode } from '../format/filename.js';
import type { MappedFile } from '../reader/mapped-file.js';
import { Family } from './family.js';
import type { Label, MetricFamily } from './model.js';
import { Op } from './accumulator.js';
import { seriesKey, type Series, type SeriesRole } from './series.js';

/** An entry the merge could not place (e.g. a family name used with two metric types). */
export interface MergeProblem {
  readonly fileName: string;
  readonly message: string;
}

/** Where an entry goes: shared by every file with the same key and binding context. */
interface Resolved {
  readonly family: Family;
  readonly series: Series;
  /** The synthesized `_count` a Python bucket entry also keeps alive. */
  readonly companion: Series | null;
}

interface Binding {
  readonly file: MappedFile;
  /** What, besides the key, decides an entry's series: type, gauge mode, pid for all/liveall. */
  readonly context: string;
  generation: number;
  /** Entries bound so far (a prefix of file.keys). */
  bound: number;
  /** Series per entry; null = entry not served (see problems). */
  targets: (Series | null)[];
  /** Series each target belongs to, for release. */
  families: (Family | null)[];
  /** Extra series referenced by entries: the synthesized `_count` of Python histograms. */
  companions: [Family, Series][];
  problem: string | null;
  seen: number;
}

const OP_BY_MODE: Record<GaugeMode, Op> = {
  all: Op.Last,
  liveall: Op.Last,
  min: Op.Min,
  livemin: Op.Min,
  max: Op.Max,
  livemax: Op.Max,
  sum: Op.Sum,
  livesum: Op.Sum,
  mostrecent: Op.MostRecent,
  livemostrecent: Op.MostRecent,
};

export class Merger {
  private readonly families = new Map<string, Family>();
  private readonly bindings = new Map<MappedFile, Binding>();
  /** Memo of resolve(): decoded keys are shared across files (reader's KeyCache), so N files of
   * the same series resolve once. Entries stay valid while their series live (refs > 0). */
  private readonly resolved = new WeakMap<DecodedKey, Map<string, Resolved>>();
  private ordered: Family[] = [];
  private orderDirty = false;
  private scans = 0;

  /** `constLabels`: added to every series that lacks a label of that name (sorted by name). */
  constructor(private readonly constLabels: readonly Label[] = []) {}

  /** Series currently known (self metric). */
  get seriesCount(): number {
    let n = 0;
    for (const f of this.families.values()) n += f.size;
    return n;
  }

  /** Entries that could not be placed, one per file (for the caller to report). */
  problems(): MergeProblem[] {
    const out: MergeProblem[] = [];
    for (const b of this.bindings.values()) {
      if (b.problem !== null) out.push({ fileName: b.file.fileName, message: b.problem });
    }
    return out;
  }

  /**
   * Merge the files of one scan (sorted by name: float sums and ties are then independent of
   * readdir order). Files missing from the list but still open keep their bindings (a file
   * skipped for one scan comes back without re-binding); closed ones are released.
   */
  merge(files: readonly MappedFile[]): readonly MetricFamily[] {
    const scan = ++this.scans;
    for (const file of files) this.bind(file).seen = scan;
    for (const [file, b] of this.bindings) {
      if (b.seen !== scan && !file.isOpen) {
        this.release(b);
        this.bindings.delete(file);
      }
    }

    for (const f of this.families.values()) f.reset();
    for (const file of files) {
      const b = this.bindings.get(file)!;
      const values = file.values;
      const index = file.valueIndex;
      const targets = b.targets;
      const timestamps = file.slot === 16;
      for (let i = 0; i < b.bound; i++) {
        const s = targets[i];
        if (s === null || s === undefined) continue;
        const at = index[i]!;
        s.add(values[at]!, timestamps ? values[at + 1]! : 0);
      }
    }

    if (this.orderDirty) {
      this.ordered = [...this.families.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      this.orderDirty = false;
    }
    const out: Family[] = [];
    for (const f of this.ordered) {
      f.finish();
      if (f.samples.length > 0) out.push(f);
    }
    return out;
  }

  /**
   * Fold a dead writer's file into the folded state of its series, once: from now on every
   * scrape starts from these values without reading the file (the caller unmaps it). Gauges in
   * a live* mode contribute nothing: their series of a dead process vanish.
   */
  fold(file: MappedFile): void {
    const b = this.bind(file);
    this.bindings.delete(file);
    const mode = file.parsed.mode;
    if (mode === undefined || !mode.startsWith('live')) {
      const values = file.values;
      const index = file.valueIndex;
      const timestamps = file.slot === 16;
      for (let i = 0; i < b.bound; i++) {
        const s = b.targets[i];
        if (s == null) continue;
        const at = index[i]!;
        s.fold(values[at]!, timestamps ? values[at + 1]! : 0);
      }
      for (const [, c] of b.companions) c.foldedRefs++;
    }
    this.release(b);
  }

  /**
   * Fold the dead files again from scratch: `refold(foldAll)` clears the folded values, lets
   * `foldAll` fold the files that are left, then forgets series nothing contributes to. Series
   * objects that stay are kept (with their last output, for the monotonic guard).
   */
  refold(foldAll: () => void): void {
    for (const f of this.families.values()) f.clearFolded();
    foldAll();
    for (const f of [...this.families.values()]) {
      f.forgetUnused();
      if (f.size === 0) {
        this.families.delete(f.name);
        this.orderDirty = true;
      }
    }
  }

  private bind(file: MappedFile): Binding {
    let b = this.bindings.get(file);
    if (b !== undefined && b.generation !== file.generation) {
      this.release(b);
      b = undefined;
    }
    if (b === undefined) {
      b = {
        file,
        context: bindingContext(file),
        generation: file.generation,
        bound: 0,
        targets: [],
        families: [],
        companions: [],
        problem: null,
        seen: 0,
      };
      this.bindings.set(file, b);
    }
    const keys = file.keys;
    for (let i = b.bound; i < keys.length; i++) this.bindEntry(b, keys[i]!);
    b.bound = keys.length;
    return b;
  }

  private bindEntry(b: Binding, key: DecodedKey): void {
    let byContext = this.resolved.get(key);
    let r = byContext?.get(b.context);
    if (r === undefined || !inUse(r.series) || (r.companion !== null && !inUse(r.companion))) {
      const fresh = this.resolve(b.file, key);
      if (typeof fresh === 'string') {
        b.problem ??= fresh;
        b.targets.push(null);
        b.families.push(null);
        return;
      }
      r = fresh;
      if (byContext === undefined) this.resolved.set(key, (byContext = new Map()));
      byContext.set(b.context, r);
    }
    r.series.refs++;
    b.targets.push(r.series);
    b.families.push(r.family);
    if (r.companion !== null) {
      r.companion.refs++;
      b.companions.push([r.family, r.companion]);
    }
  }

  /** The series an entry of this file is added to (creating it), or why it cannot be served. */
  private resolve(file: MappedFile, key: DecodedKey): Resolved | string {
    const type = file.parsed.type;
    const familyName = type === 'counter' ? counterFamilyName(key) : key.metric;
    let family = this.families.get(familyName);
    if (family === undefined) {
      family = new Family(familyName, type);
      this.families.set(familyName, family);
      this.orderDirty = true;
    } else if (family.type !== type) {
      return `metric ${familyName} is a ${type} here but a ${family.type} in other files; its ${type} samples are not served`;
    }
    if (key.help !== undefined && !family.hasHelp) {
      family.help = key.help;
      family.hasHelp = true;
    }

    let labels = key.labels;
    let op = Op.Sum;
    let role: SeriesRole = 'other';
    let bound = NaN;
    let identity: readonly Label[] = labels;
    let companion: Series | null = null;
    if (type === 'gauge') {
      op = OP_BY_MODE[file.parsed.mode!];
      if (op === Op.Last) labels = identity = withProcessLabel(labels, file.processId);
    } else if (type === 'histogram' || type === 'summary') {
      role = roleOf(key.sample, type, labels);
      if (role === 'bucket') {
        bound = parseBound(labels.find((l) => l[0] === 'le')![1]);
        // Bounds that are numerically equal (`1`, `1.0`) are one bucket; the first text seen is kept.
        identity = labels.map((l) => (l[0] === 'le' ? (['le', String(bound)] as const) : l));
        if (key.shape !== 'ruby') {
          // Python: per-bucket counts, and no `_count` on disk (synthesized from the buckets).
          op = Op.BucketCount;
          const countName = `${key.metric}_count`;
          const countLabels = labels.filter((l) => l[0] !== 'le');
          companion = family.seriesFor(seriesKey(countName, countLabels), countName, this.withConstLabels(countLabels), Op.Sum, 'count', NaN);
        }
      }
    }
    const series = family.seriesFor(seriesKey(key.sample, identity), key.sample, this.withConstLabels(labels), op, role, bound);
    return { family, series, companion };
  }

  /** Constant labels never override a label the series already has. */
  private withConstLabels(labels: readonly Label[]): readonly Label[] {
    if (this.constLabels.length === 0) return labels;
    const out = [...labels];
    for (const c of this.constLabels) if (!labels.some((l) => l[0] === c[0])) out.push(c);
    return out.length === labels.length ? labels : out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  private release(b: Binding): void {
    for (let i = 0; i < b.targets.length; i++) {
      const s = b.targets[i];
      const f = b.families[i];
      if (s != null && f != null) this.releaseSeries(f, s);
    }
    for (const [f, s] of b.companions) this.releaseSeries(f, s);
    b.targets = [];
    b.families = [];
    b.companions = [];
    b.bound = 0;
  }

  private releaseSeries(f: Family, s: Series): void {
    f.release(s);
    if (f.size === 0 && this.families.get(f.name) === f) {
      this.families.delete(f.name);
      this.orderDirty = true;
    }
  }
}

function inUse(s: Series): boolean {
  return s.refs > 0 || s.foldedRefs > 0;
}

function bindingContext(file: MappedFile): string {
  const mode = file.parsed.mode;
  if (mode === undefined) return file.parsed.type;
  return OP_BY_MODE[mode] === Op.Last ? `gauge:${mode}:${file.processId}` : `gauge:${mode}`;
}

/**
 * OpenMetrics family of a counter: Python stores (`requests`, `requests_total`), Ruby
 * (`requests_total`, `requests_total`); both are family `requests`. A Ruby counter not named
 * `…_total` keeps its own name (exposition marks it `unknown` in OpenMetrics).
 */
function counterFamilyName(key: DecodedKey): string {
  const base = key.metric.endsWith('_total') ? key.metric.slice(0, -6) : key.metric;
  return key.sample === `${base}_total` ? base : key.metric;
}

function roleOf(sample: string, type: 'histogram' | 'summary', labels: readonly Label[]): SeriesRole {
  if (sample.endsWith('_sum')) return 'sum';
  if (sample.endsWith('_count')) return 'count';
  if (type === 'histogram' && sample.endsWith('_bucket') && labels.some((l) => l[0] === 'le')) {
    const le = labels.find((l) => l[0] === 'le')![1];
    if (!Number.isNaN(parseBound(le))) return 'bucket';
  }
  return 'other';
}

function parseBound(le: string): number {
  if (le === '+Inf' || le === 'Inf' || le === 'inf') return Infinity;
  if (le === '-Inf' || le === '-inf') return -Infinity;
  const v = Number(le);
  return le.trim() === '' ? NaN : v;
}

/**
 * all/liveall gauges are per process: add `pid`. A user label already named `pid` becomes
 * `exported_pid` (Prometheus' convention for a clash) instead of yielding duplicate series.
 */
function withProcessLabel(labels: readonly Label[], processId: string): Label[] {
  const out: Label[] = [];
  for (const l of labels) out.push(l[0] === 'pid' ? ['exported_pid', l[1]] : l);
  out.push(['pid', processId]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
