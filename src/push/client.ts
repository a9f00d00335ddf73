/**
 * One push target's HTTP client: POSTs a body with the protocol's headers, auth (bearer token
 * file or basic auth with a password file, re-read on every request so rotated secrets are
 * picked up), extra headers, TLS (CA, client certificate; certificate checks skipped only by
 * explicit flag) and a timeout for the whole exchange. It never throws: it says what happened.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface TlsClientSettings {
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly serverName: string | undefined;
  readonly insecureSkipVerify: boolean;
}

export interface ClientSettings {
  readonly bearerTokenFile: string | undefined;
  readonly basicAuthUsername: string | undefined;
  readonly basicAuthPasswordFile: string | undefined;
  /** Sent with every request (after the protocol's own, which they cannot replace). */
  readonly headers: readonly (readonly [string, string])[];
  readonly tls: TlsClientSettings;
  /** The whole request, from connecting to the last byte of the answer. */
  readonly timeoutMs: number;
}

export type SendResult =
  | { readonly kind: 'answered'; readonly status: number; readonly body: Buffer; readonly retryAfterMs: number | null }
  | { readonly kind: 'timeout'; readonly message: string }
  | { readonly kind: 'tls'; readonly message: string }
  | { readonly kind: 'network'; readonly message: string };

/** Enough of an error answer to show its message; the rest is discarded. */
const MAX_ANSWER_BYTES = 64 * 1024;

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** `Retry-After`: seconds, or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | null {
  if (value === undefined || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

export class PushClient {
  private readonly url: URL;
  private readonly agent: HttpAgent;
  private readonly https: boolean;

  /** Throws (an Error naming the file) when a TLS file cannot be read. */
  constructor(
    url: string,
    private readonly settings: ClientSettings,
    /** The flag prefix to name in messages, e.g. `--push.remote-write`. */
    private readonly flagPrefix: string,
  ) {
    this.url = new URL(url);
    this.https = this.url.protocol === 'https:';
    if (this.https) {
      const t = settings.tls;
      this.agent = new HttpsAgent({
        keepAlive: true,
        maxSockets: 1,
        ...(t.caFile !== undefined ? { ca: readTlsFile(t.caFile, `${flagPrefix}.tls.ca-file`) } : {}),
        ...(t.certFile !== undefined ? { cert: readTlsFile(t.certFile, `${flagPrefix}.tls.cert-file`) } : {}),
        ...(t.keyFile !== undefined ? { key: readTlsFile(t.keyFile, `${flagPrefix}.tls.key-file`) } : {}),
        ...(t.serverName !== undefined ? { servername: t.serverName } : {}),
        rejectUnauthorized: !t.insecureSkipVerify,
      });
    } else {
      this.agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    }
  }

  send(body: Buffer, protocolHeaders: Readonly<Record<string, string>>, userAgent: string): Promise<SendResult> {
    let headers: Record<string, string>;
    try {
      headers = this.headers(body, protocolHeaders, userAgent);
    } catch (e) {
      return Promise.resolve({ kind: 'network', message: (e as Error).message });
    }
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: SendResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const request = this.https ? httpsRequest : httpRequest;
      const req = request(this.url, { method: 'POST', agent: this.agent, headers }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_ANSWER_BYTES) chunks.push(c);
          size += c.length;
        });
        res.on('end', () => {
          done({ kind: 'answered', status: res.statusCode ?? 0, body: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES), retryAfterMs: parseRetryAfter(res.headers['retry-after'], Date.now()) });
        });
        res.on('error', (err) => done(this.failure(err)));
      });
      const timer = setTimeout(() => {
        done({ kind: 'timeout', message: `no complete answer within ${this.settings.timeoutMs} ms (${this.flagPrefix.replace(/\.[^.]+$/, '')}.timeout)` });
        req.destroy();
      }, this.settings.timeoutMs);
      req.on('error', (err) => done(this.failure(err)));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private headers(body: Buffer, protocolHeaders: Readonly<Record<string, string>>, userAgent: string): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of this.settings.headers) headers[name] = value;
    const s = this.settings;
    if (s.bearerTokenFile !== undefined) {
      headers['Authorization'] = `Bearer ${readSecret(s.bearerTokenFile, `${this.flagPrefix}.bearer-token-file`)}`;
    } else if (s.basicAuthUsername !== undefined) {
      const password = s.basicAuthPasswordFile === undefined ? '' : readSecret(s.basicAuthPasswordFile, `${this.flagPrefix}.basic-auth.password-file`);
      headers['Authorization'] = `Basic ${Buffer.from(`${s.basicAuthUsername}:${password}`).toString('base64')}`;
    }
    for (const [name, value] of Object.entries(protocolHeaders)) headers[name] = value;
    headers['User-Agent'] = userAgent;
    headers['Content-Length'] = String(body.length);
    return headers;
  }

  private failure(err: NodeJS.ErrnoException): SendResult {
    const code = err.code ?? '';
    if (TLS_TRUST_CODES.has(code)) {
      return { kind: 'tls', message: `TLS: the server's certificate is not trusted (${code}: ${err.message}); give the CA that signed it with ${this.flagPrefix}.tls.ca-file` };
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return { kind: 'tls', message: `TLS: the server's certificate is not for ${this.url.hostname} (${err.message}); set ${this.flagPrefix}.tls.server-name to a name it holds` };
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
      return { kind: 'tls', message: `TLS: ${err.message} (${code})` };
    }
    return { kind: 'network', message: code === '' ? err.message : `${err.message} (${code})` };
  }
}

function readTlsFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`${flag} ${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

function readSecret(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new Error(`${flag} ${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; the request was not sent`, { cause: e });
  }
}
