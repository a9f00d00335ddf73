/**
 * One scrape: scan + merge the directory, add the self metrics, render in the negotiated format,
 * gzip if asked. Scrapes that arrive while one is being prepared share it (single flight), and
 * so do their rendered and compressed bodies.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback, constants as zlib } from 'node:zlib';
import type { Collection, Collector } from '../collector.js';
import { contentType, render, type Format } from '../exposition/index.js';
import { ExpositionGate, type Rejection } from '../exposition/gate.js';
import type { MetricFamily } from '../merge/model.js';
import { DirectoryError, type FileStatus } from '../reader/directory.js';
import type { Logger } from '../logger.js';
import type { SelfMetrics } from './self-metrics.js';
import { UNSCRAPED_MAX_AGE_MS, type WorkerProcessMetrics } from './worker-process-metrics.js';

const gzip = promisify(gzipCallback);

export interface ScrapeBody {
  readonly body: Buffer;
  readonly contentType: string;
  readonly gzipped: boolean;
}

export interface DirectoryStatus {
  /** A scan has succeeded since start, and the last scan succeeded. */
  readonly ready: boolean;
  /** Why not ready (for /readiness), else null. */
  readonly reason: string | null;
}

/** One scrape as the status page shows it. */
export interface ScrapeTiming {
  /** When it began, UNIX seconds. */
  readonly at: number;
  /** Scan, merge and self metrics (what `multiproc_exporter_scrape_duration_seconds` measures), ms. */
  readonly durationMs: number;
  /** Files it read (live writers'; dead writers' files are folded, not read again). */
  readonly files: number;
  readonly families: number;
}

/** How many recent scrapes the status page lists. */
export const RECENT_SCRAPES = 10;

/** The state of one prepared scrape: families are rendered at most once per format. */
class Snapshot {
  private readonly bodies = new Map<string, Promise<ScrapeBody>>();

  constructor(
    readonly families: readonly MetricFamily[],
    /** When the scan ended (ms since epoch): the push's sample timestamps. */
    readonly collectedAtMs: number = Date.now(),
  ) {}

  /**
   * Called synchronously right after the snapshot resolves (before the next scan can run and
   * update the families in place), so rendering sees this scan's values.
   */
  body(format: Format, gzipped: boolean): Promise<ScrapeBody> {
    const key = `${format}/${gzipped}`;
    let p = this.bodies.get(key);
    if (p === undefined) {
      const plain = this.bodies.get(`${format}/false`);
      const type = contentType(format);
      const text = plain === undefined ? Buffer.from(render(format, this.families)) : undefined;
      if (!gzipped) {
        p = Promise.resolve({ body: text!, contentType: type, gzipped: false });
      } else {
        const source = text !== undefined ? Promise.resolve(text) : plain!.then((b) => b.body);
        p = source.then(async (b) => ({ body: await gzip(b, { level: zlib.Z_BEST_SPEED }), contentType: type, gzipped: true }));
      }
      this.bodies.set(key, p);
    }
    return p;
  }
}

export class ScrapeService {
  private inflight: Promise<Snapshot> | null = null;
  private status: DirectoryStatus = { ready: false, reason: 'no scan yet' };
  private readonly reportedProblems = new Set<string>();
  private readonly gate = new ExpositionGate();
  /** Rejections already logged (each is logged once while it lasts). */
  private reportedRejections = new Set<string>();
  /** Files were served while no writer's process was seen: warned once until that changes. */
  private warnedBlind = false;
  /** The last RECENT_SCRAPES scrapes, newest first. */
  private readonly timings: ScrapeTiming[] = [];

  constructor(
    private readonly collector: Collector,
    private readonly self: SelfMetrics,
    private readonly logger: Logger,
    /** Called after every scan with whether the directory was readable (e.g. to re-arm a watch). */
    private readonly afterScan: (readable: boolean) => void = () => {},
    /** Per-worker process metrics (--collector.worker-process), read once per scan; null = off. */
    private readonly workerProcesses: WorkerProcessMetrics | null = null,
  ) {}

  /** The body of a scrape in this format; joins a scrape already being prepared. */
  async scrape(format: Format, gzipped: boolean): Promise<ScrapeBody> {
    const snapshot = await this.prepare(true);
    return snapshot.body(format, gzipped);
  }

  /**
   * A fresh scan (joined with one in flight) handed to `use` synchronously, while its families
   * hold this scan's values: the push encodes them there, from the same collection path as a scrape.
   */
  async collect<T>(use: (families: readonly MetricFamily[], collectedAtMs: number) => T): Promise<T> {
    const snapshot = await this.prepare(false);
    return use(snapshot.families, snapshot.collectedAtMs);
  }

  /** Every file known at the last scan, with its writer's state (status page, worker health). */
  files(): FileStatus[] {
    return this.collector.directory.status();
  }

  /** The last scrapes (not scans without a response), newest first. */
  recentScrapes(): readonly ScrapeTiming[] {
    return this.timings;
  }

