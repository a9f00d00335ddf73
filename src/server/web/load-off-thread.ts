/**
 * Loading the web settings (the web config file, or the --tls.cert-file/--tls.key-file pair):
 * `loadWebSource` on the calling thread (at start, before anything listens), and
 * `loadWebSourceOffThread`, the same in a worker thread with a time limit, for a SIGHUP reload:
 * neither a slow file system nor a large file to parse (YAML of 1 MiB takes seconds) holds up the
 * main thread, so health, metrics and signals are answered meanwhile. The files themselves are
 * read by regular-file.ts (regular files only, O_NONBLOCK, at most 1 MiB). This module is also
 * the worker's entry point.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadWebConfig, NO_WEB_CONFIG, WebConfigError, type WebConfig } from './config.js';
import { errorMessage } from './config-file.js';
import { tlsFromFiles } from './tls.js';

/** Where the web settings come from (the daemon's flags). */
export interface WebSource {
  readonly webConfigFile: string | undefined;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
}

/** A load not done by then is abandoned (the worker is terminated) and fails. */
export const WEB_LOAD_TIMEOUT_MS = 10_000;

/** Heap of the loading worker: a 1 MiB file parses in far less. */
const WORKER_HEAP_MB = 256;

const MARK = 'multiproc-exporter:web-load';

type Outcome = { readonly ok: true; readonly web: WebConfig } | { readonly ok: false; readonly message: string; readonly webConfigError: boolean };

/** The web settings, read and validated on this thread (the worker's job; also usable directly). */
export function loadWebSource(source: WebSource): WebConfig {
  if (source.webConfigFile !== undefined) return loadWebConfig(source.webConfigFile);
  const tls = source.tlsCertFile !== undefined && source.tlsKeyFile !== undefined ? tlsFromFiles(source.tlsCertFile, source.tlsKeyFile) : null;
  return { ...NO_WEB_CONFIG, tls };
}

/** loadWebSource in a worker thread: a WebConfigError for a bad config or one not loaded in time. */
export function loadWebSourceOffThread(source: WebSource, timeoutMs: number = WEB_LOAD_TIMEOUT_MS): Promise<WebConfig> {
  const what = source.webConfigFile !== undefined ? `web config ${source.webConfigFile}` : `TLS files ${source.tlsCertFile ?? ''}, ${source.tlsKeyFile ?? ''}`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { [MARK]: { ...source } },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
      void worker.terminate();
    };
    const timer = setTimeout(() => {
      worker.unref(); // if it is stuck in a system call, terminate() cannot end it: do not wait for it
      settle(() => reject(new WebConfigError(`${what}: not loaded within ${timeoutMs} ms (a file on a hung file system?); abandoned`)));
    }, timeoutMs);
    worker.once('message', (outcome: Outcome) => {
      settle(() => (outcome.ok ? resolve(outcome.web) : reject(outcome.webConfigError ? new WebConfigError(outcome.message) : new Error(outcome.message))));
    });
    worker.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `loading it needs more than ${WORKER_HEAP_MB} MB` : errorMessage(err);
      settle(() => reject(new WebConfigError(`${what}: ${why}`)));
    });
    worker.once('exit', (code) => settle(() => reject(new WebConfigError(`${what}: the loading thread exited (${code}) without an answer`))));
  });
}

if (!isMainThread && parentPort !== null && (workerData as Record<string, unknown> | null)?.[MARK] !== undefined) {
  const source = (workerData as Record<string, WebSource>)[MARK] as WebSource;
  let outcome: Outcome;
  try {
    outcome = { ok: true, web: loadWebSource(source) };
  } catch (err) {
    outcome = { ok: false, message: errorMessage(err), webConfigError: err instanceof WebConfigError };
  }
  parentPort.postMessage(outcome);
}
