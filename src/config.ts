/**
 * Every option of `serve`: its flag, env vars, default and validation, in one table. Precedence:
 * flag > env (first listed wins) > default. A bad value is a ConfigError (exit 2) that names the
 * option and where the value came from.
 */
import { isIP } from 'node:net';
import { isUserLabelName } from './format/names.js';
import { LIVENESS_MODES, type LivenessMode } from './reader/liveness.js';
import { resolvePushConfig, type PushConfig, type PushFlags } from './push/options.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormat = 'json' | 'logfmt';

export interface ListenAddress {
  /** Undefined = every interface (`:9798`). */
  readonly host: string | undefined;
  readonly port: number;
}

export interface Config {
  readonly dir: string;
  readonly listen: ListenAddress;
  readonly telemetryPath: string;
  readonly webConfigFile: string | undefined;
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  readonly healthListen: ListenAddress | undefined;
  readonly labels: readonly (readonly [string, string])[];
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly logFile: string | undefined;
  readonly liveness: LivenessMode;
  /** /readiness also needs this many workers with a fresh heartbeat (0 = no such check). */
  readonly readinessMinWorkers: number;
  /** A heartbeat older than this is not fresh (seconds, as heartbeats are UNIX seconds). */
  readonly readinessMaxHeartbeatAgeSeconds: number;
  /** Fold dead writers' files into archive files and delete them (off by default). */
  readonly compaction: boolean;
  /** Time between compaction runs. */
  readonly compactionIntervalMs: number;
  /** Scrapes of the metrics path in flight at once; beyond: 503 + Retry-After. 0 = no limit. */
  readonly maxRequests: number;
  /** A client must have sent its request headers within this long (slowloris), ms. */
  readonly headerTimeoutMs: number;
  /** … and its whole request within this long, ms. */
  readonly requestTimeoutMs: number;
  /** Per-worker process metrics from /proc (`auto`: when /proc can be read). */
  readonly workerProcess: WorkerProcessMode;
  /** False for `--web.listen-address off`: no metrics listener (push only; health on --web.health-address). */
  readonly metricsListener: boolean;
  /** Remote write / OTLP targets and how to push to them; null when none is given. */
  readonly push: PushConfig | null;
}

export class ConfigError extends Error {}

/** Flag values as commander gives them (undefined when the flag was not given). */
export interface Flags extends PushFlags {
  dir?: string;
  'web.listenAddress'?: string;
  'web.telemetryPath'?: string;
  'web.config.file'?: string;
  'tls.certFile'?: string;
  'tls.keyFile'?: string;
  'web.healthAddress'?: string;
  label?: string[];
  'log.level'?: string;
  'log.format'?: string;
  'log.file'?: string;
  liveness?: string;
  'readiness.minWorkers'?: string;
  'readiness.maxHeartbeatAge'?: string;
  compaction?: boolean;
  'compaction.interval'?: string;
  'web.maxRequests'?: string;
  'web.headerTimeout'?: string;
  'web.requestTimeout'?: string;
  'collector.workerProcess'?: string;
}

export const DEFAULT_PORT = 9798;

export const WORKER_PROCESS_MODES = ['auto', 'on', 'off'] as const;
export type WorkerProcessMode = (typeof WORKER_PROCESS_MODES)[number];

/** Paths the daemon serves itself. */
const RESERVED_PATHS = ['/', '/liveness', '/readiness', '/status', '/health/workers'];

