/**
 * `serve`: wires the reader (Collector + fs.watch hint), the self metrics, the HTTP listeners,
 * logs and signals. Bad configuration is a ConfigError (the CLI exits 2 with its message).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Collector } from './collector.js';
import { ConfigError, formatListenAddress, type Config, type ListenAddress } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { loadNative, nativeAddon, nativeLoadError } from './native.js';
import { DirectoryWatch } from './reader/directory-watch.js';
import { directoryFilesystem } from './reader/filesystem.js';
import { Compactor, type CrashPoint } from './compaction/compactor.js';
import { GracefulClose } from './server/graceful-close.js';
import { createListener, createRequestHandler } from './server/http-server.js';
import { ScrapeService } from './server/scrape.js';
import { SelfMetrics } from './server/self-metrics.js';
import { WebConfigError, type WebConfig } from './server/web/config.js';
import { loadWebSource, loadWebSourceOffThread } from './server/web/load-off-thread.js';
import { WebSettings } from './server/web/settings.js';
import { createWorkerProcessMetrics, type WorkerProcessMetrics } from './server/worker-process-metrics.js';
import type { Pusher } from './push/pusher.js';
import { VERSION } from './version.js';

/** Folded files checked for a returning writer per tick, and the tick: 10,000 files in ~10 s. */
const FOLDED_PROBE_BATCH = 256;
const FOLDED_PROBE_INTERVAL_MS = 250;

/** In-flight requests get this long after SIGTERM/SIGINT before their connections are cut. */
const SHUTDOWN_GRACE_MS = 8_000;

/** The first compaction run comes this soon after start, to finish what a crash left. */
const FIRST_COMPACTION_DELAY_MS = 100;

/** After SIGTERM/SIGINT the push gets this long for a last collection and its queues. */
const PUSH_SHUTDOWN_BUDGET_MS = 5_000;

export interface RunningDaemon {
  readonly logger: Logger;
  /** Bound addresses (port 0 resolved; host undefined for every interface), metrics first. */
  readonly addresses: readonly ListenAddress[];
  /** Whether the metrics listener serves HTTPS. */
  readonly tls: boolean;
  stop(reason: string): Promise<void>;
  /**
   * Re-read the web config (and TLS files) off the main thread; a bad one is logged and the
   * current one kept. A reload asked for while one runs is done once it has finished.
   */
  reload(reason: string): Promise<void>;
}

