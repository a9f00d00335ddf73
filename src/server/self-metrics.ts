/**
 * The exporter's own metrics (prom-client, its own registry), appended to every /metrics
 * response. Every name starts with `multiproc_exporter_`, a namespace the exposition gate closes
 * to merged families, so none collides with merged metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Collection } from '../collector.js';
import type { CompactionResult } from '../compaction/compactor.js';
import type { Label } from '../format/label.js';
import type { NativeSource } from '../native.js';
import type { MetricFamily, MetricType, Sample } from '../merge/model.js';
import { dialectOf } from '../reader/mapped-file.js';
import type { Rejection } from '../exposition/gate.js';
import { SELF_PREFIX } from '../format/reserved.js';
import { formatValue } from '../exposition/number.js';
import type { DropReason, FailureReason, PushTargetMetrics } from '../push/target.js';

export { SELF_PREFIX };

/**
 * prom-client's process and Node.js metrics (CPU, memory, open fds, event-loop lag, GC) cost
 * more to collect than a whole scan of a small directory; under many concurrent scrapers they
 * are sampled at most this often and shared.
 */
export const PROCESS_METRICS_MAX_AGE_MS = 1_000;

export class SelfMetrics {
  readonly registry = new Registry();
  private readonly processRegistry = new Registry();
  private processSample: { readonly at: number; readonly families: readonly MetricFamily[] } | null = null;
  readonly scrapeDuration: Histogram;
  private readonly files: Gauge;
  private readonly filesSkipped: Gauge;
  private readonly skippedTotal: Counter;
  private readonly entries: Gauge;
  private readonly series: Gauge;
  private readonly mappedBytes: Gauge;
  private readonly directoryReadable: Gauge;
  private readonly directoryTmpfs: Gauge;
  private readonly writersVisible: Gauge;
  /** Label-less gauges that are not told right now (prom-client would show them as 0): left out. */
  private readonly untold = new Set<string>([`${SELF_PREFIX}directory_tmpfs`, `${SELF_PREFIX}writers_visible`]);
  private readonly writerFiles: Gauge;
  private readonly rejected: Gauge;
  readonly scrapeErrors: Counter;
  private readonly compactions: Counter;
  private readonly compactedFiles: Counter;
  readonly scrapesRejected: Counter;
  private readonly reloadOk: Gauge;
  private pushMetrics: { sent: Counter; failed: Counter; dropped: Counter; droppedSamples: Counter; queue: Gauge; lastSuccess: Gauge; duration: Histogram } | null = null;

