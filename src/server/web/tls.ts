/**
 * TLS: the `tls_server_config` section (Go's cipher, curve, version and client-auth names mapped
 * to OpenSSL's), the `--tls.cert-file` / `--tls.key-file` pair (`tlsFromFiles`, the same checks),
 * and the `https.createServer` options for both. The per-request client-certificate policy is in
 * client-cert.ts, the certificate and key file checks in pem.ts.
 */
import type { ServerOptions } from 'node:https';
import { resolve } from 'node:path';
import nodeTls, { createSecureContext, type SecureVersion } from 'node:tls';
import type { ClientAuthType, CurveName, TlsSettings, TlsVersionName } from './config.js';
import { errorMessage, isNull, WebConfigError, type ConfigFile, type Entry, type YamlNode } from './config-file.js';
import { parseCertificates, readPem, validateKeyPair, type Fail } from './pem.js';

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

const TLS_KEYS = [
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
  'client_allowed_sans',
];

// ---------------------------------------------------------------------------------------------
// tls_server_config

/** The `tls_server_config` section (absent or null: plain HTTP), with every file it names read and checked. */
export function parseTlsServerConfig(file: ConfigFile, section: Entry | undefined): TlsSettings | null {
  if (section === undefined || isNull(section.value)) return null;
  const w = 'tls_server_config';
  const t = file.map(section.value, w);
  file.checkKeys(t, w, TLS_KEYS, {});
  const str = (k: string): string | null => file.string(t.get(k)?.value, `${w}.${k}`);
  const path = (k: string): string | null => {
    const v = str(k);
    return v === null ? null : file.resolvePath(v);
  };
  /** Where key k is (its value, else its key; the section's key when k is absent). */
  const at = (k: string): YamlNode => {
    const e = t.get(k);
    return e?.value ?? e?.key ?? section.key;
  };
  /** Fails about key k (`''`: the section), at the line of `node` (default: where k is). */
  const fail: (k: string, message: string, node?: YamlNode) => never = (k, message, node = at(k)) =>
    file.fail(k === '' ? w : `${w}.${k}`, message, node);

  const certFile = path('cert_file');
  const keyFile = path('key_file');
  const clientCaFile = path('client_ca_file');
  const inlineCert = str('cert');
  const inlineKey = str('key');
  const inlineCa = str('client_ca');
  for (const [inline, f, name] of [
    [inlineCert, certFile, 'cert'],
    [inlineKey, keyFile, 'key'],
    [inlineCa, clientCaFile, 'client_ca'],
  ] as const) {
    if (inline !== null && f !== null) fail(name, `set both ${name} and ${name}_file; use one`);
  }
  if (certFile === null && inlineCert === null) fail('cert_file', 'required when tls_server_config is present', section.key);
  if (keyFile === null && inlineKey === null) fail('key_file', 'required when tls_server_config is present', section.key);

  const clientAuthRaw = str('client_auth_type');
  let clientAuthType: ClientAuthType = 'NoClientCert';
  if (clientAuthRaw !== null) {
    const found = CLIENT_AUTH_TYPES.get(clientAuthRaw);
    if (found === undefined) {
      fail(
        'client_auth_type',
        `invalid value ${JSON.stringify(clientAuthRaw)}; expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert`,
      );
    }
    clientAuthType = found;
  }
  const hasCa = clientCaFile !== null || inlineCa !== null;
  if (!hasCa && (clientAuthType === 'VerifyClientCertIfGiven' || clientAuthType === 'RequireAndVerifyClientCert')) {
    fail('client_ca_file', `required for client_auth_type ${clientAuthType}`, at('client_auth_type'));
  }
  if (hasCa && clientAuthType === 'NoClientCert') {
    fail(
      'client_ca_file',
      'client CAs configured without a client auth policy; set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)',
      at(clientCaFile !== null ? 'client_ca_file' : 'client_ca'),
    );
  }

  const version = (k: 'min_version' | 'max_version', def: TlsVersionName): TlsVersionName => {
    const v = str(k);
    if (v === null) return def;
    if (!Object.hasOwn(TLS_VERSIONS, v)) fail(k, `unknown TLS version ${JSON.stringify(v)}; expected TLS10, TLS11, TLS12 or TLS13`);
    return v as TlsVersionName;
  };
  const minVersion = version('min_version', 'TLS12');
  const maxVersion = version('max_version', 'TLS13');
  if (TLS_VERSIONS[minVersion].rank > TLS_VERSIONS[maxVersion].rank) {
    fail('min_version', `${minVersion} is greater than max_version ${maxVersion}`);
  }

  const cipherSuites: string[] = [];
  file.stringList(t.get('cipher_suites')?.value, `${w}.cipher_suites`).forEach(([name, node], i) => {
    if (!CIPHERS.has(name)) {
      file.fail(`${w}.cipher_suites[${i}]`, `unknown cipher ${JSON.stringify(name)}; supported: ${[...CIPHERS.keys()].join(', ')}`, node);
    }
    cipherSuites.push(name);
  });

  const curvePreferences: CurveName[] = [];
  file.stringList(t.get('curve_preferences')?.value, `${w}.curve_preferences`).forEach(([name, node], i) => {
    if (!Object.hasOwn(CURVES, name)) {
      file.fail(`${w}.curve_preferences[${i}]`, `unknown curve ${JSON.stringify(name)}; expected X25519, CurveP256, CurveP384 or CurveP521`, node);
    }
    curvePreferences.push(name as CurveName);
  });

  // Checked per request (client-cert.ts); exporter-toolkit checks in the handshake, with the same result.
  const clientAllowedSans: string[] = [];
  const sansNode = t.get('client_allowed_sans')?.value ?? null;
  if (!isNull(sansNode)) {
    for (const [san] of file.stringList(sansNode, `${w}.client_allowed_sans`)) clientAllowedSans.push(san);
    if (clientAllowedSans.length === 0) {
      fail('client_allowed_sans', 'empty list: no client certificate would be accepted (exporter-toolkit refuses every connection); list the allowed SANs or remove the key');
    }
    if (clientAuthType === 'NoClientCert') {
      fail(
        'client_allowed_sans',
        'needs a client certificate, but client_auth_type NoClientCert does not ask for one (exporter-toolkit would silently ignore the list); set client_auth_type: RequireAndVerifyClientCert and client_ca_file',
      );
    }
  }

  const preferServerCipherSuites = file.bool(t.get('prefer_server_cipher_suites')?.value, `${w}.prefer_server_cipher_suites`) ?? true;

  const cert = inlineCert ?? readPem(certFile as string, (m) => fail('cert_file', m));
  const key = inlineKey ?? readPem(keyFile as string, (m) => fail('key_file', m));
  const certFail: Fail = certFile === null ? (m) => fail('cert', m) : (m) => fail(`cert_file: ${certFile}`, m, at('cert_file'));
  const keyFail: Fail = keyFile === null ? (m) => fail('key', m) : (m) => fail(`key_file: ${keyFile}`, m, at('key_file'));
  validateKeyPair(cert, key, certFail, keyFail);

  let clientCa: string | null = inlineCa;
  if (clientCaFile !== null) clientCa = readPem(clientCaFile, (m) => fail('client_ca_file', m));
  if (clientCa !== null) {
    const caFail: Fail = clientCaFile === null ? (m) => fail('client_ca', m) : (m) => fail(`client_ca_file: ${clientCaFile}`, m, at('client_ca_file'));
    parseCertificates(clientCa, caFail);
  }

  const tls: TlsSettings = {
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
    clientAllowedSans,
  };
  validateWithOpenSsl(tls, (m) => fail('', m, section.key));
  return tls;
}