export async function startDaemon(config: Config): Promise<RunningDaemon> {
  const web = loadWeb(config); // on this thread: nothing is served yet
  const owned = createLogger({ level: config.logLevel, format: config.logFormat, file: config.logFile });
  const logger = owned.logger;
  const binding = loadNative();
  const addon = nativeAddon();
  const native = addon?.source ?? 'none';
  if (binding === null && config.compaction) {
    // Compaction must know a writer is dead for sure (its lock free): without the addon it cannot,
    // and a daemon that logs "compaction: true" while never compacting would lie.
    await owned.close();
    throw new ConfigError(`--compaction needs the native addon (file locks tell a dead writer for sure), which did not load: ${nativeLoadError()}; run without --compaction, or install the addon (see docs/install.md)`);
  }
  if (binding === null) logger.warn({ reason: nativeLoadError() }, 'native mmap addon unavailable: reading files with plain reads (slower, same results)');

  let workerProcesses: WorkerProcessMetrics | null;
  try {
    workerProcesses = createWorkerProcessMetrics(config.workerProcess, logger);
  } catch (e) {
    await owned.close();
    throw e;
  }
  const collector = new Collector(config.dir, { constLabels: config.labels, liveness: config.liveness });
  const self = new SelfMetrics({ version: VERSION, native, faults: () => binding?.faultCount() ?? 0, logWriteErrors: () => owned.writeErrors() });
  let lastInode = -1;
  const watch = new DirectoryWatch(config.dir, () => {
    scrape.scan().catch((err: unknown) => logger.error({ err }, 'background scan failed'));
  });
  const scrape = new ScrapeService(collector, self, logger, (readable) => {
    if (!readable) return watch.pause();
    const inode = collector.directory.inode;
    if (inode !== lastInode) {
      watch.restart(); // first scan, or the directory was recreated
      checkFilesystem(config.dir, self, logger);
    } else watch.ensure();
    lastInode = inode;
  }, workerProcesses);

  let stopping: Promise<void> | null = null;

  let pusher: Pusher | null = null;
  try {
    if (config.push !== null) {
      // Loaded only when pushing: protobufjs and the encoders add nothing to a scrape-only start.
      const { Pusher: PushSchedule } = await import('./push/pusher.js');
      pusher = new PushSchedule(config.push, { source: scrape, logger, metricsFor: (t, p) => self.pushTarget(t, p), userAgent: `multiproc-exporter/${VERSION}`, scopeVersion: VERSION, constLabels: config.labels });
    }
  } catch (e) {
    collector.close();
    await owned.close();
    throw new ConfigError((e as Error).message);
  }

  const settings = new WebSettings(web);
  const limits = { headerTimeoutMs: config.headerTimeoutMs, requestTimeoutMs: config.requestTimeoutMs };
  const common = {
    telemetryPath: config.telemetryPath,
    scrape,
    logger,
    version: VERSION,
    dir: config.dir,
    maxRequests: config.maxRequests,
    onRejected: () => self.scrapesRejected.inc(),
    readinessMinWorkers: config.readinessMinWorkers,
    readinessMaxHeartbeatAgeSeconds: config.readinessMaxHeartbeatAgeSeconds,
    liveness: config.liveness,
    shuttingDown: () => stopping !== null,
  };
  const servers: Server[] = [];
  const closers: GracefulClose[] = [];
  const addresses: ListenAddress[] = [];
  try {
    const splitHealth = config.healthListen !== undefined;
    if (config.metricsListener) {
      const main = createListener(createRequestHandler({ ...common, web: settings, metrics: true, health: !splitHealth }), web.tls, limits);
      settings.attach(main);
      servers.push(main);
      closers.push(new GracefulClose(main));
      addresses.push(await listen(main, config.listen, '--web.listen-address'));
    }
    if (config.healthListen !== undefined) {
      // Probes only: no TLS, no auth (bind it where only the orchestrator reaches it).
      const health = createListener(createRequestHandler({ ...common, web: WebSettings.none(), metrics: false, health: true }), null, limits);
      servers.push(health);
      closers.push(new GracefulClose(health));
      addresses.push(await listen(health, config.healthListen, '--web.health-address'));
    }
  } catch (e) {
    for (const s of servers) s.close();
    collector.close();
    await owned.close();
    throw e;
  }

  logger.info(
    {
      version: VERSION,
      node: process.version,
      native,
      nativeAddon: addon?.path ?? null,
      dir: config.dir,
      listen: config.metricsListener ? formatListenAddress(addresses[0]!) : null,
      health: formatListenAddress(addresses[1] ?? addresses[0]!),
      telemetryPath: config.telemetryPath,
      tls: web.tls !== null,
      basicAuth: settings.auth.enabled,
      rateLimit: web.rateLimit,
      maxRequests: config.maxRequests,
      headerTimeoutMs: config.headerTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      labels: Object.fromEntries(config.labels),
      liveness: config.liveness,
      workerProcess: workerProcesses === null ? 'off' : config.workerProcess,
      readinessMinWorkers: config.readinessMinWorkers,
      compaction: config.compaction,
      logLevel: config.logLevel,
      push:
        pusher === null
          ? null
          : { targets: pusher.targets.map((t) => t.name), intervalMs: config.push!.intervalMs, maxSamplesPerSend: config.push!.maxSamplesPerSend, queueMaxBatches: config.push!.queueMaxBatches },
    },
    'multiproc-exporter started',
  );
  void scrape.scan(); // map and index what is there before the first scrape
  // Off the scrape path: a few folded (dead) files at a time are checked for a writer that came
  // back; if one did, scan now so its values are served live again.
  const probe = setInterval(() => {
    if (collector.probeFolded(FOLDED_PROBE_BATCH)) scrape.scan().catch((err: unknown) => logger.error({ err }, 'background scan failed'));
  }, FOLDED_PROBE_INTERVAL_MS);
  probe.unref();
  pusher?.start();
  const compaction = config.compaction ? startCompaction(config, collector, scrape, self, logger) : null;

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, 'shutting down: no new connections, finishing in-flight scrapes');
      const pushed = pusher?.stop(PUSH_SHUTDOWN_BUDGET_MS);
      // A separate health listener keeps answering (/readiness: 503 shutting down) until the
      // metrics listener's responses are done; then it closes too.
      const metrics = config.metricsListener ? closers[0] : undefined;
      const health = config.metricsListener ? closers.slice(1) : closers;
      const closed = [...(metrics === undefined ? [] : [await metrics.close(SHUTDOWN_GRACE_MS)]), ...(await Promise.all(health.map((c) => c.close(500))))];
      const cut = closed.reduce((n, c) => n + c.cut, 0);
      if (cut > 0) logger.warn({ graceMs: SHUTDOWN_GRACE_MS, connections: cut }, 'in-flight requests did not finish in time: their connections were closed');
      await pushed;
      clearInterval(probe);
      if (compaction !== null) clearInterval(compaction);
      watch.close();
      collector.close();
      workerProcesses?.close();
      logger.info('stopped');
      await owned.close();
    })();
    return stopping;
  };
  const reloadOnce = async (reason: string): Promise<void> => {
    const source = config.webConfigFile ?? (config.tlsCertFile !== undefined ? `${config.tlsCertFile}, ${config.tlsKeyFile ?? ''}` : null);
    if (source === null) {
      logger.info({ reason }, 'nothing to reload: no --web.config.file or --tls.cert-file given');
      return;
    }
    let next: WebConfig;
    try {
      next = await loadWebSourceOffThread(config); // health and metrics keep answering meanwhile
    } catch (e) {
      self.webConfigReloaded(false);
      logger.error({ reason, file: source }, `web config reload failed: ${(e as Error).message}; keeping the previous configuration`);
      return;
    }
    const refused = settings.apply(next);
    if (refused !== null) {
      self.webConfigReloaded(false);
      logger.error({ reason, file: source }, `web config reload failed: ${refused}; keeping the previous configuration`);
      return;
    }
    self.webConfigReloaded(true);
    logger.info({ reason, file: source, tls: next.tls !== null, basicAuth: settings.auth.enabled, rateLimit: next.rateLimit }, 'web config reloaded');
  };
  let reloading = false;
  let reloadAgain: string | null = null;
  const reload = async (reason: string): Promise<void> => {
    if (reloading) {
      reloadAgain = reason; // several SIGHUPs during one reload: one more reload after it
      return;
    }
    reloading = true;
    try {
      for (let next: string | null = reason; next !== null && stopping === null; ) {
        reloadAgain = null;
        await reloadOnce(next);
        next = reloadAgain;
      }
    } finally {
      reloading = false;
    }
  };
  return { logger, addresses, tls: web.tls !== null, stop, reload };
}

