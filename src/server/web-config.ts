/**
 * The exporter-toolkit web configuration file (`--web.config.file`, the format node_exporter and
 * every other exporter built on prometheus/exporter-toolkit reads): TLS server settings, extra
 * security response headers and bcrypt basic-auth users. Also the plain `--tls.cert-file` /
 * `--tls.key-file` pair, which goes through the same certificate validation.
 *
 * Everything is read and validated up front (including the certificate, key and client CA files),
 * so a bad file is a startup error that names the file, the key and the problem, never a failed
 * handshake at scrape time. Like exporter-toolkit (strict YAML unmarshalling) unknown keys are
 * errors; relative paths are resolved against the config file's directory.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { validateHeaderValue } from 'node:http';
import type { ServerOptions } from 'node:https';
import { dirname, resolve } from 'node:path';
import nodeTls, { createSecureContext, type PeerCertificate, type SecureVersion, type TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';

export class WebConfigError extends Error {
  override readonly name = 'WebConfigError';
}

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
}

export interface WebConfig {
  /** null = serve plain HTTP. */
  readonly tls: TlsSettings | null;
  /** username → bcrypt hash; empty = no basic auth. */
  readonly basicAuthUsers: ReadonlyMap<string, string>;
  /** Extra response headers (http_server_config.headers, blank values dropped). */
  readonly headers: ReadonlyMap<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Tables

const CLIENT_AUTH_TYPES: ReadonlyMap<string, ClientAuthType> = new Map<string, ClientAuthType>([
  ['NoClientCert', 'NoClientCert'],
  ['RequestClientCert', 'RequestClientCert'],
  ['RequireAnyClientCert', 'RequireAnyClientCert'],
  ['RequireClientCert', 'RequireAnyClientCert'], // exporter-toolkit's backwards-compatible alias
  ['VerifyClientCertIfGiven', 'VerifyClientCertIfGiven'],
  ['RequireAndVerifyClientCert', 'RequireAndVerifyClientCert'],
]);

const TLS_VERSIONS: Readonly<Record<TlsVersionName, { readonly rank: number; readonly node: SecureVersion }>> = {
  TLS10: { rank: 0, node: 'TLSv1' },
  TLS11: { rank: 1, node: 'TLSv1.1' },
  TLS12: { rank: 2, node: 'TLSv1.2' },
  TLS13: { rank: 3, node: 'TLSv1.3' },
};

/**
 * Go's `tls.CipherSuites()` names (the ones exporter-toolkit accepts) → OpenSSL names. The TLS 1.3
 * suites are accepted but, as in Go, not configurable: every TLS 1.3 suite stays enabled.
 * Go's `tls.InsecureCipherSuites()` (RC4, 3DES, CBC-SHA256) are rejected, as exporter-toolkit does.
 */
const CIPHERS: ReadonlyMap<string, string | null> = new Map<string, string | null>([
  ['TLS_RSA_WITH_AES_128_CBC_SHA', 'AES128-SHA'],
  ['TLS_RSA_WITH_AES_256_CBC_SHA', 'AES256-SHA'],
  ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'],
  ['TLS_RSA_WITH_AES_256_GCM_SHA384', 'AES256-GCM-SHA384'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'ECDHE-ECDSA-AES128-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', 'ECDHE-ECDSA-AES256-SHA'],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'],
  ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', 'ECDHE-RSA-AES256-SHA'],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
  ['TLS_AES_128_GCM_SHA256', null],
  ['TLS_AES_256_GCM_SHA384', null],
  ['TLS_CHACHA20_POLY1305_SHA256', null],
]);

/** OpenSSL's TLS 1.3 suites (all of them, in Node's default order). */
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

const CURVES: Readonly<Record<CurveName, string>> = {
  X25519: 'X25519',
  CurveP256: 'prime256v1',
  CurveP384: 'secp384r1',
  CurveP521: 'secp521r1',
};

