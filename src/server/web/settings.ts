/**
 * The web settings a listener applies to every request (rate limit, TLS client-certificate policy,
 * basic auth, extra headers), replaceable while the daemon runs: SIGHUP re-reads the web config
 * and, if it is valid, swaps them in; new TLS handshakes use the new certificates at once. The
 * rate limit's bucket is kept across a reload that leaves rate_limit as it was.
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

  constructor(web: WebConfig) {
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
   * Swap in a new, already validated, config. TLS cannot be switched on or off without a new
   * listener: returns why not (nothing is changed), or null when applied.
   */
  apply(web: WebConfig): string | null {
    if ((web.tls === null) !== (this.tls === null)) {
      return `TLS cannot be turned ${web.tls === null ? 'off' : 'on'} by a reload; restart the daemon`;
    }
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
    this.tls = web.tls;
    this.auth = new BasicAuth(web.basicAuthUsers);
    this.headers = web.headers;
    if (!sameRateLimit(this.rateLimit?.settings ?? null, web.rateLimit)) {
      this.rateLimit = web.rateLimit === null ? null : new TokenBucket(web.rateLimit);
    }
    return null;
  }
}

function sameRateLimit(a: RateLimitSettings | null, b: RateLimitSettings | null): boolean {
  return a === null || b === null ? a === b : a.intervalMs === b.intervalMs && a.burst === b.burst;
}
