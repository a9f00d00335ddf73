/**
 * The web settings a listener applies to every request (rate limit, TLS client-certificate policy,
 * basic auth, extra headers), replaceable while the daemon runs: SIGHUP re-reads the web config
 * and, if it is valid, swaps them in; new TLS handshakes use the new certificates at once. The
 * rate limit's bucket is kept across a reload that leaves rate_limit as it was.
 *
 * A reload fails closed (`reloadRefusal`): it never switches TLS on or off, never takes an empty
 * file for "no settings", and switches basic auth off only when the file says `basic_auth_users: {}`.
 */
import type { Server } from 'node:http';
import type { Server as TlsServer } from 'node:tls';
import { BasicAuth } from './basic-auth.js';
import { NO_WEB_CONFIG, type RateLimitSettings, type TlsSettings, type WebConfig } from './config.js';
import { TokenBucket } from './rate-limit.js';
import { httpsServerOptions } from './tls.js';

export class WebSettings {
  auth: BasicAuth;
  headers: ReadonlyMap<string, string>;
  tls: TlsSettings | null;
  /** null = no rate limit. */
  rateLimit: TokenBucket | null;
  private readonly servers: TlsServer[] = [];
  #config: WebConfig;

  constructor(web: WebConfig) {
    this.#config = web;
    this.auth = new BasicAuth(web.basicAuthUsers);
    this.headers = web.headers;
    this.tls = web.tls;
    this.rateLimit = web.rateLimit === null ? null : new TokenBucket(web.rateLimit);
  }

  /** No TLS, no auth, no extra headers, no rate limit (the separate health listener). */
  static none(): WebSettings {
    return new WebSettings(NO_WEB_CONFIG);
  }

  /** The HTTPS servers whose certificates and client-certificate policy follow these settings. */
  attach(server: Server): void {
    if (this.tls !== null) this.servers.push(server as unknown as TlsServer);
  }

  /**
   * Swap in a new, already validated, config, unless reloadRefusal refuses it: returns why
   * (nothing is changed), or null when applied.
   */
  apply(web: WebConfig): string | null {
    const refused = reloadRefusal(this.#config, web);
    if (refused !== null) return refused;
    if (web.tls !== null) {
      const options = httpsServerOptions(web.tls);
      for (const server of this.servers) {
        server.setSecureContext(options);
        // Read by node:tls for every new connection (tls.Server sets them from its constructor options).
        const policy = server as unknown as { requestCert: boolean; rejectUnauthorized: boolean };
        policy.requestCert = options.requestCert === true;
        policy.rejectUnauthorized = options.rejectUnauthorized !== false;
      }
    }
    this.#config = web;
    this.tls = web.tls;
    this.auth = new BasicAuth(web.basicAuthUsers);
    this.headers = web.headers;
    if (!sameRateLimit(this.rateLimit?.settings ?? null, web.rateLimit)) {
      this.rateLimit = web.rateLimit === null ? null : new TokenBucket(web.rateLimit);
    }
    return null;
  }
}

/**
 * Why a reload from `current` to `next` is refused, or null. Each rule stops a file caught
 * half-written (a non-atomic rewrite: truncated, then filled) from opening the listener:
 * - an empty file, while the current config sets anything;
 * - TLS switched on or off (the listener would have to be recreated: restart the daemon);
 * - basic auth switched off (every user gone), unless the file says `basic_auth_users: {}`.
 */
export function reloadRefusal(current: WebConfig, next: WebConfig): string | null {
  const inForce = settingsInForce(current);
  if (next.empty && inForce.length > 0) {
    return `the file is empty (caught mid-rewrite?) and would switch off ${inForce.join(', ')}; write the whole config (to clear every setting on purpose, write {})`;
  }
  if ((next.tls === null) !== (current.tls === null)) {
    return `TLS cannot be turned ${next.tls === null ? 'off' : 'on'} by a reload; restart the daemon`;
  }
  if (current.basicAuthUsers.size > 0 && next.basicAuthUsers.size === 0 && !next.basicAuthDeclaredOff) {
    const users = current.basicAuthUsers.size;
    return `basic_auth_users is missing or empty: the reload would switch basic auth off (${users} user${users === 1 ? '' : 's'} now), refused in case the file was cut short; to switch basic auth off on purpose, write basic_auth_users: {}`;
  }
  return null;
}

function settingsInForce(web: WebConfig): string[] {
  const on: string[] = [];
  if (web.tls !== null) on.push('TLS');
  if (web.basicAuthUsers.size > 0) on.push('basic auth');
  if (web.headers.size > 0) on.push('http_server_config.headers');
  if (web.rateLimit !== null) on.push('rate_limit');
  return on;
}

function sameRateLimit(a: RateLimitSettings | null, b: RateLimitSettings | null): boolean {
  return a === null || b === null ? a === b : a.intervalMs === b.intervalMs && a.burst === b.burst;
}
