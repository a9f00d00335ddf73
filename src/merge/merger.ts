/**
 * Entries → metric families. Each entry of a file is bound once to the series it contributes to
 * (by the dialect rules in rules.ts); a scrape then only adds values, `series.add(values[
 * valueIndex[i]])` per entry, with no key parsing and no allocation in steady state. A dead
 * writer's file is folded once into its series' folded state, which every scrape starts from.
 */
import type { DecodedKey } from '../format/key.js';
import { Op } from './accumulator.js';
import { Family } from './family.js';
import type { MergeInput } from './input.js';
import type { Label, MetricFamily } from './model.js';
import { bindingContext, familyNameOf, placeEntry } from './rules.js';
import { seriesKey, type Series } from './series.js';

export type { MergeInput };

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
  readonly file: MergeInput;
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

export class Merger {
  private readonly families = new Map<string, Family>();
  private readonly bindings = new Map<MergeInput, Binding>();
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
  merge(files: readonly MergeInput[]): readonly MetricFamily[] {
    const scan = ++this.scans;
    for (const file of files) this.bind(file).seen = scan;
    for (const [file, b] of this.bindings) {
      if (b.seen !== scan && !file.isOpen) {
        this.release(b);
        this.bindings.delete(file);
      }
    }

    for (const f of this.families.values()) f.reset();
    for (const file of files) addValues(this.bindings.get(file)!);

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
  fold(file: MergeInput): void {
    const b = this.bind(file);
    this.bindings.delete(file);
    const mode = file.parsed.mode;
    if (mode === undefined || !mode.startsWith('live')) {
      // The scrape's loop, starting from the folded state and kept as the new one.
      for (let i = 0; i < b.bound; i++) b.targets[i]?.reset();
      addValues(b);
      for (let i = 0; i < b.bound; i++) b.targets[i]?.keepFolded();
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

  private bind(file: MergeInput): Binding {
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
      if (byContext === undefined) this.resolved.set(key, (byContext = new Map<string, Resolved>()));
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
  private resolve(file: MergeInput, key: DecodedKey): Resolved | string {
    const type = file.parsed.type;
    const familyName = familyNameOf(type, key);
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
    const p = placeEntry(file, key);
    const c = p.companion;
    const companion = c === null ? null : family.seriesFor(seriesKey(c.name, c.labels), c.name, this.withConstLabels(c.labels), Op.Sum, 'count', NaN);
    const series = family.seriesFor(seriesKey(key.sample, p.identity), key.sample, this.withConstLabels(p.labels), p.op, p.role, p.bound);
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

/** The one loop over a file's values: each scrape adds them, and folding a dead file does it once. */
function addValues(b: Binding): void {
  const file = b.file;
  const values = file.values;
  const index = file.valueIndex;
  const targets = b.targets;
  const timestamps = file.slot === 16;
  for (let i = 0; i < b.bound; i++) {
    const s = targets[i];
    if (s == null) continue;
    const at = index[i]!;
    s.add(values[at]!, timestamps ? values[at + 1]! : 0);
  }
}

function inUse(s: Series): boolean {
  return s.refs > 0 || s.foldedRefs > 0;
}
