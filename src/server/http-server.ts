/**
 * HTTP(S) routes of the daemon: the metrics path, health, the landing page. Nothing here reads
 * files: it asks the ScrapeService for bodies and the directory status.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { acceptsGzip, chooseFormat } from '../exposition/index.js';
import type { Logger } from '../logger.js';
import { landingPage } from './landing-page.js';
import { statusFormat, statusHtml, statusJson, type StatusReport } from './status-page.js';
import { workerHealth, type WorkerHealth } from './worker-health.js';
import type { ScrapeService } from './scrape.js';
import type { TlsSettings } from './web/config.js';
import { clientCertRefusal } from './web/client-cert.js';
import type { WebSettings } from './web/settings.js';
import { httpsServerOptions } from './web/tls.js';

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
  /** Rate limit, TLS client-cert policy, basic auth and extra headers; read per request (SIGHUP replaces them). */
  readonly web: WebSettings;
  /** Requests to the metrics path in flight at once; beyond it 503 + Retry-After. 0 = no limit. */
  readonly maxRequests: number;
  /** Called for each scrape refused by maxRequests. */
  readonly onRejected?: () => void;
  /** /readiness also needs this many workers with a fresh heartbeat (0: no such check). */
  readonly readinessMinWorkers: number;
  readonly readinessMaxHeartbeatAgeSeconds: number;
  readonly liveness: string;
  /** True once SIGTERM/SIGINT has begun the shutdown: /readiness answers 503. */
  readonly shuttingDown?: () => boolean;
}

