/**
 * The `--push.*` options (listed with the others in config.ts's OPTIONS table): targets, schedule,
 * queue, retry, and per protocol the auth and TLS of its targets. A bad value is a ConfigError
 * naming the flag.
 */
import { accessSync, constants as fs } from 'node:fs';
import { ConfigError, parseDuration } from '../config.js';
import { DEFAULT_MAX_SAMPLES_PER_SEND } from './batch.js';
import type { ClientSettings } from './client.js';

type Protocol = 'remoteWrite' | 'otlp';

/** Flag values as commander gives them. */
export type PushFlags = {
  'push.remoteWrite.url'?: string[];
  'push.otlp.endpoint'?: string[];
  'push.interval'?: string;
  'push.timeout'?: string;
  'push.maxSamplesPerSend'?: string;
  'push.queue.maxBatches'?: string;
  'push.retry.minBackoff'?: string;
  'push.retry.maxBackoff'?: string;
  'push.otlp.resourceAttribute'?: string[];
} & {
  [K in `push.${Protocol}.${'bearerTokenFile' | 'basicAuth.username' | 'basicAuth.passwordFile' | 'tls.caFile' | 'tls.certFile' | 'tls.keyFile' | 'tls.serverName'}`]?: string;
} & { [K in `push.${Protocol}.header`]?: string[] } & { [K in `push.${Protocol}.tls.insecureSkipVerify`]?: boolean };

export interface PushTargetConfig {
  readonly url: string;
  readonly client: Omit<ClientSettings, 'timeoutMs'>;
}

export interface PushConfig {
  readonly remoteWrite: readonly PushTargetConfig[];
  readonly otlp: readonly PushTargetConfig[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly maxSamplesPerSend: number;
  readonly queueMaxBatches: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Sorted by key; service.name always among them. */
  readonly otlpResourceAttributes: readonly (readonly [string, string])[];
}

export const DEFAULT_PUSH_INTERVAL_MS = 15_000;
export const DEFAULT_PUSH_TIMEOUT_MS = 10_000;
export const DEFAULT_QUEUE_MAX_BATCHES = 100;
export const DEFAULT_MIN_BACKOFF_MS = 500;
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
export const DEFAULT_SERVICE_NAME = 'multiproc-exporter';

/** Headers the protocol sets itself (or auth flags set): a --push.*.header cannot replace them. */
const OWN_HEADERS = ['content-type', 'content-encoding', 'content-length', 'x-prometheus-remote-write-version', 'user-agent', 'host', 'transfer-encoding', 'connection'];
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function wholeNumber(text: string | undefined, flag: string, def: number, min: number, max: number): number {
  if (text === undefined) return def;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) throw new ConfigError(`${flag} ${JSON.stringify(text)}: must be a whole number from ${min} to ${max}`);
  return n;
}

function checkUrl(text: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError(`${flag} ${JSON.stringify(text)}: not a URL (expected e.g. http://host:port/path)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${flag} ${JSON.stringify(text)}: must be http:// or https://`);
  if (u.hash !== '') throw new ConfigError(`${flag} ${JSON.stringify(text)}: a URL to POST to has no #fragment`);
  return text;
}

function readable(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    accessSync(file, fs.R_OK);
  } catch (e) {
    throw new ConfigError(`${flag} ${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return file;
}

function clientSettings(flags: PushFlags, p: Protocol, urls: readonly string[]): Omit<ClientSettings, 'timeoutMs'> {
  const flag = (name: string): string => `--push.${p === 'remoteWrite' ? 'remote-write' : 'otlp'}.${name}`;
  const token = flags[`push.${p}.bearerTokenFile`];
  const user = flags[`push.${p}.basicAuth.username`];
  const password = flags[`push.${p}.basicAuth.passwordFile`];
  if (token !== undefined && (user !== undefined || password !== undefined)) {
    throw new ConfigError(`${flag('bearer-token-file')} and ${flag('basic-auth.username')} both set the Authorization header: use one`);
  }
  if (password !== undefined && user === undefined) throw new ConfigError(`${flag('basic-auth.password-file')} is set but no ${flag('basic-auth.username')}`);
  if (user !== undefined && (user === '' || user.includes(':'))) throw new ConfigError(`${flag('basic-auth.username')} ${JSON.stringify(user)}: must be non-empty, without ":"`);
  const headers: [string, string][] = [];
  for (const h of flags[`push.${p}.header`] ?? []) {
    const colon = h.indexOf(':');
    const name = colon < 0 ? '' : h.slice(0, colon).trim();
    const value = colon < 0 ? '' : h.slice(colon + 1).trim();
    if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) throw new ConfigError(`${flag('header')} ${JSON.stringify(h)}: expected "Name: value"`);
    const lower = name.toLowerCase();
    if (OWN_HEADERS.includes(lower)) throw new ConfigError(`${flag('header')} ${JSON.stringify(h)}: ${name} is set by the protocol and cannot be replaced`);
    if (lower === 'authorization' && (token !== undefined || user !== undefined)) throw new ConfigError(`${flag('header')} ${JSON.stringify(h)}: Authorization is already set by the auth flags`);
    headers.push([name, value]);
  }
  const caFile = flags[`push.${p}.tls.caFile`];
  const certFile = flags[`push.${p}.tls.certFile`];
  const keyFile = flags[`push.${p}.tls.keyFile`];
  const serverName = flags[`push.${p}.tls.serverName`];
  const insecure = flags[`push.${p}.tls.insecureSkipVerify`] === true;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(certFile === undefined ? `${flag('tls.key-file')} is set but no ${flag('tls.cert-file')}` : `${flag('tls.cert-file')} is set but no ${flag('tls.key-file')}`);
  }
  const tlsGiven = caFile !== undefined || certFile !== undefined || serverName !== undefined || insecure;
  if (tlsGiven && urls.length > 0 && !urls.some((u) => u.startsWith('https:'))) {
    throw new ConfigError(`${flag('tls.*')} options are set but no ${p === 'remoteWrite' ? '--push.remote-write.url' : '--push.otlp.endpoint'} is https://`);
  }
  return {
    bearerTokenFile: readable(token, flag('bearer-token-file')),
    basicAuthUsername: user,
    basicAuthPasswordFile: readable(password, flag('basic-auth.password-file')),
    headers,
    tls: {
      caFile: readable(caFile, flag('tls.ca-file')),
      certFile: readable(certFile, flag('tls.cert-file')),
      keyFile: readable(keyFile, flag('tls.key-file')),
      serverName,
      insecureSkipVerify: insecure,
    },
  };
}

