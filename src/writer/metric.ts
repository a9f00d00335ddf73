/**
 * What every writer metric shares: name/label validation as prom-client does it, and children
 * (one per label-value set) resolved once and cached, so a labelled call costs a map lookup.
 */
import { compareLabelNames, type Label } from '../format/label.js';
import { encodePythonKey, encodeRubyKey } from '../format/key.js';
import { isMetricName, isUserLabelName } from '../format/names.js';
import { metricFile, type MetricFile } from './metric-file.js';
import { settings, settingsAvailable, type WriterSettings } from './settings.js';

export type LabelValues = Readonly<Record<string, string | number>>;

export interface MetricConfiguration {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

/** Where a child's sample lives: the file and the index of its value in `file.f64`. */
export interface Slot {
  readonly file: MetricFile;
  readonly at: number;
}

export abstract class Metric<Child> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly children = new Map<string, Child>();
  private unlabelled: Child | undefined;

  constructor(config: MetricConfiguration, reservedLabels: readonly string[] = []) {
    if (config === null || typeof config !== 'object') throw new TypeError('a metric needs a configuration object { name, help }');
    const { name, help } = config;
    if (typeof name !== 'string' || !isMetricName(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    if (typeof help !== 'string' || help === '') throw new TypeError(`metric ${name}: help is required`);
    const labelNames = [...(config.labelNames ?? [])];
    for (const l of labelNames) {
      if (typeof l !== 'string' || !isUserLabelName(l)) throw new TypeError(`metric ${name}: invalid label name ${JSON.stringify(l)}`);
      if (reservedLabels.includes(l)) throw new TypeError(`metric ${name}: label name ${l} is reserved for this metric type`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new TypeError(`metric ${name}: duplicate label names`);
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /**
   * Subclasses call this at the end of their constructor: an unlabelled metric exists (at 0) from
   * its creation, as in the libraries, when the directory is already known.
   */
  protected init(): void {
    if (this.labelNames.length === 0 && settingsAvailable()) this.child(undefined);
  }

  /** The child for these label values: `labels('GET', 200)` or `labels({ method: 'GET', code: 200 })`. */
  labels(...values: (string | number)[] | [LabelValues]): Child {
    const first = values[0];
    if (values.length === 1 && first !== null && typeof first === 'object') return this.child(first);
    if (values.length !== this.labelNames.length) {
      throw new Error(`metric ${this.name}: expected ${this.labelNames.length} label values (${this.labelNames.join(', ')}), got ${values.length}`);
    }
    const obj: Record<string, string | number> = {};
    for (let i = 0; i < values.length; i++) obj[this.labelNames[i]!] = values[i] as string | number;
    return this.child(obj);
  }

  /** Child for a label object (undefined = no labels). */
  protected child(labels: LabelValues | undefined): Child {
    if (labels === undefined) {
      if (this.unlabelled !== undefined) return this.unlabelled;
      if (this.labelNames.length > 0) throw new Error(`metric ${this.name}: label values are required (${this.labelNames.join(', ')})`);
      this.unlabelled = this.createChild([], settings());
      return this.unlabelled;
    }
    let cacheKey = '';
    const names = this.labelNames;
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]!];
      if (v === undefined) throw new Error(`metric ${this.name}: missing label ${names[i]} (expected ${names.join(', ')})`);
      cacheKey += `${v}\u0000`;
    }
    const cached = this.children.get(cacheKey);
    if (cached !== undefined) return cached;
    for (const k of Object.keys(labels)) {
      if (!names.includes(k)) throw new Error(`metric ${this.name}: label ${k} is not one of its label names (${names.join(', ')})`);
    }
    const pairs: Label[] = names.map((n) => [n, String(labels[n])] as const);
    pairs.sort(compareLabelNames);
    const child = this.createChild(pairs, settings());
    this.children.set(cacheKey, child);
    return child;
  }

  protected abstract createChild(labels: readonly Label[], s: WriterSettings): Child;

  /** The slot of one sample of this metric in the file for `prefix` (the key as the layout's library writes it). */
  protected slot(prefix: string, s: WriterSettings, metric: string, sample: string, labels: readonly Label[]): Slot {
    const file = metricFile(prefix, s);
    const key = s.layout === 'ruby' ? encodeRubyKey(metric, sample, labels) : encodePythonKey(metric, sample, labels, this.help);
    return { file, at: file.valueIndex(key) };
  }
}

/** `inc(labels?, value?)`-style overloads: split the optional label object from the value. */
export function splitArgs(a: LabelValues | number | undefined, b: number | undefined, fallback: number): [LabelValues | undefined, number] {
  if (typeof a === 'object' && a !== null) return [a, b ?? fallback];
  return [undefined, a ?? fallback];
}

export function withLabel(labels: readonly Label[], name: string, value: string): Label[] {
  return [...labels, [name, value] as const].sort(compareLabelNames);
}