  /**
   * `faults`: SIGBUS faults the native addon absorbed (files shrunk while mapped), if loaded;
   * `logWriteErrors`: log lines the log file could not take (they went to stderr).
   */
  constructor(info: { version: string; native: NativeSource | 'none'; faults?: () => number; logWriteErrors?: () => number }) {
    const registers = [this.registry];
    this.scrapeDuration = new Histogram({
      name: `${SELF_PREFIX}scrape_duration_seconds`,
      help: 'Time to read, merge and render the metrics directory for one /metrics response.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.files = new Gauge({
      name: `${SELF_PREFIX}files`,
      help: 'Files served in the last scan, by metric type and the dialect that wrote them.',
      labelNames: ['type', 'dialect'],
      registers,
    });
    this.filesSkipped = new Gauge({
      name: `${SELF_PREFIX}files_skipped`,
      help: 'Files not served in the last scan, by reason (type_conflict: served in part).',
      labelNames: ['reason'],
      registers,
    });
    this.skippedTotal = new Counter({
      name: `${SELF_PREFIX}skipped_files_total`,
      help: 'Times a file started being skipped, by reason (each is logged once).',
      labelNames: ['reason'],
      registers,
    });
    this.entries = new Gauge({ name: `${SELF_PREFIX}entries`, help: 'Entries indexed in the served files.', registers });
    this.series = new Gauge({ name: `${SELF_PREFIX}series`, help: 'Merged series known.', registers });
    this.mappedBytes = new Gauge({ name: `${SELF_PREFIX}mapped_bytes`, help: 'Bytes of metric files currently memory-mapped.', registers });
    this.writerFiles = new Gauge({
      name: `${SELF_PREFIX}writer_files`,
      help: "Files by their writer's state: live (seen alive), unknown (cannot tell; served as live), dead (folded, no longer read).",
      labelNames: ['state'],
      registers,
    });
    this.rejected = new Gauge({
      name: `${SELF_PREFIX}exposition_rejected`,
      help: 'Merged families and series left out of the last scrape because Prometheus or a strict parser would reject them, by reason (each is logged once).',
      labelNames: ['reason'],
      registers,
    });
    this.directoryReadable = new Gauge({
      name: `${SELF_PREFIX}directory_readable`,
      help: '1 if the last scan could read the metrics directory, else 0.',
      registers,
    });
    this.directoryTmpfs = new Gauge({
      name: `${SELF_PREFIX}directory_tmpfs`,
      help: 'Whether the metrics directory is on tmpfs or ramfs (1), where writers pay no page write-back, or on another filesystem (0).',
      registers,
    });
    this.writersVisible = new Gauge({
      name: `${SELF_PREFIX}writers_visible`,
      help: "1 if the daemon sees the writers' processes (a file's lock held, or a process mapping a file), so dead writers are told from live ones; 0 if files are served but no writer is seen (another pid namespace); absent with --liveness off.",
      registers,
    });
    this.scrapeErrors = new Counter({
      name: `${SELF_PREFIX}scrape_errors_total`,
      help: 'Scans that failed because the metrics directory could not be read.',
      registers,
    });
    this.compactions = new Counter({ name: `${SELF_PREFIX}compactions_total`, help: 'Compaction runs (--compaction).', registers });
    this.compactedFiles = new Counter({
      name: `${SELF_PREFIX}compacted_files_total`,
      help: "Dead writers' files deleted by compaction: absorbed into an archive, or a live* gauge file dropped.",
      labelNames: ['how'],
      registers,
    });
    this.scrapesRejected = new Counter({
      name: `${SELF_PREFIX}scrapes_rejected_total`,
      help: 'Scrapes answered 503 because --web.max-requests scrapes were already in flight.',
      registers,
    });
    this.reloadOk = new Gauge({
      name: `${SELF_PREFIX}web_config_last_reload_successful`,
      help: '1 if the last SIGHUP reload of the web config succeeded (or none happened), 0 if it failed and the previous one is still in use.',
      registers,
    });
    this.reloadOk.set(1);
    const faults = info.faults ?? (() => 0);
    new Counter({
      name: `${SELF_PREFIX}shrunk_file_faults_total`,
      help: 'Pages of mapped files that another process shrank, read as zeros instead of crashing (SIGBUS absorbed); those files are remapped on the next scan.',
      registers,
      collect() {
        this.reset();
        this.inc(faults());
      },
    });
    const logWriteErrors = info.logWriteErrors ?? (() => 0);
    new Counter({
      name: `${SELF_PREFIX}log_write_errors_total`,
      help: 'Log lines that could not be written to --log.file (the file is then given up: logs go to stderr).',
      registers,
      collect() {
        this.reset();
        this.inc(logWriteErrors());
      },
    });
    new Gauge({
      name: `${SELF_PREFIX}build_info`,
      help: 'Version of multiproc-exporter and Node.js; native is the mmap addon in use: prebuilt (shipped in the package), compiled (built from source) or none (plain reads).',
      labelNames: ['version', 'nodejs_version', 'native'],
      registers,
    }).set({ version: info.version, nodejs_version: process.version, native: info.native }, 1);
    collectDefaultMetrics({ register: this.processRegistry, prefix: SELF_PREFIX });
    // Gauges named `_total` (sums of the per-type gauges beside them): `promtool check metrics`
    // fails any exposition holding one (exit 3), so the daemon's output would never lint clean.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.processRegistry.removeSingleMetric(`${SELF_PREFIX}${name}`);
    }
  }

  /** Record what one scan found. */
  observe(collection: Collection, seriesCount: number): void {
    this.directoryReadable.set(1);
    this.files.reset();
    let entries = 0;
    let mapped = 0;
    let live = 0;
    for (const f of collection.files) {
      this.files.inc({ type: f.parsed.type, dialect: dialectOf(f) });
      if (f.writerState === 'live') live++;
      entries += f.entryCount;
      mapped += f.mappedBytes;
    }
    this.filesSkipped.reset();
    for (const s of collection.skipped) {
      this.filesSkipped.inc({ reason: s.reason });
      if (s.isNew) this.skippedTotal.inc({ reason: s.reason });
    }
    // A file with entries the merge cannot place is served only in part: counted too.
    for (let i = 0; i < collection.problems.length; i++) this.filesSkipped.inc({ reason: 'type_conflict' });
    this.entries.set(entries);
    this.series.set(seriesCount);
    this.mappedBytes.set(mapped);
    this.writerFiles.set({ state: 'live' }, live);
    this.writerFiles.set({ state: 'unknown' }, collection.files.length - live);
    this.writerFiles.set({ state: 'dead' }, collection.folded);
  }

  /** What the exposition gate left out of this scrape. */
  observeRejections(rejections: readonly Rejection[]): void {
    this.rejected.reset();
    for (const r of rejections) this.rejected.inc({ reason: r.reason });
  }

  observeCompaction(r: CompactionResult): void {
    this.compactions.inc();
    this.compactedFiles.inc({ how: 'absorbed' }, r.deleted.length);
    this.compactedFiles.inc({ how: 'dropped_live' }, r.droppedLive.length);
  }

  /** A merge problem reported (and logged) for the first time. */
  problemReported(): void {
    this.skippedTotal.inc({ reason: 'type_conflict' });
  }

  /** The metrics directory's filesystem, when it could be told (checked at start and when the directory is recreated). */
  observeFilesystem(inMemory: boolean | null): void {
    this.tell(`${SELF_PREFIX}directory_tmpfs`, inMemory !== null);
    if (inMemory !== null) this.directoryTmpfs.set(inMemory ? 1 : 0);
  }

  /** Whether writers' processes are seen (null: --liveness off, not told). */
  observeWritersVisible(visible: boolean | null): void {
    this.tell(`${SELF_PREFIX}writers_visible`, visible !== null);
    if (visible !== null) this.writersVisible.set(visible ? 1 : 0);
  }

  webConfigReloaded(ok: boolean): void {
    this.reloadOk.set(ok ? 1 : 0);
  }

  observeUnreadable(): void {
    this.directoryReadable.set(0);
    this.scrapeErrors.inc();
    this.files.reset();
    this.filesSkipped.reset();
    this.entries.set(0);
    this.series.set(0);
    this.mappedBytes.set(0);
    this.writerFiles.reset();
  }

  /** The self metrics of one push target (`--push.*`), labelled with its URL and protocol. */
  pushTarget(target: string, protocol: string): PushTargetMetrics {
    const registers = [this.registry];
    const labelNames = ['target', 'protocol'];
    this.pushMetrics ??= {
      sent: new Counter({ name: `${SELF_PREFIX}push_samples_sent_total`, help: 'Samples (OTLP: data points) the push target accepted.', labelNames, registers }),
      failed: new Counter({
        name: `${SELF_PREFIX}push_failed_requests_total`,
        help: 'Push requests that failed, by reason (network, timeout, tls, status_429, status_5xx: retried; status_4xx, status_other: dropped).',
        labelNames: [...labelNames, 'reason'],
        registers,
      }),
      dropped: new Counter({
        name: `${SELF_PREFIX}push_dropped_batches_total`,
        help: 'Push batches given up, by reason: queue_full (oldest dropped while the target was failing), rejected (a 4xx answer), shutdown (not sent within the shutdown budget).',
        labelNames: [...labelNames, 'reason'],
        registers,
      }),
      droppedSamples: new Counter({ name: `${SELF_PREFIX}push_dropped_samples_total`, help: 'Samples in the dropped batches (and data points an OTLP receiver rejected), by reason.', labelNames: [...labelNames, 'reason'], registers }),
      queue: new Gauge({ name: `${SELF_PREFIX}push_queue_batches`, help: 'Batches waiting to be sent to the push target (including one being sent).', labelNames, registers }),
      lastSuccess: new Gauge({ name: `${SELF_PREFIX}push_last_success_timestamp_seconds`, help: 'When the push target last accepted a batch (0: never).', labelNames, registers }),
      duration: new Histogram({
        name: `${SELF_PREFIX}push_request_duration_seconds`,
        help: 'Duration of push requests, answered or not.',
        labelNames,
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers,
      }),
    };
    const m = this.pushMetrics;
    const l = { target, protocol };
    m.sent.inc(l, 0);
    m.queue.set(l, 0);
    m.lastSuccess.set(l, 0);
    for (const reason of ['queue_full', 'rejected', 'shutdown'] as const) {
      m.dropped.inc({ ...l, reason }, 0);
      m.droppedSamples.inc({ ...l, reason }, 0);
    }
    return {
      sent: (samples, atSeconds) => {
        m.sent.inc(l, samples);
        m.lastSuccess.set(l, atSeconds);
      },
      failed: (reason: FailureReason) => m.failed.inc({ ...l, reason }),
      dropped: (reason: DropReason, batches, samples) => {
        m.dropped.inc({ ...l, reason }, batches);
        m.droppedSamples.inc({ ...l, reason }, samples);
      },
      queued: (batches) => m.queue.set(l, batches),
      observeRequest: (seconds) => m.duration.observe(l, seconds),
    };
  }

  /** The current values as metric families for our renderers (process metrics: see PROCESS_METRICS_MAX_AGE_MS). */
  async families(): Promise<MetricFamily[]> {
    const now = Date.now();
    if (this.processSample === null || now - this.processSample.at >= PROCESS_METRICS_MAX_AGE_MS) {
      this.processSample = { at: now, families: (await this.processRegistry.getMetricsAsJSON()).map(toFamily) };
    }
    const own = (await this.registry.getMetricsAsJSON()).filter((m) => !this.untold.has(m.name));
    return [...own.map(toFamily), ...this.processSample.families];
  }

  private tell(name: string, known: boolean): void {
    if (known) this.untold.delete(name);
    else this.untold.add(name);
  }
}

function toFamily(m: MetricObjectWithValues<MetricValue<string>>): MetricFamily {
  const t = String(m.type);
  const type: MetricType = t === 'counter' || t === 'gauge' || t === 'histogram' || t === 'summary' ? t : 'unknown';
  const name = type === 'counter' && m.name.endsWith('_total') ? m.name.slice(0, -6) : m.name;
  const samples: Sample[] = m.values.map((v) => {
    const withName = v as MetricValue<string> & { metricName?: string };
    const labels: Label[] = Object.entries(v.labels)
      .filter(([, value]) => value !== undefined && value !== '')
      .map(([k, value]) => [k, typeof value === 'number' ? formatValue(value) : String(value)] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return { name: withName.metricName ?? m.name, labels, value: v.value };
  });
  return { name, type, help: m.help, samples };
}