/** The option table: what --help shows and what resolveConfig applies. */
export const OPTIONS = [
  { flag: '--dir <path>', key: 'dir', env: ['PROMETHEUS_MULTIPROC_DIR', 'prometheus_multiproc_dir', 'GME_MMAP_METRICS_DIR'], def: '(required)', help: 'metrics directory the workers write their .db files into' },
  { flag: '--web.listen-address <host:port>', key: 'web.listenAddress', env: ['GME_SERVER_HOST', 'GME_SERVER_PORT'], def: `:${DEFAULT_PORT}`, help: 'address to serve metrics on; ":port" = all interfaces, "[::1]:port" for IPv6; off = no metrics listener (push only)' },
  { flag: '--web.telemetry-path <path>', key: 'web.telemetryPath', env: [], def: '/metrics', help: 'path under which to expose metrics' },
  { flag: '--web.config.file <file>', key: 'web.config.file', env: [], def: '(none)', help: 'exporter-toolkit web config (YAML): tls_server_config (client_allowed_sans included), basic_auth_users, http_server_config.headers, rate_limit' },
  { flag: '--tls.cert-file <file>', key: 'tls.certFile', env: ['GME_CERT_FILE'], def: '(none)', help: 'serve HTTPS with this certificate (PEM), without a web config' },
  { flag: '--tls.key-file <file>', key: 'tls.keyFile', env: ['GME_CERT_KEY'], def: '(none)', help: 'private key (PEM) for --tls.cert-file' },
  { flag: '--web.health-address <host:port>', key: 'web.healthAddress', env: [], def: '(metrics address)', help: 'serve /liveness and /readiness on their own listener instead of the metrics one' },
  { flag: '--label <name=value>', key: 'label', env: ['MULTIPROC_EXPORTER_LABELS'], def: '(none)', help: 'constant label added to every merged series that lacks it; repeatable; env form "a=b,c=d"' },
  { flag: '--log.level <level>', key: 'log.level', env: ['GME_LOG_LEVEL'], def: 'info', help: 'debug, info, warn, error, or quiet (no logs)' },
  { flag: '--log.format <format>', key: 'log.format', env: [], def: 'json', help: 'json or logfmt' },
  { flag: '--log.file <file>', key: 'log.file', env: ['GME_LOG_FILE'], def: '(stderr)', help: 'append logs to this file instead of stderr' },
  { flag: '--liveness <mode>', key: 'liveness', env: [], def: 'auto', help: "how a writer's death is detected: auto (its lock, else a process mapping the file when the writers' processes are visible), lock, pid, or off (a file counts until it is deleted, as in the libraries)" },
  { flag: '--readiness.min-workers <n>', key: 'readiness.minWorkers', env: [], def: '0', help: '/readiness also requires this many live workers with a fresh heartbeat (writer option heartbeatSeconds)' },
  { flag: '--readiness.max-heartbeat-age <duration>', key: 'readiness.maxHeartbeatAge', env: [], def: '30s', help: 'a heartbeat older than this is not fresh (e.g. 500ms, 30s, 2m)' },
  { flag: '--compaction', key: 'compaction', env: [], def: 'off', help: "fold dead writers' files into one archive file per type and delete them (the only option that writes to the directory)" },
  { flag: '--compaction.interval <duration>', key: 'compaction.interval', env: [], def: '1m', help: 'time between compaction runs (at least 1s)' },
  { flag: '--web.max-requests <n>', key: 'web.maxRequests', env: [], def: '40', help: 'maximum number of scrapes of the metrics path in flight at once; more get 503 with Retry-After; 0 = no limit' },
  { flag: '--web.header-timeout <duration>', key: 'web.headerTimeout', env: [], def: '10s', help: 'close a connection whose request headers have not all arrived within this time (slowloris); e.g. 500ms, 10s, 1m' },
  { flag: '--web.request-timeout <duration>', key: 'web.requestTimeout', env: [], def: '30s', help: 'close a connection whose whole request has not arrived within this time; at least --web.header-timeout' },
  { flag: '--collector.worker-process <mode>', key: 'collector.workerProcess', env: [], def: 'auto', help: "per-worker CPU, memory, fds, threads and start time from /proc (multiproc_exporter_worker_process_*{pid,worker}) for every live writer whose process is visible: auto (when /proc can be read; workers in another pid namespace are simply absent), on (the same, but no /proc stops the start and invisible workers are a warning), or off" },
  { flag: '--push.remote-write.url <url>', key: 'push.remoteWrite.url', env: [], def: '(none)', help: 'push the merged metrics with Prometheus remote write 1.0 to this URL (e.g. http://prometheus:9090/api/v1/write); repeatable' },
  { flag: '--push.otlp.endpoint <url>', key: 'push.otlp.endpoint', env: [], def: '(none)', help: 'push the merged metrics with OTLP/HTTP protobuf to this URL (e.g. http://collector:4318/v1/metrics); repeatable' },
  { flag: '--push.interval <duration>', key: 'push.interval', env: [], def: '15s', help: 'time between pushes (each is one collection, timestamped when collected); at least 100ms' },
  { flag: '--push.timeout <duration>', key: 'push.timeout', env: [], def: '10s', help: 'a push request not fully answered within this time fails (and is retried)' },
  { flag: '--push.max-samples-per-send <n>', key: 'push.maxSamplesPerSend', env: [], def: '2000', help: 'samples (OTLP: data points) per request at most; a larger collection is split into several requests' },
  { flag: '--push.queue.max-batches <n>', key: 'push.queue.maxBatches', env: [], def: '100', help: "requests queued per target at most while it is failing; beyond, the oldest is dropped (and counted)" },
  { flag: '--push.retry.min-backoff <duration>', key: 'push.retry.minBackoff', env: [], def: '500ms', help: 'first delay before retrying a failed push (network error, timeout, 429, 5xx); doubles per failure, with jitter' },
  { flag: '--push.retry.max-backoff <duration>', key: 'push.retry.maxBackoff', env: [], def: '30s', help: "longest delay between retries (a server's Retry-After is honoured, up to 5m)" },
  { flag: '--push.otlp.resource-attribute <key=value>', key: 'push.otlp.resourceAttribute', env: [], def: 'service.name=multiproc-exporter', help: 'OTLP resource attribute; repeatable' },
  { flag: '--push.remote-write.bearer-token-file <file>', key: 'push.remoteWrite.bearerTokenFile', env: [], def: '(none)', help: 'remote write: send "Authorization: Bearer <file contents>" (re-read for every request)' },
  { flag: '--push.remote-write.basic-auth.username <name>', key: 'push.remoteWrite.basicAuth.username', env: [], def: '(none)', help: 'remote write: basic auth user' },
  { flag: '--push.remote-write.basic-auth.password-file <file>', key: 'push.remoteWrite.basicAuth.passwordFile', env: [], def: '(none)', help: 'remote write: basic auth password, read from this file (re-read for every request)' },
  { flag: '--push.remote-write.header <Name: value>', key: 'push.remoteWrite.header', env: [], def: '(none)', help: 'remote write: extra request header (e.g. "X-Scope-OrgID: team-a"); repeatable' },
  { flag: '--push.remote-write.tls.ca-file <file>', key: 'push.remoteWrite.tls.caFile', env: [], def: '(system CAs)', help: "remote write over https: trust the server's certificate if this CA (PEM) signed it" },
  { flag: '--push.remote-write.tls.cert-file <file>', key: 'push.remoteWrite.tls.certFile', env: [], def: '(none)', help: 'remote write over https: client certificate (PEM), with --push.remote-write.tls.key-file' },
  { flag: '--push.remote-write.tls.key-file <file>', key: 'push.remoteWrite.tls.keyFile', env: [], def: '(none)', help: 'remote write over https: private key (PEM) of the client certificate' },
  { flag: '--push.remote-write.tls.server-name <name>', key: 'push.remoteWrite.tls.serverName', env: [], def: '(URL host)', help: "remote write over https: the name the server's certificate must hold (and SNI)" },
  { flag: '--push.remote-write.tls.insecure-skip-verify', key: 'push.remoteWrite.tls.insecureSkipVerify', env: [], def: 'off', help: "remote write over https: do not check the server's certificate (anyone on the path can read and change the data)" },
  { flag: '--push.otlp.bearer-token-file <file>', key: 'push.otlp.bearerTokenFile', env: [], def: '(none)', help: 'OTLP: send "Authorization: Bearer <file contents>" (re-read for every request)' },
  { flag: '--push.otlp.basic-auth.username <name>', key: 'push.otlp.basicAuth.username', env: [], def: '(none)', help: 'OTLP: basic auth user' },
  { flag: '--push.otlp.basic-auth.password-file <file>', key: 'push.otlp.basicAuth.passwordFile', env: [], def: '(none)', help: 'OTLP: basic auth password, read from this file (re-read for every request)' },
  { flag: '--push.otlp.header <Name: value>', key: 'push.otlp.header', env: [], def: '(none)', help: 'OTLP: extra request header (e.g. "api-key: …"); repeatable' },
  { flag: '--push.otlp.tls.ca-file <file>', key: 'push.otlp.tls.caFile', env: [], def: '(system CAs)', help: "OTLP over https: trust the server's certificate if this CA (PEM) signed it" },
  { flag: '--push.otlp.tls.cert-file <file>', key: 'push.otlp.tls.certFile', env: [], def: '(none)', help: 'OTLP over https: client certificate (PEM), with --push.otlp.tls.key-file' },
  { flag: '--push.otlp.tls.key-file <file>', key: 'push.otlp.tls.keyFile', env: [], def: '(none)', help: 'OTLP over https: private key (PEM) of the client certificate' },
  { flag: '--push.otlp.tls.server-name <name>', key: 'push.otlp.tls.serverName', env: [], def: '(URL host)', help: "OTLP over https: the name the server's certificate must hold (and SNI)" },
  { flag: '--push.otlp.tls.insecure-skip-verify', key: 'push.otlp.tls.insecureSkipVerify', env: [], def: 'off', help: "OTLP over https: do not check the server's certificate (anyone on the path can read and change the data)" },
] as const;