function resourceAttributes(values: readonly string[] | undefined): [string, string][] {
  const out = new Map<string, string>();
  for (const text of values ?? []) {
    const eq = text.indexOf('=');
    const key = eq < 0 ? '' : text.slice(0, eq).trim();
    if (key === '') throw new ConfigError(`--push.otlp.resource-attribute ${JSON.stringify(text)}: expected key=value, e.g. service.name=checkout`);
    if (out.has(key)) throw new ConfigError(`--push.otlp.resource-attribute: ${key} is given twice`);
    out.set(key, text.slice(eq + 1));
  }
  if (!out.has('service.name')) out.set('service.name', DEFAULT_SERVICE_NAME);
  return [...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** null when no target is given (push off). */
export function resolvePushConfig(flags: PushFlags): PushConfig | null {
  const rwUrls = (flags['push.remoteWrite.url'] ?? []).map((u) => checkUrl(u, '--push.remote-write.url'));
  const otlpUrls = (flags['push.otlp.endpoint'] ?? []).map((u) => checkUrl(u, '--push.otlp.endpoint'));
  for (const [urls, flag] of [[rwUrls, '--push.remote-write.url'], [otlpUrls, '--push.otlp.endpoint']] as const) {
    const dup = urls.find((u, i) => urls.indexOf(u) !== i);
    if (dup !== undefined) throw new ConfigError(`${flag} ${dup} is given twice`);
  }
  const rwClient = clientSettings(flags, 'remoteWrite', rwUrls);
  const otlpClient = clientSettings(flags, 'otlp', otlpUrls);
  const intervalMs = parseDuration(flags['push.interval'], '--push.interval', DEFAULT_PUSH_INTERVAL_MS);
  if (intervalMs < 100) throw new ConfigError(`--push.interval ${JSON.stringify(flags['push.interval'])}: at least 100ms`);
  const timeoutMs = parseDuration(flags['push.timeout'], '--push.timeout', DEFAULT_PUSH_TIMEOUT_MS);
  const minBackoffMs = parseDuration(flags['push.retry.minBackoff'], '--push.retry.min-backoff', DEFAULT_MIN_BACKOFF_MS);
  const maxBackoffMs = parseDuration(flags['push.retry.maxBackoff'], '--push.retry.max-backoff', Math.max(DEFAULT_MAX_BACKOFF_MS, minBackoffMs));
  if (maxBackoffMs < minBackoffMs) throw new ConfigError(`--push.retry.max-backoff ${maxBackoffMs} ms is shorter than --push.retry.min-backoff ${minBackoffMs} ms`);
  const config: PushConfig = {
    remoteWrite: rwUrls.map((url) => ({ url, client: rwClient })),
    otlp: otlpUrls.map((url) => ({ url, client: otlpClient })),
    intervalMs,
    timeoutMs,
    maxSamplesPerSend: wholeNumber(flags['push.maxSamplesPerSend'], '--push.max-samples-per-send', DEFAULT_MAX_SAMPLES_PER_SEND, 1, 1_000_000),
    queueMaxBatches: wholeNumber(flags['push.queue.maxBatches'], '--push.queue.max-batches', DEFAULT_QUEUE_MAX_BATCHES, 1, 1_000_000),
    minBackoffMs,
    maxBackoffMs,
    otlpResourceAttributes: resourceAttributes(flags['push.otlp.resourceAttribute']),
  };
  return rwUrls.length + otlpUrls.length === 0 ? null : config;
}
