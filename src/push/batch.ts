/**
 * What an encoder hands to the senders: one request body's worth of samples, not yet compressed.
 */
export interface RawBatch {
  /** The encoded protobuf message. */
  readonly message: Uint8Array;
  /** Samples (remote write) or data points (OTLP) in it. */
  readonly samples: number;
}

/** A batch ready to send: compressed, with when its values were collected (ms since epoch). */
export interface PushBatch {
  readonly body: Buffer;
  readonly samples: number;
  readonly collectedAtMs: number;
}

/** The number of samples (or data points) a request carries at most: `--push.max-samples-per-send`. */
export const DEFAULT_MAX_SAMPLES_PER_SEND = 2_000;