/** Options given once per value (commander collects them into a list). */
export const REPEATABLE_OPTIONS: ReadonlySet<string> = new Set(['label', 'push.remoteWrite.url', 'push.otlp.endpoint', 'push.otlp.resourceAttribute', 'push.remoteWrite.header', 'push.otlp.header']);

export const DEFAULT_MAX_REQUESTS = 40;
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_HEARTBEAT_AGE_MS = 30_000;
export const DEFAULT_COMPACTION_INTERVAL_MS = 60_000;
/** Each run scans the directory: below this it is busy work (1ms costs a third of a core on an idle directory). */
export const MIN_COMPACTION_INTERVAL_MS = 1_000;

/** The --help text of one option: what it does, its env vars and its default. */
export function optionHelp(o: (typeof OPTIONS)[number]): string {
  const env = o.env.length === 0 ? '' : o.key === 'web.listenAddress' ? ' [env: GME_SERVER_HOST + GME_SERVER_PORT]' : ` [env: ${o.env.join(', ')}]`;
  return `${o.help}${env} [default: ${o.def}]`;
}

type Env = Readonly<Record<string, string | undefined>>;

function fromEnv(env: Env, names: readonly string[]): { value: string; source: string } | undefined {
  for (const name of names) {
    const v = env[name];
    if (v !== undefined && v !== '') return { value: v, source: `env ${name}` };
  }
  return undefined;
}

