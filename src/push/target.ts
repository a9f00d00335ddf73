/**
 * One push target: a bounded queue of compressed batches, sent one at a time in order (oldest
 * first, so a receiver that comes back gets the missed collections in time order), retried with
 * backoff on network errors, timeouts, 429 and 5xx, dropped on other statuses. When the queue is
 * full the oldest batch not in flight is dropped and counted: memory stays flat however long the
 * receiver is away.
 */
import type { Logger } from '../logger.js';
import type { PushBatch } from './batch.js';
import type { PushClient, SendResult } from './client.js';
import { disposition, RetryDelay, type RetryOptions } from './retry.js';

export type FailureReason = 'network' | 'timeout' | 'tls' | 'status_429' | 'status_5xx' | 'status_4xx' | 'status_other';
export type DropReason = 'queue_full' | 'rejected' | 'shutdown';

/** Self metrics of one target (see SelfMetrics.pushTarget). */
export interface PushTargetMetrics {
  sent(samples: number, atSeconds: number): void;
  failed(reason: FailureReason): void;
  dropped(reason: DropReason, batches: number, samples: number): void;
  queued(batches: number): void;
  /** One request's duration, answered or not. */
  observeRequest(seconds: number): void;
}

export interface PushProtocol {
  readonly name: 'remote-write' | 'otlp';
  readonly headers: Readonly<Record<string, string>>;
  /** A 2xx body that rejects part of the batch (OTLP partial success), else null. */
  partial?(body: Buffer): { rejected: number; message: string } | null;
}

export interface TargetOptions extends RetryOptions {
  /** The URL without credentials: the `target` label and what logs name. */
  readonly name: string;
  readonly protocol: PushProtocol;
  readonly client: PushClient;
  readonly maxQueueBatches: number;
  readonly userAgent: string;
  readonly logger: Logger;
  readonly metrics: PushTargetMetrics;
}

/** A retried failure streak is logged when it starts, then at most this often. */
const RETRY_LOG_INTERVAL_MS = 60_000;

export class PushTarget {
  private readonly queue: PushBatch[] = [];
  private inFlight: PushBatch | null = null;
  private running: Promise<void> | null = null;
  private readonly retry: RetryDelay;
  private wake: (() => void) | null = null;
  private closed = false;
  private lastRejection = '';
  private lastRetryLogAt = 0;
  private streakReason = '';

  constructor(private readonly o: TargetOptions) {
    this.retry = new RetryDelay(o);
  }

  get name(): string {
    return this.o.name;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  /** Queue a collection's batches (dropping the oldest beyond the bound) and make sure they are being sent. */
  enqueue(batches: readonly PushBatch[]): void {
    if (this.closed) {
      this.o.metrics.dropped('shutdown', batches.length, batches.reduce((n, b) => n + b.samples, 0));
      return;
    }
    for (const b of batches) {
      this.queue.push(b);
      if (this.queue.length > this.o.maxQueueBatches) {
        const victim = this.queue[0] === this.inFlight ? 1 : 0;
        const [old] = this.queue.splice(victim, 1);
        this.o.metrics.dropped('queue_full', 1, old!.samples);
      }
    }
    this.o.metrics.queued(this.queue.length);
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
  }

  /**
   * Shutdown: keep sending what is queued until `deadlineMs` (epoch ms), then abort the request
   * in flight and count what is left as dropped. Resolves when nothing more will be sent.
   */
  async drain(deadlineMs: number): Promise<void> {
    const left = deadlineMs - Date.now();
    if (this.running !== null && left > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
    this.closed = true;
    this.wake?.();
    this.o.client.close(); // aborts a request still in flight
    await this.running;
    if (this.queue.length > 0) {
      const samples = this.queue.reduce((n, b) => n + b.samples, 0);
      this.o.logger.warn({ target: this.o.name, batches: this.queue.length, samples }, 'push: shutdown budget spent with batches still queued: dropped');
      this.o.metrics.dropped('shutdown', this.queue.length, samples);
      this.queue.length = 0;
      this.o.metrics.queued(0);
    }
  }

  private async run(): Promise<void> {
    while (!this.closed && this.queue.length > 0) {
      const batch = this.queue[0]!;
      this.inFlight = batch;
      const started = performance.now();
      const result = await this.o.client.send(batch.body, this.o.protocol.headers, this.o.userAgent);
      this.o.metrics.observeRequest((performance.now() - started) / 1000);
      this.inFlight = null;
      if (this.closed && result.kind !== 'answered') return; // aborted by drain(): counted there
      const delay = this.settle(batch, result);
      this.o.metrics.queued(this.queue.length);
      if (delay > 0 && !this.closed) await this.sleep(delay);
    }
  }

  /** Act on one attempt's result; the delay before the next attempt (0: go on). */
  private settle(batch: PushBatch, result: SendResult): number {
    const d = result.kind === 'answered' ? disposition(result.status) : 'retry';
    if (d === 'sent') {
      this.remove(batch);
      const partial = result.kind === 'answered' ? (this.o.protocol.partial?.(result.body) ?? null) : null;
      this.o.metrics.sent(batch.samples - (partial?.rejected ?? 0), Date.now() / 1000);
      if (partial !== null) {
        this.o.metrics.dropped('rejected', 0, partial.rejected);
        this.logRejection(`partial success: ${partial.rejected} data points rejected: ${partial.message}`, 'push: the receiver accepted the batch in part (not retried)');
      }
      if (this.retry.consecutiveFailures > 0) {
        this.o.logger.info({ target: this.o.name, failures: this.retry.consecutiveFailures, queued: this.queue.length }, 'push: sending again after failures');
        this.retry.reset();
        this.streakReason = '';
      }
      return 0;
    }
    if (d === 'reject' && result.kind === 'answered') {
      this.remove(batch);
      this.o.metrics.failed(result.status >= 400 && result.status < 500 ? 'status_4xx' : 'status_other');
      this.o.metrics.dropped('rejected', 1, batch.samples);
      this.logRejection(`HTTP ${result.status}: ${answerText(result.body)}`, 'push: the receiver refused the batch: dropped, not retried (logged once per distinct answer)');
      return 0;
    }
    const reason: FailureReason = result.kind === 'answered' ? (result.status === 429 ? 'status_429' : 'status_5xx') : result.kind;
    this.o.metrics.failed(reason);
    const retryAfterMs = result.kind === 'answered' ? result.retryAfterMs : null;
    const delayMs = this.retry.next(retryAfterMs);
    const why = result.kind === 'answered' ? `HTTP ${result.status}: ${answerText(result.body)}` : result.message;
    const now = Date.now();
    if (reason !== this.streakReason || now - this.lastRetryLogAt >= RETRY_LOG_INTERVAL_MS) {
      this.streakReason = reason;
      this.lastRetryLogAt = now;
      this.o.logger.warn(
        { target: this.o.name, reason, failures: this.retry.consecutiveFailures, retryInMs: delayMs, retryAfterMs, queued: this.queue.length },
        `push failed: ${why}; retrying (oldest batches dropped beyond --push.queue.max-batches)`,
      );
    }
    return delayMs;
  }

  private logRejection(message: string, what: string): void {
    if (message === this.lastRejection) return;
    this.lastRejection = message;
    this.o.logger.error({ target: this.o.name, answer: message }, what);
  }

  private remove(batch: PushBatch): void {
    const i = this.queue.indexOf(batch);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}

/** The server's message, readable in one log line. */
function answerText(body: Buffer): string {
  const text = body.toString('utf8').replace(/[^\x20-\x7e\u00a0-\uffff]+/g, ' ').trim();
  if (text === '') return '(empty answer)';
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