/** TLS settings for `--tls.cert-file` / `--tls.key-file` (no web config): exporter-toolkit defaults. */
export function tlsFromFiles(certFile: string, keyFile: string): TlsSettings {
  const failWith =
    (where: string): Fail =>
    (message) => {
      throw new WebConfigError(`${where}: ${message}`);
    };
  const certPath = resolve(certFile);
  const keyPath = resolve(keyFile);
  const cert = readPem(certPath, failWith('TLS certificate file'));
  const key = readPem(keyPath, failWith('TLS key file'));
  validateKeyPair(cert, key, failWith(`TLS certificate file ${certPath}`), failWith(`TLS key file ${keyPath}`));
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
    clientAllowedSans: [],
  };
  validateWithOpenSsl(tls, failWith('TLS settings'));
  return tls;
}

// ---------------------------------------------------------------------------------------------
// Serving

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
    case 'RequireAnyClientCert': // the "any" is enforced per request: clientCertRefusal
    case 'VerifyClientCertIfGiven': // verified per request: clientCertRefusal
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

function defaultCiphers(): string {
  // Read through the module object: tls.DEFAULT_CIPHERS can be changed at runtime.
  return nodeTls.DEFAULT_CIPHERS;
}

// ---------------------------------------------------------------------------------------------

/** Last line of defence: let OpenSSL build a context with exactly the options the server will use. */
function validateWithOpenSsl(tls: TlsSettings, fail: Fail): void {
  try {
    createSecureContext(httpsServerOptions(tls));
  } catch (err) {
    fail(`rejected by OpenSSL: ${errorMessage(err)}`);
  }
}
