/**
 * The push schedule: every `--push.interval`, one collection through the ScrapeService (the same
 * scan and merge a scrape uses, shared with one in flight), encoded once per protocol while the
 * families hold that collection's values, compressed, and queued on every target of the
 * protocol. On shutdown: one last collection, then the queues drain within the budget.
 */
import type { Logger } from '../logger.js';
import type { Label, MetricFamily } from '../merge/model.js';
import { SELF_PREFIX } from '../server/self-metrics.js';
import type { RawBatch, PushBatch } from './batch.js';
import { PushClient } from './client.js';
import type { PushConfig, PushTargetConfig } from './options.js';
import { gzipCompress, OtlpEncoder, OTLP_HEADERS, partialSuccess } from './otlp.js';
import { encodeRemoteWrite, REMOTE_WRITE_HEADERS, snappyCompress } from './remote-write.js';
import { PushTarget, type PushProtocol, type PushTargetMetrics } from './target.js';

/** Where the families come from: ScrapeService.collect. */
export interface FamilySource {
  collect<T>(use: (families: readonly MetricFamily[], collectedAtMs: number) => T): Promise<T>;
}

export interface PusherDeps {
  readonly source: FamilySource;
  readonly logger: Logger;
  readonly metricsFor: (target: string, protocol: PushProtocol['name']) => PushTargetMetrics;
  readonly userAgent: string;
  readonly scopeVersion: string;
  /** `--label`: the merged series have them already; the self metrics get them here, so that many pushing daemons' self series stay apart. */
  readonly constLabels: readonly Label[];
}

const REMOTE_WRITE: PushProtocol = { name: 'remote-write', headers: REMOTE_WRITE_HEADERS };
const OTLP: PushProtocol = { name: 'otlp', headers: OTLP_HEADERS, partial: partialSuccess };

/** The URL as shown in logs and the `target` label: without user, password or query. */
export function targetName(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** `labels` plus those of `extra` it lacks, sorted by name. */
function withLabels(labels: readonly Label[], extra: readonly Label[]): readonly Label[] {
  const missing = extra.filter(([n]) => !labels.some(([m]) => m === n));
  if (missing.length === 0) return labels;
  return [...labels, ...missing].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The self families (fresh objects every collection) with the constant labels. */
function labelSelf(families: readonly MetricFamily[], constLabels: readonly Label[]): readonly MetricFamily[] {
  if (constLabels.length === 0) return families;
  return families.map((f) => (f.name.startsWith(SELF_PREFIX) ? { ...f, samples: f.samples.map((s) => ({ name: s.name, labels: withLabels(s.labels, constLabels), value: s.value })) } : f));
}

export class Pusher {
  private readonly remoteWrite: PushTarget[] = [];
  private readonly otlp: PushTarget[] = [];
  private readonly otlpEncoder: OtlpEncoder;
  private timer: NodeJS.Timeout | null = null;
  private pushing: Promise<void> | null = null;
  private stopped = false;

  /** Throws an Error naming the flag when a TLS file cannot be read. */
  constructor(
    private readonly config: PushConfig,
    private readonly deps: PusherDeps,
  ) {
    const make = (t: PushTargetConfig, protocol: PushProtocol, flagPrefix: string): PushTarget => {
      const name = targetName(t.url);
      return new PushTarget({
        name,
        protocol,
        client: new PushClient(t.url, { ...t.client, timeoutMs: config.timeoutMs }, flagPrefix),
        maxQueueBatches: config.queueMaxBatches,
        minBackoffMs: config.minBackoffMs,
        maxBackoffMs: config.maxBackoffMs,
        userAgent: deps.userAgent,
        logger: deps.logger,
        metrics: deps.metricsFor(name, protocol.name),
      });
    };
    for (const t of config.remoteWrite) this.remoteWrite.push(make(t, REMOTE_WRITE, '--push.remote-write'));
    for (const t of config.otlp) this.otlp.push(make(t, OTLP, '--push.otlp'));
    this.otlpEncoder = new OtlpEncoder({ resourceAttributes: config.otlpResourceAttributes, scopeName: 'multiproc-exporter', scopeVersion: deps.scopeVersion });
  }

  get targets(): readonly PushTarget[] {
    return [...this.remoteWrite, ...this.otlp];
  }

  /** First push at once (after the first scan), then every interval. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.config.intervalMs);
  }

  /** One collection pushed to every target (queued; sending goes on in the background). */
  pushOnce(): Promise<void> {
    this.pushing ??= this.collectAndQueue().finally(() => {
      this.pushing = null;
    });
    return this.pushing;
  }

  /** A last push, then up to `budgetMs` for the queues to empty; what is left is counted dropped. */
  async stop(budgetMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    const deadline = Date.now() + budgetMs;
    await this.pushing;
    await this.pushOnce().catch((err: unknown) => this.deps.logger.error({ err }, 'push: the final collection failed'));
    await Promise.all(this.targets.map((t) => t.drain(deadline)));
  }

  private tick(): void {
    if (this.pushing !== null) return; // the previous collection is still being encoded: skip, do not pile up
    this.pushOnce().catch((err: unknown) => this.deps.logger.error({ err }, 'push: collection failed; tried again at the next interval'));
  }

  private async collectAndQueue(): Promise<void> {
    const max = this.config.maxSamplesPerSend;
    const encoded = await this.deps.source.collect((collected, at) => {
      const families = labelSelf(collected, this.deps.constLabels);
      return {
      at,
      remoteWrite: this.remoteWrite.length > 0 ? encodeRemoteWrite(families, at, max) : [],
      otlp: this.otlp.length > 0 ? this.otlpEncoder.encode(families, at, max) : [],
      };
    });
    const ready = async (raw: RawBatch[], compress: (m: Uint8Array) => Buffer | Promise<Buffer>): Promise<PushBatch[]> =>
      Promise.all(raw.map(async (r) => ({ body: await compress(r.message), samples: r.samples, collectedAtMs: encoded.at })));
    const [rw, ot] = await Promise.all([ready(encoded.remoteWrite, snappyCompress), ready(encoded.otlp, gzipCompress)]);
    for (const t of this.remoteWrite) t.enqueue(rw);
    for (const t of this.otlp) t.enqueue(ot);
  }
}