export function resolveConfig(flags: Flags, env: Env): Config {
  const dirValue = flags.dir !== undefined ? { value: flags.dir, source: '--dir' } : fromEnv(env, OPTIONS[0].env);
  if (dirValue === undefined || dirValue.value === '') {
    throw new ConfigError(`no metrics directory: give --dir or set ${OPTIONS[0].env.join(' / ')}`);
  }

  let listen: ListenAddress;
  const metricsListener = flags['web.listenAddress'] !== 'off';
  if (!metricsListener) {
    listen = { host: undefined, port: DEFAULT_PORT }; // not listened on
  } else if (flags['web.listenAddress'] !== undefined) {
    listen = parseListenAddress(flags['web.listenAddress'], '--web.listen-address');
  } else if (env['GME_SERVER_HOST'] || env['GME_SERVER_PORT']) {
    const host = env['GME_SERVER_HOST'] || undefined;
    const port = env['GME_SERVER_PORT'] ? parsePort(env['GME_SERVER_PORT'], 'env GME_SERVER_PORT') : DEFAULT_PORT;
    if (host !== undefined) checkHost(host, 'env GME_SERVER_HOST');
    listen = { host, port };
  } else {
    listen = { host: undefined, port: DEFAULT_PORT };
  }

  const telemetryPath = flags['web.telemetryPath'] ?? '/metrics';
  if (!/^\/[\x21-\x7e]*$/.test(telemetryPath) || RESERVED_PATHS.includes(telemetryPath)) {
    throw new ConfigError(`--web.telemetry-path ${JSON.stringify(telemetryPath)}: must start with "/" and not be ${RESERVED_PATHS.join(', ')}`);
  }

  const cert = flags['tls.certFile'] !== undefined ? { value: flags['tls.certFile'], source: '--tls.cert-file' } : fromEnv(env, ['GME_CERT_FILE']);
  const key = flags['tls.keyFile'] !== undefined ? { value: flags['tls.keyFile'], source: '--tls.key-file' } : fromEnv(env, ['GME_CERT_KEY']);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      cert === undefined
        ? `${key!.source} is set but no certificate: give --tls.cert-file or GME_CERT_FILE too`
        : `${cert.source} is set but no key: give --tls.key-file or GME_CERT_KEY too`,
    );
  }
  if (cert !== undefined && flags['web.config.file'] !== undefined) {
    throw new ConfigError(`${cert.source} and --web.config.file both configure TLS: use one (tls_server_config in the web config)`);
  }

  const healthListen =
    flags['web.healthAddress'] === undefined ? undefined : parseListenAddress(flags['web.healthAddress'], '--web.health-address');
  if (healthListen !== undefined && metricsListener && healthListen.port === listen.port && healthListen.port !== 0 && healthListen.host === listen.host) {
    throw new ConfigError(`--web.health-address ${flags['web.healthAddress']} is the metrics address: give a different port`);
  }

  const labels = parseLabels(flags.label, env['MULTIPROC_EXPORTER_LABELS']);

  const levelValue = flags['log.level'] ?? env['GME_LOG_LEVEL'] ?? 'info';
  const levelSource = flags['log.level'] !== undefined ? '--log.level' : env['GME_LOG_LEVEL'] !== undefined ? 'env GME_LOG_LEVEL' : 'default';
  const level = levelValue.toLowerCase();
  const logLevel: LogLevel | undefined =
    level === 'quiet' ? 'silent' : level === 'warning' ? 'warn' : (['debug', 'info', 'warn', 'error'] as const).find((l) => l === level);
  if (logLevel === undefined) throw new ConfigError(`${levelSource} ${JSON.stringify(levelValue)}: must be debug, info, warn, error or quiet`);

  const logFormat = flags['log.format'] ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'logfmt') throw new ConfigError(`--log.format ${JSON.stringify(logFormat)}: must be json or logfmt`);

  const liveness = flags.liveness ?? 'auto';
  if (!(LIVENESS_MODES as readonly string[]).includes(liveness)) {
    throw new ConfigError(`--liveness ${JSON.stringify(liveness)}: must be one of ${LIVENESS_MODES.join(', ')}`);
  }
  const minWorkersText = flags['readiness.minWorkers'] ?? '0';
  const readinessMinWorkers = /^\d{1,6}$/.test(minWorkersText) ? Number(minWorkersText) : NaN;
  if (Number.isNaN(readinessMinWorkers)) throw new ConfigError(`--readiness.min-workers ${JSON.stringify(minWorkersText)}: must be a whole number`);
  const maxText = flags['web.maxRequests'];
  const maxRequests = maxText === undefined ? DEFAULT_MAX_REQUESTS : /^\d{1,6}$/.test(maxText) ? Number(maxText) : NaN;
  if (Number.isNaN(maxRequests)) throw new ConfigError(`--web.max-requests ${JSON.stringify(maxText)}: must be a whole number (0 = no limit)`);
  const workerProcess = flags['collector.workerProcess'] ?? 'auto';
  if (!(WORKER_PROCESS_MODES as readonly string[]).includes(workerProcess)) {
    throw new ConfigError(`--collector.worker-process ${JSON.stringify(workerProcess)}: must be one of ${WORKER_PROCESS_MODES.join(', ')}`);
  }
  const headerTimeoutMs = parseDuration(flags['web.headerTimeout'], '--web.header-timeout', DEFAULT_HEADER_TIMEOUT_MS);
  const requestTimeoutMs = parseDuration(flags['web.requestTimeout'], '--web.request-timeout', DEFAULT_REQUEST_TIMEOUT_MS);
  if (requestTimeoutMs < headerTimeoutMs) {
    throw new ConfigError(`--web.request-timeout ${requestTimeoutMs} ms is shorter than --web.header-timeout ${headerTimeoutMs} ms: the request includes its headers`);
  }
  const compactionIntervalMs = parseDuration(flags['compaction.interval'], '--compaction.interval', DEFAULT_COMPACTION_INTERVAL_MS);
  if (compactionIntervalMs < MIN_COMPACTION_INTERVAL_MS) {
    throw new ConfigError(
      `--compaction.interval ${JSON.stringify(flags['compaction.interval'])}: at least 1s (every run scans the directory; compacting more often only burns CPU)`,
    );
  }

  const push = resolvePushConfig(flags);
  if (!metricsListener && push === null) {
    throw new ConfigError('--web.listen-address off serves no metrics, and no --push.remote-write.url or --push.otlp.endpoint is given: nothing would leave the daemon');
  }

  return {
    dir: dirValue.value,
    listen,
    telemetryPath,
    webConfigFile: flags['web.config.file'],
    tlsCertFile: cert?.value,
    tlsKeyFile: key?.value,
    healthListen,
    labels,
    logLevel,
    logFormat,
    logFile: flags['log.file'] ?? fromEnv(env, ['GME_LOG_FILE'])?.value,
    liveness: liveness as LivenessMode,
    readinessMinWorkers,
    readinessMaxHeartbeatAgeSeconds: parseDuration(flags['readiness.maxHeartbeatAge'], '--readiness.max-heartbeat-age', DEFAULT_MAX_HEARTBEAT_AGE_MS) / 1000,
    compaction: flags.compaction === true,
    compactionIntervalMs,
    maxRequests,
    headerTimeoutMs,
    requestTimeoutMs,
    workerProcess: workerProcess as WorkerProcessMode,
    metricsListener,
    push,
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `1m`, `1h` (Prometheus-style, one unit) → milliseconds; at least 1 ms, at most 24 h. */
export function parseDuration(text: string | undefined, source: string, defaultMs: number): number {
  if (text === undefined) return defaultMs;
  const m = /^(\d{1,8})(ms|s|m|h)$/.exec(text);
  const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!(ms >= 1 && ms <= 86_400_000)) throw new ConfigError(`${source} ${JSON.stringify(text)}: expected a duration from 1ms to 24h such as 500ms, 10s, 1m or 1h`);
  return ms;
}

