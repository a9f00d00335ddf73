/**
 * `serve`: wires the reader (Collector + fs.watch hint), the self metrics, the HTTP listeners,
 * logs and signals. Bad configuration is a ConfigError (the CLI exits 2 with its message).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Collector } from './collector.js';
import { ConfigError, type Config, type ListenAddress } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { loadNative, nativeLoadError } from './native.js';
import { DirectoryWatch } from './reader/directory-watch.js';
import { Compactor, type CrashPoint } from './compaction/compactor.js';
import { createListener, createRequestHandler } from './server/http-server.js';
import { ScrapeService } from './server/scrape.js';
import { SelfMetrics } from './server/self-metrics.js';
import { loadWebConfig, tlsFromFiles, WebConfigError, type WebConfig } from './server/web-config.js';
import { WebSettings } from './server/web-settings.js';
import type { Pusher } from './push/pusher.js';
import { VERSION } from './version.js';

/** Folded files checked for a returning writer per tick, and the tick: 10,000 files in ~10 s. */
const FOLDED_PROBE_BATCH = 256;
const FOLDED_PROBE_INTERVAL_MS = 250;

/** In-flight requests get this long after SIGTERM/SIGINT before their connections are cut. */
const SHUTDOWN_GRACE_MS = 8_000;

/** After SIGTERM/SIGINT the push gets this long for a last collection and its queues. */
const PUSH_SHUTDOWN_BUDGET_MS = 5_000;

export interface RunningDaemon {
  readonly logger: Logger;
  /** Bound addresses (port 0 resolved), metrics first. */
  readonly addresses: readonly string[];
  /** Whether the metrics listener serves HTTPS. */
  readonly tls: boolean;
  stop(reason: string): Promise<void>;
  /** Re-read the web config (and TLS files); a bad one is logged and the current one kept. */
  reload(reason: string): void;
}

export async function startDaemon(config: Config): Promise<RunningDaemon> {
  const web = loadWeb(config);
  const owned = createLogger({ level: config.logLevel, format: config.logFormat, file: config.logFile });
  const logger = owned.logger;
  const binding = loadNative();
  const native = binding !== null;
  if (!native) logger.warn({ reason: nativeLoadError() }, 'native mmap addon unavailable: reading files with plain reads (slower, same results)');

  const collector = new Collector(config.dir, { constLabels: config.labels, liveness: config.liveness });
  const self = new SelfMetrics({ version: VERSION, native, faults: () => binding?.faultCount() ?? 0 });
  let lastInode = -1;
  const watch = new DirectoryWatch(config.dir, () => {
    scrape.refresh().catch((err: unknown) => logger.error({ err }, 'background scan failed'));
  });
  const scrape = new ScrapeService(collector, self, logger, (readable) => {
    if (!readable) return watch.pause();
    const inode = collector.directory.inode;
    if (inode !== lastInode) watch.restart(); // first scan, or the directory was recreated
    else watch.ensure();
    lastInode = inode;
  });

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
    readinessMaxHeartbeatAge: config.readinessMaxHeartbeatAge,
    liveness: config.liveness,
  };
  const servers: Server[] = [];
  const addresses: string[] = [];
  try {
    const splitHealth = config.healthListen !== undefined;
    if (config.metricsListener) {
      const main = createListener(createRequestHandler({ ...common, web: settings, metrics: true, health: !splitHealth }), web.tls, limits);
      settings.attach(main);
      servers.push(main);
      addresses.push(await listen(main, config.listen, '--web.listen-address'));
    }
    if (config.healthListen !== undefined) {
      // Probes only: no TLS, no auth (bind it where only the orchestrator reaches it).
      const health = createListener(createRequestHandler({ ...common, web: WebSettings.none(), metrics: false, health: true }), null, limits);
      servers.push(health);
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
      dir: config.dir,
      listen: config.metricsListener ? addresses[0] : null,
      health: config.metricsListener ? (addresses[1] ?? addresses[0]) : (addresses[0] ?? null),
      telemetryPath: config.telemetryPath,
      tls: web.tls !== null,
      basicAuth: settings.auth.enabled,
      maxRequests: config.maxRequests,
      headerTimeoutMs: config.headerTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      labels: Object.fromEntries(config.labels),
      liveness: config.liveness,
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
  void scrape.refresh(); // map and index what is there before the first scrape
  // Off the scrape path: a few folded (dead) files at a time are checked for a writer that came
  // back; if one did, scan now so its values are served live again.
  const probe = setInterval(() => {
    if (collector.probeFolded(FOLDED_PROBE_BATCH)) scrape.refresh().catch((err: unknown) => logger.error({ err }, 'background scan failed'));
  }, FOLDED_PROBE_INTERVAL_MS);
  probe.unref();
  pusher?.start();
  const compaction = config.compaction ? startCompaction(config, collector, scrape, self, logger) : null;

  let stopping: Promise<void> | null = null;
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason }, 'shutting down: no new connections, finishing in-flight scrapes');
      const force = setTimeout(() => {
        logger.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'in-flight requests did not finish in time: closing their connections');
        for (const s of servers) s.closeAllConnections();
      }, SHUTDOWN_GRACE_MS);
      const pushed = pusher?.stop(PUSH_SHUTDOWN_BUDGET_MS);
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeIdleConnections();
            }),
        ),
      );
      clearTimeout(force);
      await pushed;
      clearInterval(probe);
      if (compaction !== null) clearInterval(compaction);
      watch.close();
      collector.close();
      logger.info('stopped');
      await owned.close();
    })();
    return stopping;
  };
  const reload = (reason: string): void => {
    const source = config.webConfigFile ?? (config.tlsCertFile !== undefined ? `${config.tlsCertFile}, ${config.tlsKeyFile ?? ''}` : null);
    if (source === null) {
      logger.info({ reason }, 'nothing to reload: no --web.config.file or --tls.cert-file given');
      return;
    }
    let next: WebConfig;
    try {
      next = loadWeb(config);
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
    logger.info({ reason, file: source, tls: next.tls !== null, basicAuth: settings.auth.enabled }, 'web config reloaded');
  };
  return { logger, addresses, tls: web.tls !== null, stop, reload };
}