  /** A scan without a response (fs.watch hint, readiness check): indexes new files early. */
  async scan(): Promise<DirectoryStatus> {
    await this.prepare(false);
    return this.status;
  }

  private prepare(timed: boolean): Promise<Snapshot> {
    if (this.inflight === null) {
      this.inflight = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.build(timed))
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }

  private async build(timed: boolean): Promise<Snapshot> {
    const end = timed ? this.self.scrapeDuration.startTimer() : undefined;
    const at = Date.now();
    const started = performance.now();
    let merged: readonly MetricFamily[] = [];
    let served: Collection['files'] = [];
    try {
      const collection = this.collector.collect();
      served = collection.files;
      merged = this.gate.admit(collection.families);
      this.self.observeRejections(this.gate.rejections);
      this.reportRejections(this.gate.rejections);
      this.self.observe(collection, this.collector.seriesCount);
      this.report(collection);
      this.setStatus(true, null);
    } catch (e) {
      if (!(e instanceof DirectoryError)) throw e;
      this.self.observeUnreadable();
      this.setStatus(false, e.message);
    }
    const workers = this.workerProcesses?.families(served, timed ? 0 : UNSCRAPED_MAX_AGE_MS) ?? [];
    if (end !== undefined) {
      end();
      this.timings.unshift({ at: at / 1000, durationMs: performance.now() - started, files: served.length, families: merged.length });
      if (this.timings.length > RECENT_SCRAPES) this.timings.pop();
    }
    const self = await this.self.families();
    if (workers.length > 0) self.push(...workers);
    // The self families are fresh objects each time; merged ones are updated in place by the
    // next scan, which cannot start before this snapshot's bodies are rendered (see Snapshot).
    return new Snapshot(merged.length === 0 ? self : [...merged, ...self]);
  }

  /** Ready = the last scan could read the directory (so at least one scan succeeded). */
  private setStatus(readable: boolean, reason: string | null): void {
    const was = this.status;
    this.status = { ready: readable, reason: readable ? null : reason };
    const dir = this.collector.directory.path;
    if (readable && !was.ready) this.logger.info({ dir }, 'metrics directory readable: ready');
    if (!readable && (was.ready || was.reason !== reason)) {
      this.logger.warn({ dir, reason }, 'metrics directory not readable: not ready (retried on every scrape and readiness check)');
    }
    this.afterScan(readable);
  }

  /** One log line per family or series the gate newly leaves out; again if it comes back after passing. */
  private reportRejections(rejections: readonly Rejection[]): void {
    const now = new Set<string>();
    for (const r of rejections) {
      const key = `${r.reason}\u0000${r.family}\u0000${r.series ?? ''}`;
      now.add(key);
      if (!this.reportedRejections.has(key) && now.size <= 1_000) {
        this.logger.warn({ reason: r.reason, family: r.family, ...(r.series === undefined ? {} : { series: r.series }) }, `exposition: ${r.message}`);
      }
    }
    this.reportedRejections = now;
  }

  /** One log line per newly skipped file or newly found merge problem, not one per scrape. */
  private report(collection: Collection): void {
    for (const s of collection.skipped) {
      // A new worker's file caught before its header is written is normal operation: debug, not warn.
      if (s.isNew) this.logger[s.reason === 'empty_file' ? 'debug' : 'warn']({ file: s.fileName, reason: s.reason }, s.message);
    }
    this.reportVisibility(collection);
    for (const p of collection.problems) {
      const key = `${p.fileName}\u0000${p.message}`;
      if (this.reportedProblems.has(key)) continue;
      if (this.reportedProblems.size >= 10_000) this.reportedProblems.clear(); // bounded; may log again
      this.reportedProblems.add(key);
      this.self.problemReported();
      this.logger.warn({ file: p.fileName, reason: 'type_conflict' }, `${this.collector.directory.path}/${p.fileName}: ${p.message}`);
    }
  }

  /** `writers_visible`, and one warning when files are served but none of their writers is seen. */
  private reportVisibility(collection: Collection): void {
    const dir = this.collector.directory;
    if (dir.livenessMode === 'off') return this.self.observeWritersVisible(null);
    const visible = dir.writersVisible || collection.files.some((f) => f.writerState === 'live');
    this.self.observeWritersVisible(visible);
    const blind = !visible && collection.files.length > 0;
    if (blind && !this.warnedBlind) {
      this.logger.warn(
        { dir: dir.path, files: collection.files.length, liveness: dir.livenessMode },
        "no writer's process is visible (none holds a file's lock, none is seen mapping a file): the writers run in another pid namespace or as another user, so a dead writer cannot be told from a live one and its live* gauges stay served; run the daemon in the workers' pid namespace (Kubernetes: shareProcessNamespace: true; or `multiproc-exporter run -- COMMAND`)",
      );
    }
    this.warnedBlind = blind;
  }
}