/**
 * The only headers exporter-toolkit lets `http_server_config.headers` set, with the values it
 * accepts (null = any value). Everything else (Authorization, Content-Type, …) is an error there,
 * and here.
 */
const EXTRA_HEADERS: ReadonlyMap<string, readonly string[] | null> = new Map<string, readonly string[] | null>([
  ['Strict-Transport-Security', null],
  ['X-Content-Type-Options', ['nosniff']],
  ['X-Frame-Options', ['deny', 'sameorigin']],
  ['X-XSS-Protection', null],
  ['Content-Security-Policy', null],
]);

const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

// ---------------------------------------------------------------------------------------------
// Config file

type Fail = (where: string, message: string) => never;

/** Reads, parses and fully validates a web config file (including every file it points to). */
export function loadWebConfig(path: string): WebConfig {
  const configPath = resolve(path);
  const prefix = `web config ${configPath}`;
  let source: string;
  try {
    source = readFileSync(configPath, 'utf8');
  } catch (err) {
    throw new WebConfigError(`${prefix}: cannot read: ${describeFsError(err)}`);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    const pos = lineCounter.linePos(firstError.pos[0]);
    const message = firstError.message.split('\n')[0] ?? firstError.message;
    throw new WebConfigError(`${prefix}: invalid YAML at line ${pos.line}, column ${pos.col}: ${message}`);
  }
  const walker: Walker = new Walker(prefix, doc, lineCounter);
  const baseDir = dirname(configPath);

  const top = walker.map(doc.contents, '');
  walker.checkKeys(top, '', ['tls_server_config', 'http_server_config', 'basic_auth_users'], {
    rate_limit: 'rate limiting is not supported by multiproc-exporter',
    auth_excluded_paths: 'auth_excluded_paths is not supported by multiproc-exporter',
  });

  const fail: Fail = (where, message) => {
    throw new WebConfigError(`${prefix}: ${where}: ${message}`);
  };

  // tls_server_config
  let tls: TlsSettings | null = null;
  const tlsNode = top.get('tls_server_config');
  if (tlsNode !== undefined && !isNull(tlsNode.value)) {
    const w = 'tls_server_config';
    const t = walker.map(tlsNode.value, w);
    walker.checkKeys(
      t,
      w,
      [
        'cert',
        'key',
        'client_ca',
        'cert_file',
        'key_file',
        'client_auth_type',
        'client_ca_file',
        'min_version',
        'max_version',
        'cipher_suites',
        'prefer_server_cipher_suites',
        'curve_preferences',
      ],
      { client_allowed_sans: 'client SAN allow-lists are not supported by multiproc-exporter' },
    );
    const str = (k: string): string | null => walker.string(t.get(k)?.value, `${w}.${k}`);
    const file = (k: string): string | null => {
      const v = str(k);
      return v === null ? null : resolve(baseDir, v);
    };

    const certFile = file('cert_file');
    const keyFile = file('key_file');
    const clientCaFile = file('client_ca_file');
    const inlineCert = str('cert');
    const inlineKey = str('key');
    const inlineCa = str('client_ca');
    for (const [inline, f, name] of [
      [inlineCert, certFile, 'cert'],
      [inlineKey, keyFile, 'key'],
      [inlineCa, clientCaFile, 'client_ca'],
    ] as const) {
      if (inline !== null && f !== null) fail(`${w}.${name}`, `set both ${name} and ${name}_file; use one`);
    }
    if (certFile === null && inlineCert === null) fail(`${w}.cert_file`, 'required when tls_server_config is present');
    if (keyFile === null && inlineKey === null) fail(`${w}.key_file`, 'required when tls_server_config is present');

    const clientAuthNode = t.get('client_auth_type')?.value;
    const clientAuthRaw = walker.string(clientAuthNode, `${w}.client_auth_type`);
    let clientAuthType: ClientAuthType = 'NoClientCert';
    if (clientAuthRaw !== null) {
      const found = CLIENT_AUTH_TYPES.get(clientAuthRaw);
      if (found === undefined) {
        walker.fail(
          `${w}.client_auth_type`,
          `invalid value ${JSON.stringify(clientAuthRaw)}; expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert`,
          clientAuthNode,
        );
      }
      clientAuthType = found;
    }
    const hasCa = clientCaFile !== null || inlineCa !== null;
    if (!hasCa && (clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert')) {
      fail(`${w}.client_ca_file`, `required for client_auth_type ${clientAuthType}`);
    }
    if (hasCa && clientAuthType === 'NoClientCert') {
      fail(
        `${w}.client_ca_file`,
        'client CAs configured without a client auth policy; set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)',
      );
    }

    const version = (k: 'min_version' | 'max_version', def: TlsVersionName): TlsVersionName => {
      const node = t.get(k)?.value;
      const v = walker.string(node, `${w}.${k}`);
      if (v === null) return def;
      if (!Object.hasOwn(TLS_VERSIONS, v)) {
        walker.fail(`${w}.${k}`, `unknown TLS version ${JSON.stringify(v)}; expected TLS10, TLS11, TLS12 or TLS13`, node);
      }
      return v as TlsVersionName;
    };
    const minVersion = version('min_version', 'TLS12');
    const maxVersion = version('max_version', 'TLS13');
    if (TLS_VERSIONS[minVersion].rank > TLS_VERSIONS[maxVersion].rank) {
      fail(`${w}.min_version`, `${minVersion} is greater than max_version ${maxVersion}`);
    }

    const cipherSuites: string[] = [];
    walker.stringList(t.get('cipher_suites')?.value, `${w}.cipher_suites`).forEach(([name, node], i) => {
      if (!CIPHERS.has(name)) {
        walker.fail(
          `${w}.cipher_suites[${i}]`,
          `unknown cipher ${JSON.stringify(name)}; supported: ${[...CIPHERS.keys()].join(', ')}`,
          node,
        );
      }
      cipherSuites.push(name);
    });

    const curvePreferences: CurveName[] = [];
    walker.stringList(t.get('curve_preferences')?.value, `${w}.curve_preferences`).forEach(([name, node], i) => {
      if (!Object.hasOwn(CURVES, name)) {
        walker.fail(
          `${w}.curve_preferences[${i}]`,
          `unknown curve ${JSON.stringify(name)}; expected X25519, CurveP256, CurveP384 or CurveP521`,
          node,
        );
      }
      curvePreferences.push(name as CurveName);
    });

    const preferServerCipherSuites =
      walker.bool(t.get('prefer_server_cipher_suites')?.value, `${w}.prefer_server_cipher_suites`) ?? true;

    const cert = inlineCert ?? readPem(certFile as string, `${w}.cert_file`, fail);
    const key = inlineKey ?? readPem(keyFile as string, `${w}.key_file`, fail);
    const certWhere = certFile === null ? `${w}.cert` : `${w}.cert_file`;
    const keyWhere = keyFile === null ? `${w}.key` : `${w}.key_file`;
    validateKeyPair(cert, key, certFile === null ? certWhere : `${certWhere}: ${certFile}`, keyFile === null ? keyWhere : `${keyWhere}: ${keyFile}`, fail);

    let clientCa: string | null = inlineCa;
    if (clientCaFile !== null) clientCa = readPem(clientCaFile, `${w}.client_ca_file`, fail);
    if (clientCa !== null) {
      validateCaBundle(clientCa, clientCaFile === null ? `${w}.client_ca` : `${w}.client_ca_file: ${clientCaFile}`, fail);
    }

    tls = {
      certFile,
      keyFile,
      cert,
      key,
      clientAuthType,
      clientCaFile,
      clientCa,
      minVersion,
      maxVersion,
      cipherSuites,
      preferServerCipherSuites,
      curvePreferences,
    };
    validateWithOpenSsl(tls, w, fail);
  }

  // http_server_config
  const headers = new Map<string, string>();
  const httpNode = top.get('http_server_config');
  if (httpNode !== undefined && !isNull(httpNode.value)) {
    const w = 'http_server_config';
    const h = walker.map(httpNode.value, w);
    walker.checkKeys(h, w, ['headers', 'http2'], {});
    // http2: accepted for compatibility (exporter-toolkit's default is true); this server speaks HTTP/1.1.
    walker.bool(h.get('http2')?.value, `${w}.http2`);
    const headersNode = h.get('headers');
    if (headersNode !== undefined && !isNull(headersNode.value)) {
      for (const [name, entry] of walker.map(headersNode.value, `${w}.headers`)) {
        const where = `${w}.headers.${name}`;
        const allowed = EXTRA_HEADERS.get(name);
        if (allowed === undefined) {
          walker.fail(
            where,
            `HTTP header ${JSON.stringify(name)} can not be configured; allowed: ${[...EXTRA_HEADERS.keys()].join(', ')}`,
            entry.key,
          );
        }
        const value = walker.string(entry.value, where);
        if (value === null || value === '') continue; // "Unset if blank."
        if (allowed !== null && !allowed.includes(value)) {
          walker.fail(where, `invalid value ${JSON.stringify(value)}; expected one of: ${allowed.join(', ')}`, entry.value);
        }
        try {
          validateHeaderValue(name, value);
        } catch {
          walker.fail(where, 'value contains characters not allowed in an HTTP header', entry.value);
        }
        headers.set(name, value);
      }
    }
  }

  // basic_auth_users
  const basicAuthUsers = new Map<string, string>();
  const usersNode = top.get('basic_auth_users');
  if (usersNode !== undefined && !isNull(usersNode.value)) {
    for (const [user, entry] of walker.map(usersNode.value, 'basic_auth_users')) {
      const where = `basic_auth_users.${user}`;
      if (user.includes(':')) walker.fail(where, "username contains ':', which basic auth can not transmit", entry.key);
      if (/[\x00-\x1f\x7f]/.test(user)) walker.fail(where, 'username contains control characters', entry.key);
      const hash = walker.string(entry.value, where);
      if (hash === null || !BCRYPT_HASH.test(hash)) {
        walker.fail(
          where,
          `not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost of 04-31 and 53 more characters); passwords must be stored bcrypt-hashed, e.g. the output of htpasswd -nBC 10 "" | tr -d ':\\n'`,
          entry.value ?? entry.key,
        );
      }
      basicAuthUsers.set(user, hash);
    }
  }

  return { tls, basicAuthUsers, headers };
}

/** TLS settings for `--tls.cert-file` / `--tls.key-file` (no web config): exporter-toolkit defaults. */
export function tlsFromFiles(certFile: string, keyFile: string): TlsSettings {
  const fail: Fail = (where, message) => {
    throw new WebConfigError(`${where}: ${message}`);
  };
  const certPath = resolve(certFile);
  const keyPath = resolve(keyFile);
  const cert = readPem(certPath, 'TLS certificate file', fail);
  const key = readPem(keyPath, 'TLS key file', fail);
  validateKeyPair(cert, key, `TLS certificate file ${certPath}`, `TLS key file ${keyPath}`, fail);
  const tls: TlsSettings = {
    certFile: certPath,
    keyFile: keyPath,
    cert,
    key,
    clientAuthType: 'NoClientCert',
    clientCaFile: null,
    clientCa: null,
    minVersion: 'TLS12',
    maxVersion: 'TLS13',
    cipherSuites: [],
    preferServerCipherSuites: true,
    curvePreferences: [],
  };
  validateWithOpenSsl(tls, 'TLS settings', fail);
  return tls;
}

/** The `https.createServer` options for these settings. */
export function httpsServerOptions(tls: TlsSettings): ServerOptions {
  const options: ServerOptions = {
    cert: tls.cert,
    key: tls.key,
    minVersion: TLS_VERSIONS[tls.minVersion].node,
    maxVersion: TLS_VERSIONS[tls.maxVersion].node,
    honorCipherOrder: tls.preferServerCipherSuites,
  };
  if (tls.clientCa !== null) options.ca = tls.clientCa;
  switch (tls.clientAuthType) {
    case 'NoClientCert':
      options.requestCert = false;
      options.rejectUnauthorized = false;
      break;
    case 'RequestClientCert':
    case 'RequireAnyClientCert': // the "any" is enforced per request: clientCertAllowed
    case 'VerifyClientCertIfGiven': // verified per request: clientCertAllowed
      options.requestCert = true;
      options.rejectUnauthorized = false;
      break;
    case 'RequireAndVerifyClientCert':
      options.requestCert = true;
      options.rejectUnauthorized = true;
      break;
  }
  const tls12: string[] = [];
  for (const name of tls.cipherSuites) {
    const openssl = CIPHERS.get(name);
    if (openssl) tls12.push(openssl);
  }
  const legacy = TLS_VERSIONS[tls.minVersion].rank < TLS_VERSIONS.TLS12.rank;
  if (tls12.length > 0 || legacy) {
    // TLS 1.3 suites stay enabled (Go does not let them be configured either). OpenSSL 3 refuses
    // TLS 1.0/1.1 at its default security level, so an explicit min_version below TLS12 lowers it.
    const list = tls12.length > 0 ? `${TLS13_SUITES}:${tls12.join(':')}` : defaultCiphers();
    options.ciphers = legacy ? `${list}:@SECLEVEL=0` : list;
  }
  if (tls.curvePreferences.length > 0) options.ecdhCurve = tls.curvePreferences.map((c) => CURVES[c]).join(':');
  return options;
}

/**
 * Whether a request on this TLS socket may proceed under the configured client_auth_type. The
 * handshake already enforces NoClientCert / RequestClientCert / RequireAndVerifyClientCert; the
 * server must call this for RequireAnyClientCert (a certificate must be present, any issuer) and
 * VerifyClientCertIfGiven (no certificate, or one that verified against client_ca_file), and
 * answer 403 (or drop the connection) when it is false.
 */
export function clientCertAllowed(tls: TlsSettings, socket: TLSSocket): boolean {
  switch (tls.clientAuthType) {
    case 'NoClientCert':
    case 'RequestClientCert':
      return true;
    case 'RequireAnyClientCert':
      return hasPeerCertificate(socket);
    case 'VerifyClientCertIfGiven':
      return !hasPeerCertificate(socket) || socket.authorized;
    case 'RequireAndVerifyClientCert':
      return hasPeerCertificate(socket) && socket.authorized;
  }
}

function hasPeerCertificate(socket: TLSSocket): boolean {
  // Node returns {} (or null on a closed socket) when the client sent no certificate.
  const cert = socket.getPeerCertificate() as Partial<PeerCertificate> | null;
  return cert !== null && cert !== undefined && cert.raw !== undefined && cert.raw.length > 0;
}

function defaultCiphers(): string {
  // Read through the module object: tls.DEFAULT_CIPHERS can be changed at runtime.
  return nodeTls.DEFAULT_CIPHERS;
}

// ---------------------------------------------------------------------------------------------
// PEM helpers

function readPem(file: string, where: string, fail: Fail): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(where, `${file}: cannot read: ${describeFsError(err)}`);
  }
  if (text.trim() === '') fail(where, `${file}: file is empty`);
  return text;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function parseCertificates(pem: string, where: string, fail: Fail): X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    const hint = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem) ? ' (it holds a private key; are the cert and key swapped?)' : '';
    fail(where, `no PEM certificate found${hint}`);
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      return fail(where, `certificate #${i + 1} is not a valid X.509 certificate: ${errorMessage(err)}`);
    }
  });
}