/**
 * --compaction: every interval (and soon after start, to finish what a crash left), between two
 * scans, fold dead writers' files into archives and delete them; then scan so scrapes see it.
 */
function startCompaction(config: Config, collector: Collector, scrape: ScrapeService, self: SelfMetrics, logger: Logger): NodeJS.Timeout | null {
  const native = loadNative();
  if (native === null) {
    logger.error({ reason: nativeLoadError() }, 'compaction needs the native addon (file locks); compaction is off');
    return null;
  }
  const crashAt = process.env['MULTIPROC_EXPORTER_COMPACTION_CRASH_AT'] as CrashPoint | undefined; // crash-safety tests only
  const compactor = new Compactor(config.dir, native, crashAt);
  const run = (): void => {
    scrape
      .refresh()
      .then((status) => {
        if (!status.ready) return;
        const r = collector.compact(compactor);
        self.observeCompaction(r);
        for (const p of r.problems) logger.warn({ dir: config.dir }, `compaction: ${p}`);
        const absorbed = r.archives.reduce((n, a) => n + a.absorbed.length, 0);
        if (r.deleted.length + r.droppedLive.length > 0) {
          logger.info({ archives: r.archives.map((a) => a.fileName), deleted: r.deleted.length, droppedLive: r.droppedLive.length, absorbed }, "compaction: dead writers' files folded into archives and deleted");
        }
        return scrape.refresh();
      })
      .catch((err: unknown) => logger.error({ err }, 'compaction failed; retried at the next interval'));
  };
  setTimeout(run, 100).unref();
  const timer = setInterval(run, config.compactionInterval * 1000);
  timer.unref();
  return timer;
}

function loadWeb(config: Config): WebConfig {
  try {
    if (config.webConfigFile !== undefined) return loadWebConfig(config.webConfigFile);
    const tls = config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined ? tlsFromFiles(config.tlsCertFile, config.tlsKeyFile) : null;
    return { tls, basicAuthUsers: new Map(), headers: new Map() };
  } catch (e) {
    if (e instanceof WebConfigError) throw new ConfigError(e.message);
    throw e;
  }
}

function formatAddress(a: ListenAddress): string {
  const host = a.host === undefined ? '' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${host}:${a.port}`;
}

function listen(server: Server, address: ListenAddress, option: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why =
        err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' ? 'no such local address' : err.message;
      reject(new ConfigError(`${option} ${formatAddress(address)}: cannot listen: ${why} (${err.code ?? 'error'})`));
    };
    server.once('error', onError);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      resolve(formatAddress({ host: a.family === 'IPv6' && a.address === '::' ? undefined : a.address, port: a.port }));
    });
  });
}