export function createRequestHandler(o: RouteOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const landing = landingPage({ version: o.version, telemetryPath: o.telemetryPath, healthOnThisListener: o.health, dir: o.dir });
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>();
  let inFlight = 0;
  const limitedMetrics = (req: IncomingMessage, res: ServerResponse): Promise<void> | void => {
    if (o.maxRequests > 0 && inFlight >= o.maxRequests) {
      o.onRejected?.();
      res.setHeader('Retry-After', '1');
      send(res, 503, 'text/plain; charset=utf-8', `503 too many scrapes in flight (limit ${o.maxRequests}, --web.max-requests); retry later\n`);
      return;
    }
    inFlight++;
    res.once('close', () => inFlight--); // finished or aborted: no longer holds a slot
    return serveMetrics(o, req, res);
  };
  if (o.metrics) {
    routes.set(o.telemetryPath, limitedMetrics);
    routes.set('/', (_req, res) => send(res, 200, 'text/html; charset=utf-8', landing));
    routes.set('/status', (req, res) => serveStatus(o, req, res));
  }
  if (o.health) {
    routes.set('/liveness', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    routes.set('/readiness', (_req, res) => serveReadiness(o, res));
    routes.set('/health/workers', (_req, res) => serveWorkers(o, res));
  }

  return (req, res) => {
    const web = o.web; // this request's settings, even if a reload swaps them meanwhile
    const { auth, tls } = web;
    for (const [name, value] of web.headers) res.setHeader(name, value);
    // node keeps MAX_HEADER_COUNT + 1 of them (createListener): one more means there were too many.
    if (req.rawHeaders.length / 2 > MAX_HEADER_COUNT) {
      send(res, 431, 'text/plain; charset=utf-8', `431 request header fields too large: more than ${MAX_HEADER_COUNT} header fields (the limit of this server)\n`);
      return;
    }
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      send(res, 400, 'text/plain; charset=utf-8', '400 bad request: no Host header (HTTP/1.1 requires one)\n');
      return;
    }
    const bucket = web.rateLimit;
    if (bucket !== null && !bucket.take()) {
      const { burst, intervalMs } = bucket.settings;
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(bucket.waitMs() / 1000))));
      send(res, 429, 'text/plain; charset=utf-8', `429 too many requests (rate_limit of the web config: ${burst} at once, one more every ${intervalMs} ms); retry later\n`);
      return;
    }
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
    const refusal = tls === null ? null : clientCertRefusal(tls, req.socket as TLSSocket);
    if (refusal !== null) {
      send(res, 403, 'text/plain; charset=utf-8', `403 ${refusal}\n`);
      return;
    }
    const run = async (): Promise<void> => {
      if (auth.enabled && !(await auth.check(req.headers.authorization))) {
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
  if (o.shuttingDown?.() === true) {
    sendJson(res, 503, { status: 'not ready', dir: o.dir, reason: 'shutting down' });
    return;
  }
  const status = await o.scrape.scan();
  const workers = o.readinessMinWorkers > 0 ? health(o) : null;
  const reason = status.ready ? (workers?.notReadyReason ?? null) : status.reason;
  const body = workers === null ? {} : { workers: { fresh: workers.fresh, required: workers.minWorkers } };
  if (reason === null) sendJson(res, 200, { status: 'ready', dir: o.dir, ...body });
  else sendJson(res, 503, { status: 'not ready', dir: o.dir, reason, ...body });
}

function health(o: RouteOptions): WorkerHealth {
  return workerHealth(o.scrape.files(), Date.now() / 1000, o.readinessMinWorkers, o.readinessMaxHeartbeatAgeSeconds);
}

async function serveWorkers(o: RouteOptions, res: ServerResponse): Promise<void> {
  await o.scrape.scan();
  const h = health(o);
  sendJson(res, 200, { workers: h.workers, fresh: h.fresh, minWorkers: h.minWorkers, maxHeartbeatAgeSeconds: h.maxHeartbeatAgeSeconds });
}

async function serveStatus(o: RouteOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/status';
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const format = statusFormat(query, req.headers.accept);
  if (format === null) {
    send(res, 400, 'text/plain; charset=utf-8', '400 bad request: /status?format= takes html or json\n');
    return;
  }
  const status = await o.scrape.scan();
  const now = Date.now() / 1000;
  const report: StatusReport = { dir: o.dir, liveness: o.liveness, ready: status.ready, reason: status.reason, files: o.scrape.files(), workers: health(o), scrapes: o.scrape.recentScrapes(), now };
  res.setHeader('Vary', 'Accept');
  if (format === 'json') send(res, 200, 'application/json', statusJson(report));
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

export interface ListenerLimits {
  /** All request headers must have arrived within this long (slowloris), ms. */
  readonly headerTimeoutMs: number;
  /** The whole request must have arrived within this long, ms (≥ headerTimeoutMs). */
  readonly requestTimeoutMs: number;
}

/** Request header names and values larger than this in all are answered 431 (node's default, made explicit). */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Requests with more header fields than this are answered 431 (Prometheus sends fewer than 10). */
export const MAX_HEADER_COUNT = 100;

/**
 * An http or https server with timeouts set: a slow or idle client cannot hold a socket for long,
 * not even one that opens a TLS connection and never starts the handshake.
 */
export function createListener(handler: (req: IncomingMessage, res: ServerResponse) => void, tls: TlsSettings | null, limits: ListenerLimits): Server {
  const options = {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // node checks both timeouts on this interval (default 30 s, which would stretch a 10 s timeout to 40 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headerTimeoutMs / 4))),
    maxHeaderSize: MAX_HEADER_BYTES,
    // Checked by the handler (431 or 400 with a body), not by node (which drops the extra headers, then says a bare 400 without a Host).
    requireHostHeader: false,
  };
  const server =
    tls === null
      ? createHttpServer(options, handler)
      : // The header and request timers start once the handshake is done: this bounds the handshake (node's default is 120 s).
        (createHttpsServer({ ...options, ...httpsServerOptions(tls), handshakeTimeout: limits.headerTimeoutMs }, handler) as unknown as Server);
  server.keepAliveTimeout = 15_000; // above Prometheus' idle connection reuse between scrapes
  server.maxHeadersCount = MAX_HEADER_COUNT + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, limits));
  return server;
}

/**
 * What node answers to a request it could not parse or that timed out (431, 408, 413, 400, then
 * the connection is closed), with a body that names the limit, since node sends none.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, limits: ListenerLimits): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && inFlight?.headersSent !== true) {
    const [status, body] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? ['431 Request Header Fields Too Large', `431 request header fields too large: more than ${MAX_HEADER_BYTES} bytes of header names and values (the limit of this server)\n`]
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ['408 Request Timeout', `408 request timeout: the headers must arrive within ${limits.headerTimeoutMs} ms (--web.header-timeout), the whole request within ${limits.requestTimeoutMs} ms (--web.request-timeout)\n`]
          : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
            ? ['413 Payload Too Large', '413 chunk extensions too large\n']
            : ['400 Bad Request', '400 bad request: not a valid HTTP/1.1 request\n'];
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy(err);
}