function validateKeyPair(certPem: string, keyPem: string, certWhere: string, keyWhere: string, fail: Fail): void {
  const certs = parseCertificates(certPem, certWhere, fail);
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyPem)) {
    fail(keyWhere, 'encrypted private keys are not supported; decrypt it (openssl pkey -in key.enc -out key.pem)');
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) {
    const hint = /-----BEGIN CERTIFICATE-----/.test(keyPem) ? ' (it holds a certificate; are the cert and key swapped?)' : '';
    fail(keyWhere, `no PEM private key found${hint}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (err) {
    fail(keyWhere, `not a valid private key: ${errorMessage(err)}`);
  }
  const leaf = certs[0] as X509Certificate;
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(key);
  } catch {
    matches = false;
  }
  if (!matches) {
    fail(keyWhere, `private key does not match the certificate (subject ${JSON.stringify(leaf.subject.replace(/\n/g, ', '))})`);
  }
}

function validateCaBundle(pem: string, where: string, fail: Fail): void {
  parseCertificates(pem, where, fail);
}

/** Last line of defence: let OpenSSL build a context with exactly the options the server will use. */
function validateWithOpenSsl(tls: TlsSettings, where: string, fail: Fail): void {
  try {
    createSecureContext(httpsServerOptions(tls));
  } catch (err) {
    fail(where, `rejected by OpenSSL: ${errorMessage(err)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// YAML walking: works on the document's nodes so errors can carry line numbers.

interface Entry {
  readonly key: YamlNode;
  readonly value: YamlNode | null;
}

function isNull(node: YamlNode | null): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

class Walker {
  constructor(
    private readonly prefix: string,
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  fail(where: string, message: string, node?: YamlNode | null): never {
    const offset = node?.range?.[0];
    const line = offset === undefined ? '' : ` (line ${this.lines.linePos(offset).line})`;
    throw new WebConfigError(`${this.prefix}: ${where === '' ? '' : `${where}: `}${message}${line}`);
  }

  private deref(node: unknown): YamlNode | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return node.resolve(this.doc) ?? null;
    return node as YamlNode;
  }

  /** A mapping (null/absent = empty) as key → entry, keys as written in the file. */
  map(raw: unknown, where: string): Map<string, Entry> {
    const node = this.deref(raw);
    const out = new Map<string, Entry>();
    if (isNull(node)) return out;
    if (!isMap(node)) this.fail(where, where === '' ? 'the file must be a YAML mapping' : 'must be a mapping', node);
    for (const pair of node.items) {
      const key = this.deref(pair.key);
      if (key === null || !isScalar(key) || key.value === null) {
        this.fail(where, 'keys must be plain strings', key ?? node);
      }
      const name = typeof key.value === 'string' ? key.value : (key.source ?? String(key.value));
      out.set(name, { key, value: this.deref(pair.value) });
    }
    return out;
  }

  checkKeys(m: Map<string, Entry>, where: string, allowed: readonly string[], unsupported: Readonly<Record<string, string>>): void {
    for (const [name, entry] of m) {
      const path = where === '' ? name : `${where}.${name}`;
      if (Object.hasOwn(unsupported, name)) this.fail(path, unsupported[name] as string, entry.key);
      if (!allowed.includes(name)) {
        this.fail(path, `unknown field (expected one of: ${allowed.join(', ')})`, entry.key);
      }
    }
  }

  /** A scalar as a string (numbers/booleans as written, like Go's yaml.v2); null/absent/"" → null. */
  string(raw: unknown, where: string): string | null {
    const node = this.deref(raw);
    if (isNull(node)) return null;
    if (!isScalar(node)) this.fail(where, 'must be a string', node);
    const value = typeof node.value === 'string' ? node.value : (node.source ?? String(node.value));
    return value === '' ? null : value;
  }

  bool(raw: unknown, where: string): boolean | null {
    const node = this.deref(raw);
    if (isNull(node)) return null;
    if (!isScalar(node) || typeof node.value !== 'boolean') this.fail(where, 'must be true or false', node);
    return node.value;
  }

  stringList(raw: unknown, where: string): Array<[string, YamlNode]> {
    const node = this.deref(raw);
    if (isNull(node)) return [];
    if (!isSeq(node)) this.fail(where, 'must be a list', node);
    return node.items.map((item, i) => {
      const n = this.deref(item);
      const s = this.string(n, `${where}[${i}]`);
      if (s === null || n === null) this.fail(`${where}[${i}]`, 'must be a non-empty string', n ?? node);
      return [s, n];
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Basic auth

const CACHE_SIZE = 64;
/** Salt + digest for the decoy compare run for unknown users (never matches: the user is unknown). */
const DECOY_TAIL = 'C6UzMDM.H6dfI/f/IKxGhuC6UzMDM.H6dfI/f/IKxGhuC6UzMDM.H';

/**
 * HTTP basic auth against bcrypt hashes. bcrypt is slow by design, so successful checks are
 * cached (sha256(user NUL password) → true, 64 entries, least recently used evicted) and
 * concurrent identical checks share one bcrypt run. An unknown user still costs one bcrypt
 * compare (against a decoy hash with the highest configured cost) so response timing does not
 * reveal which usernames exist. When no users are configured `enabled` is false and every check
 * passes.
 */
export class BasicAuth {
  readonly enabled: boolean;
  readonly #users: ReadonlyMap<string, string>;
  readonly #cache = new Map<string, true>();
  readonly #inflight = new Map<string, Promise<boolean>>();
  readonly #decoyHash: string;

  constructor(users: ReadonlyMap<string, string>) {
    this.#users = new Map(users);
    this.enabled = this.#users.size > 0;
    let cost = 4;
    for (const hash of this.#users.values()) {
      const m = BCRYPT_HASH.exec(hash);
      if (m?.[1] !== undefined) cost = Math.max(cost, Number(m[1]));
    }
    this.#decoyHash = `$2b$${String(cost).padStart(2, '0')}$${DECOY_TAIL}`;
  }

  async check(authorizationHeader: string | undefined): Promise<boolean> {
    if (!this.enabled) return true;
    const creds = parseBasicAuthorization(authorizationHeader);
    if (creds === null) return false;
    const hash = this.#users.get(creds.user);
    if (hash === undefined) {
      await safeCompare(creds.password, this.#decoyHash);
      return false;
    }
    const key = createHash('sha256').update(`${creds.user}\0${creds.password}`, 'utf8').digest('base64');
    if (this.#cache.has(key)) {
      this.#cache.delete(key); // re-insert: most recently used goes last
      this.#cache.set(key, true);
      return true;
    }
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = safeCompare(creds.password, hash).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const ok = await pending;
    if (ok && !this.#cache.has(key)) {
      if (this.#cache.size >= CACHE_SIZE) {
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(key, true);
    }
    return ok;
  }
}

async function safeCompare(password: string, hash: string): Promise<boolean> {
  try {
    return await bcrypt.compare(password, hash);
  } catch {
    return false;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `Basic base64(user:password)` → parts (split at the first ':'), or null when malformed. */
function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | null {
  if (typeof header !== 'string') return null;
  const m = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  const b64 = m?.[1];
  if (b64 === undefined || b64.length % 4 !== 0) return null;
  const bytes = Buffer.from(b64, 'base64');
  const colon = bytes.indexOf(0x3a);
  if (colon < 0) return null;
  try {
    const user = utf8.decode(bytes.subarray(0, colon));
    const password = utf8.decode(bytes.subarray(colon + 1));
    if (user.includes('\0')) return null;
    return { user, password };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return errorMessage(err);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