/**
 * --compaction: every interval (and soon after start, to finish what a crash left), between two
 * scans, fold dead writers' files into archives and delete them; then scan so scrapes see it.
 */
function startCompaction(config: Config, collector: Collector, scrape: ScrapeService, self: SelfMetrics, logger: Logger): NodeJS.Timeout | null {
  const native = loadNative();
  if (native === null) return null; // refused at start (ConfigError)
  const crashAt = process.env['MULTIPROC_EXPORTER_COMPACTION_CRASH_AT'] as CrashPoint | undefined; // crash-safety tests only
  const compactor = new Compactor(config.dir, native, crashAt);
  const run = (): void => {
    scrape
      .scan()
      .then((status) => {
        if (!status.ready) return;
        const r = collector.compact(compactor);
        self.observeCompaction(r);
        for (const p of r.problems) logger.warn({ dir: config.dir }, `compaction: ${p}`);
        const absorbed = r.archives.reduce((n, a) => n + a.absorbed.length, 0);
        if (r.deleted.length + r.droppedLive.length > 0) {
          logger.info({ archives: r.archives.map((a) => a.fileName), deleted: r.deleted.length, droppedLive: r.droppedLive.length, absorbed }, "compaction: dead writers' files folded into archives and deleted");
        }
        return scrape.scan();
      })
      .catch((err: unknown) => logger.error({ err }, 'compaction failed; retried at the next interval'));
  };
  setTimeout(run, FIRST_COMPACTION_DELAY_MS).unref();
  const timer = setInterval(run, config.compactionIntervalMs);
  timer.unref();
  return timer;
}

/** Warn when the directory is not on tmpfs/ramfs: every mmap writer then pays page write-back faults. */
function checkFilesystem(dir: string, self: SelfMetrics, logger: Logger): void {
  const fs = directoryFilesystem(dir);
  self.observeFilesystem(fs === null ? null : fs.inMemory);
  if (fs !== null && !fs.inMemory) {
    logger.warn(
      { dir, filesystem: fs.name },
      `metrics directory is on ${fs.name}, not tmpfs: the kernel writes the workers' mapped pages back to disk and write-protects them, costing every writer page faults; put it on tmpfs (Kubernetes emptyDir with medium: Memory, /dev/shm or /run)`,
    );
  }
}

/** The web settings at start (read and validated before anything listens); a bad one is a ConfigError. */
function loadWeb(config: Config): WebConfig {
  try {
    return loadWebSource(config);
  } catch (e) {
    if (e instanceof WebConfigError) throw new ConfigError(e.message);
    throw e;
  }
}

function listen(server: Server, address: ListenAddress, option: string): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why =
        err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' ? 'no such local address' : err.message;
      reject(new ConfigError(`${option} ${formatListenAddress(address)}: cannot listen: ${why} (${err.code ?? 'error'})`));
    };
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      resolve({ host: a.family === 'IPv6' && a.address === '::' ? undefined : a.address, port: a.port });
    });
  });
}
