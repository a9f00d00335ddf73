/**
 * The exporter-toolkit web configuration file (`--web.config.file`, the format node_exporter and
 * every other exporter built on prometheus/exporter-toolkit reads): its types, and `loadWebConfig`,
 * which hands each top-level section to its parser (tls.ts, http-config.ts, basic-auth.ts,
 * rate-limit.ts).
 *
 * Everything is read and validated up front (including the certificate, key and client CA files),
 * so a bad file is a startup error that names the file, the key and the problem, never a failed
 * handshake at scrape time. Like exporter-toolkit (strict YAML unmarshalling) unknown keys are
 * errors; relative paths are resolved against the config file's directory.
 */
import { declaresNoUsers, parseBasicAuthUsers } from './basic-auth.js';
import { ConfigFile, isNull } from './config-file.js';
import { parseHttpServerConfig } from './http-config.js';
import { parseRateLimit, type RateLimitSettings } from './rate-limit.js';
import { parseTlsServerConfig } from './tls.js';

export { WebConfigError } from './config-file.js';
export type { RateLimitSettings } from './rate-limit.js';

export type ClientAuthType =
  | 'NoClientCert'
  | 'RequestClientCert'
  | 'RequireAnyClientCert'
  | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';

export type TlsVersionName = 'TLS10' | 'TLS11' | 'TLS12' | 'TLS13';

export type CurveName = 'X25519' | 'CurveP256' | 'CurveP384' | 'CurveP521';

export interface TlsSettings {
  /** Where the certificate came from (absolute path), or null when given inline (`cert:`). */
  readonly certFile: string | null;
  /** Where the key came from (absolute path), or null when given inline (`key:`). */
  readonly keyFile: string | null;
  /** PEM: the server certificate, optionally followed by its intermediates. */
  readonly cert: string;
  /** PEM private key (validated to match `cert`). */
  readonly key: string;
  readonly clientAuthType: ClientAuthType;
  /** Where the client CA bundle came from (absolute path), or null. */
  readonly clientCaFile: string | null;
  /** PEM bundle of CAs that sign client certificates, or null. */
  readonly clientCa: string | null;
  readonly minVersion: TlsVersionName;
  readonly maxVersion: TlsVersionName;
  /** Go cipher-suite names as configured (empty = OpenSSL defaults). */
  readonly cipherSuites: readonly string[];
  readonly preferServerCipherSuites: boolean;
  /** Go curve names as configured, in preference order (empty = OpenSSL defaults). */
  readonly curvePreferences: readonly CurveName[];
  /** A client certificate must carry one of these SANs (DNS, e-mail, IP, URI); empty = not checked. */
  readonly clientAllowedSans: readonly string[];
}

export interface WebConfig {
  /** null = serve plain HTTP. */
  readonly tls: TlsSettings | null;
  /** username → bcrypt hash; empty = no basic auth. */
  readonly basicAuthUsers: ReadonlyMap<string, string>;
  /** Extra response headers (http_server_config.headers, blank values dropped). */
  readonly headers: ReadonlyMap<string, string>;
  /** Requests per listener (rate_limit); null = no limit. */
  readonly rateLimit: RateLimitSettings | null;
  /** The file has no content (empty, whitespace or comments only): a reload refuses it (settings.ts). */
  readonly empty: boolean;
  /** The file says `basic_auth_users: {}`: the one way a reload may switch basic auth off (settings.ts). */
  readonly basicAuthDeclaredOff: boolean;
}

/** No TLS, no auth, no extra headers, no rate limit: what the daemon serves without a web config. */
export const NO_WEB_CONFIG: WebConfig = { tls: null, basicAuthUsers: new Map(), headers: new Map(), rateLimit: null, empty: false, basicAuthDeclaredOff: false };

const SECTIONS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'];

/** Reads, parses and fully validates a web config file (including every file it points to). */
export function loadWebConfig(path: string): WebConfig {
  const file = ConfigFile.read(path);
  const top = file.map(file.root, '');
  file.checkKeys(top, '', SECTIONS, {
    auth_excluded_paths: 'auth_excluded_paths is not supported by multiproc-exporter',
  });
  const tls = parseTlsServerConfig(file, top.get('tls_server_config'));
  const { headers } = parseHttpServerConfig(file, top.get('http_server_config'));
  const basicAuthUsers = parseBasicAuthUsers(file, top.get('basic_auth_users'));
  const rateLimit = parseRateLimit(file, top.get('rate_limit'));
  return { tls, basicAuthUsers, headers, rateLimit, empty: isNull(file.root), basicAuthDeclaredOff: declaresNoUsers(top.get('basic_auth_users')) };
}