/** The `host:port` text of an address, as parseListenAddress reads it: `:9798`, `127.0.0.1:9798`, `[::1]:9798`. */
export function formatListenAddress(a: ListenAddress): string {
  const host = a.host === undefined ? '' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${host}:${a.port}`;
}

export function parseListenAddress(text: string, source: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (m === null) throw new ConfigError(`${source} ${JSON.stringify(text)}: expected host:port, :port or [ipv6]:port`);
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw new ConfigError(`${source} ${JSON.stringify(text)}: ${m[1]} is not an IPv6 address`);
  if (host !== undefined && m[1] === undefined) checkHost(host, source);
  return { host, port: parsePort(m[3]!, source, text) };
}

function parsePort(text: string, source: string, shown = text): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new ConfigError(`${source} ${JSON.stringify(shown)}: port must be 0..65535`);
  return port;
}

function checkHost(host: string, source: string): void {
  if (isIP(host) === 0 && !/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/.test(host)) {
    throw new ConfigError(`${source} ${JSON.stringify(host)}: not an IP address or host name`);
  }
}

function parseLabels(flagValues: readonly string[] | undefined, envValue: string | undefined): [string, string][] {
  const items =
    flagValues !== undefined && flagValues.length > 0
      ? flagValues.map((v) => ({ text: v, source: '--label' }))
      : (envValue ?? '')
          .split(',')
          .filter((s) => s.trim() !== '')
          .map((v) => ({ text: v.trim(), source: 'env MULTIPROC_EXPORTER_LABELS' }));
  const out: [string, string][] = [];
  for (const { text, source } of items) {
    const eq = text.indexOf('=');
    const name = eq < 0 ? text : text.slice(0, eq);
    const value = eq < 0 ? '' : text.slice(eq + 1);
    if (eq < 0 || !isUserLabelName(name)) {
      throw new ConfigError(`${source} ${JSON.stringify(text)}: expected name=value with a label name like [a-zA-Z_][a-zA-Z0-9_]* (not starting with __)`);
    }
    if (value === '') throw new ConfigError(`${source} ${JSON.stringify(text)}: the value is empty (an empty label is no label)`);
    if (out.some(([n]) => n === name)) throw new ConfigError(`${source}: label ${name} is given twice`);
    out.push([name, value]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}
