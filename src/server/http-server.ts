/**
 * HTTP(S) routes of the daemon: the metrics path, health, the landing page. Nothing here reads
 * files: it asks the ScrapeService for bodies and the directory status.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { acceptsGzip, chooseFormat } from '../exposition/index.js';
import type { Logger } from '../logger.js';
import { landingPage } from './landing-page.js';
import { statusHtml, statusJson, type StatusReport } from './status-page.js';
import { workerHealth, type WorkerHealth } from './worker-health.js';
import type { ScrapeService } from './scrape.js';
import { clientCertAllowed, httpsServerOptions, type BasicAuth, type TlsSettings } from './web-config.js';

export interface RouteOptions {
  readonly telemetryPath: string;
  /** Serve /liveness and /readiness here (false when they have their own listener). */
  readonly health: boolean;
  /** Serve the metrics path and landing page here (false for the health-only listener). */
  readonly metrics: boolean;
  readonly scrape: ScrapeService;
  readonly logger: Logger;
  readonly version: string;
  readonly dir: string;
  readonly auth: BasicAuth | null;
  readonly headers: ReadonlyMap<string, string>;
  readonly tls: TlsSettings | null;
  /** /readiness also needs this many workers with a fresh heartbeat (0: no such check). */
  readonly readinessMinWorkers: number;
  readonly readinessMaxHeartbeatAge: number;
  readonly liveness: string;
}

export function createRequestHandler(o: RouteOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const landing = landingPage({ version: o.version, telemetryPath: o.telemetryPath, healthOnThisListener: o.health, dir: o.dir });
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>();
  if (o.metrics) {
    routes.set(o.telemetryPath, (req, res) => serveMetrics(o, req, res));
    routes.set('/', (_req, res) => send(res, 200, 'text/html; charset=utf-8', landing));
    routes.set('/status', (req, res) => serveStatus(o, req, res));
  }
  if (o.health) {
    routes.set('/liveness', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    routes.set('/readiness', (_req, res) => serveReadiness(o, res));
    routes.set('/health/workers', (_req, res) => serveWorkers(o, res));
  }

  return (req, res) => {
    for (const [name, value] of o.headers) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const route = routes.get(path);
    if (route === undefined) {
      send(res, 404, 'text/plain; charset=utf-8', `404 not found: ${path}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', `405 method ${req.method} not allowed: use GET or HEAD\n`);
      return;
    }
    if (o.tls !== null && !clientCertAllowed(o.tls, req.socket as TLSSocket)) {
      send(res, 403, 'text/plain; charset=utf-8', '403 a valid client certificate is required\n');
      return;
    }
    const run = async (): Promise<void> => {
      if (o.auth !== null && o.auth.enabled && !(await o.auth.check(req.headers.authorization))) {
        res.setHeader('WWW-Authenticate', 'Basic realm="multiproc-exporter", charset="UTF-8"');
        send(res, 401, 'text/plain; charset=utf-8', '401 unauthorized\n');
        return;
      }
      await route(req, res);
    };
    run().catch((err: unknown) => {
      o.logger.error({ err, path }, 'request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', '500 internal error (logged)\n');
      else res.destroy();
    });
  };
}

async function serveMetrics(o: RouteOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const format = chooseFormat(req.headers.accept);
  const gzipped = acceptsGzip(req.headers['accept-encoding']);
  const { body, contentType } = await o.scrape.scrape(format, gzipped);
  res.setHeader('Vary', 'Accept, Accept-Encoding');
  if (gzipped) res.setHeader('Content-Encoding', 'gzip');
  send(res, 200, contentType, body);
}

async function serveReadiness(o: RouteOptions, res: ServerResponse): Promise<void> {
  // A scan per check (shared with any scrape in flight): cheap, and never reports a stale state.
  const status = await o.scrape.refresh();
  const workers = o.readinessMinWorkers > 0 ? health(o) : null;
  const reason = status.ready ? (workers?.notReadyReason ?? null) : status.reason;
  const body = workers === null ? {} : { workers: { fresh: workers.fresh, required: workers.minWorkers } };
  if (reason === null) sendJson(res, 200, { status: 'ready', dir: o.dir, ...body });
  else sendJson(res, 503, { status: 'not ready', dir: o.dir, reason, ...body });
}

function health(o: RouteOptions): WorkerHealth {
  return workerHealth(o.scrape.files(), Date.now() / 1000, o.readinessMinWorkers, o.readinessMaxHeartbeatAge);
}

async function serveWorkers(o: RouteOptions, res: ServerResponse): Promise<void> {
  await o.scrape.refresh();
  const h = health(o);
  sendJson(res, 200, { workers: h.workers, fresh: h.fresh, minWorkers: h.minWorkers, maxHeartbeatAgeSeconds: h.maxHeartbeatAgeSeconds });
}

async function serveStatus(o: RouteOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const status = await o.scrape.refresh();
  const report: StatusReport = { dir: o.dir, liveness: o.liveness, ready: status.ready, reason: status.reason, files: o.scrape.files(), workers: health(o) };
  res.setHeader('Vary', 'Accept');
  if ((req.headers.accept ?? '').includes('application/json')) send(res, 200, 'application/json', statusJson(report));
  else send(res, 200, 'text/html; charset=utf-8', statusHtml(report));
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json', `${JSON.stringify(value)}\n`);
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  // HEAD: same headers, no body (node:http drops the body of a HEAD response by itself).
  res.end(body);
}

/** An http or https server with timeouts set: a slow or idle client cannot hold a socket for long. */
export function createListener(handler: (req: IncomingMessage, res: ServerResponse) => void, tls: TlsSettings | null): Server {
  const server = tls === null ? createHttpServer(handler) : (createHttpsServer(httpsServerOptions(tls), handler) as unknown as Server);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 15_000; // above Prometheus' idle connection reuse between scrapes
  server.maxHeadersCount = 100;
  return server;
}
