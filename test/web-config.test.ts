/**
 * The exporter-toolkit web config: parsing and validation (every error names the file, the key and
 * the problem), real HTTPS handshakes over 127.0.0.1 for each client_auth_type, and the bcrypt
 * basic-auth checker with its success cache. Certificates are made fresh with the openssl CLI.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, createServer, type RequestOptions, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { OPENSSL_CNF } from './helpers/certs.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BasicAuth,
  clientCertAllowed,
  httpsServerOptions,
  loadWebConfig,
  tlsFromFiles,
  WebConfigError,
  type TlsSettings,
} from '../src/server/web-config.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-webcfg-'));
const certs = join(tmp, 'certs');
const p = (name: string): string => join(certs, name);
let caPem = '';
let clientCert = '';
let clientKey = '';
let rogueCert = '';
let rogueKey = '';
let aliceHash = ''; // $2b$, cost 4, password "secret"
let bobHash = ''; // $2y$ (as htpasswd writes), cost 4, password "hunter2"


function openssl(...args: string[]): void {
  const r = spawnSync('/usr/bin/openssl', args, { cwd: certs, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

beforeAll(() => {
  mkdirSync(certs);
  writeFileSync(p('openssl.cnf'), OPENSSL_CNF);
  const cnf = ['-config', 'openssl.cnf'];
  openssl('req', '-x509', ...cnf, '-extensions', 'v3_ca', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Test CA');
  for (const [name, ext, cn] of [
    ['server', 'server', '127.0.0.1'],
    ['client', 'client', 'scraper'],
  ] as const) {
    openssl('req', '-new', ...cnf, ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', name === 'server' ? '2' : '3', '-days', '2', '-extfile', 'openssl.cnf', '-extensions', ext, '-out', `${name}.crt`);
  }
  // A client certificate no configured CA signed.
  openssl('req', '-x509', ...cnf, '-extensions', 'client', ...EC, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=rogue');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  caPem = readFileSync(p('ca.crt'), 'utf8');
  clientCert = readFileSync(p('client.crt'), 'utf8');
  clientKey = readFileSync(p('client.key'), 'utf8');
  rogueCert = readFileSync(p('rogue.crt'), 'utf8');
  rogueKey = readFileSync(p('rogue.key'), 'utf8');
  aliceHash = bcrypt.hashSync('secret', 4);
  bobHash = bcrypt.hashSync('hunter2', 4).replace(/^\$2b\$/, '$2y$');
});

const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }
  rmSync(tmp, { recursive: true, force: true });
});

let configCount = 0;
/** Writes a web config into tmp (so `certs/…` is a path relative to it) and returns its path. */
function writeConfig(yaml: string): string {
  configCount += 1;
  const file = join(tmp, `web-${configCount}.yml`);
  writeFileSync(file, yaml);
  return file;
}

const TLS_BASE = 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n';

function loadError(yaml: string): { file: string; message: string } {
  const file = writeConfig(yaml);
  try {
    loadWebConfig(file);
  } catch (err) {
    expect(err).toBeInstanceOf(WebConfigError);
    return { file, message: (err as Error).message };
  }
  throw new Error(`expected ${file} to be rejected`);
}

function tlsError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(WebConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a WebConfigError');
}

describe('loadWebConfig', () => {
  it('parses a full config, resolving relative paths against the config directory', () => {
    const file = writeConfig(`
tls_server_config:
  cert_file: certs/server.crt
  key_file: ./certs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: certs/ca.crt
  min_version: TLS12
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  prefer_server_cipher_suites: false
  curve_preferences: [X25519, CurveP256]
http_server_config:
  http2: false
  headers:
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    X-XSS-Protection: 0
    Content-Security-Policy: ""
basic_auth_users:
  alice: ${aliceHash}
  bob: '${bobHash}'
`);
    const cfg = loadWebConfig(file);
    expect(cfg.tls).toEqual({
      certFile: p('server.crt'),
      keyFile: p('server.key'),
      cert: readFileSync(p('server.crt'), 'utf8'),
      key: readFileSync(p('server.key'), 'utf8'),
      clientAuthType: 'RequireAndVerifyClientCert',
      clientCaFile: p('ca.crt'),
      clientCa: caPem,
      minVersion: 'TLS12',
      maxVersion: 'TLS13',
      cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
      preferServerCipherSuites: false,
      curvePreferences: ['X25519', 'CurveP256'],
    });
    expect([...cfg.headers]).toEqual([
      ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
      ['X-Frame-Options', 'deny'],
      ['X-Content-Type-Options', 'nosniff'],
      ['X-XSS-Protection', '0'],
    ]);
    expect([...cfg.basicAuthUsers]).toEqual([
      ['alice', aliceHash],
      ['bob', bobHash],
    ]);

    const opts = httpsServerOptions(cfg.tls as TlsSettings);
    expect(opts).toEqual({
      cert: readFileSync(p('server.crt'), 'utf8'),
      key: readFileSync(p('server.key'), 'utf8'),
      ca: caPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      ciphers:
        'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384',
      honorCipherOrder: false,
      ecdhCurve: 'X25519:prime256v1',
    });
  });

  it('applies exporter-toolkit defaults', () => {
    const cfg = loadWebConfig(writeConfig(TLS_BASE));
    expect(cfg.tls).toMatchObject({
      clientAuthType: 'NoClientCert',
      clientCaFile: null,
      clientCa: null,
      minVersion: 'TLS12',
      maxVersion: 'TLS13',
      cipherSuites: [],
      preferServerCipherSuites: true,
      curvePreferences: [],
    });
    expect(httpsServerOptions(cfg.tls as TlsSettings)).toEqual({
      cert: readFileSync(p('server.crt'), 'utf8'),
      key: readFileSync(p('server.key'), 'utf8'),
      requestCert: false,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      honorCipherOrder: true,
    });
    expect(cfg.basicAuthUsers.size).toBe(0);
    expect(cfg.headers.size).toBe(0);
  });

  it('maps every client_auth_type to requestCert/rejectUnauthorized', () => {
    const cases = [
      ['NoClientCert', false, false, ''],
      ['RequestClientCert', true, false, ''],
      ['RequireAnyClientCert', true, false, ''],
      ['RequireClientCert', true, false, ''], // exporter-toolkit's old alias
      ['VerifyClientCertIfGiven', true, false, '  client_ca_file: certs/ca.crt\n'],
      ['RequireAndVerifyClientCert', true, true, '  client_ca_file: certs/ca.crt\n'],
    ] as const;
    for (const [type, requestCert, rejectUnauthorized, ca] of cases) {
      const cfg = loadWebConfig(writeConfig(`${TLS_BASE}  client_auth_type: ${type}\n${ca}`));
      const opts = httpsServerOptions(cfg.tls as TlsSettings);
      expect([type, opts.requestCert, opts.rejectUnauthorized]).toEqual([type, requestCert, rejectUnauthorized]);
    }
  });

  it('accepts an empty file, a comment-only file and null sections: no TLS, no auth', () => {
    for (const yaml of ['', '# nothing here\n', 'tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n']) {
      const cfg = loadWebConfig(writeConfig(yaml));
      expect(cfg.tls).toBeNull();
      expect(cfg.basicAuthUsers.size).toBe(0);
      expect(cfg.headers.size).toBe(0);
    }
  });

  it('names the missing config file', () => {
    const missing = join(tmp, 'nope.yml');
    expect(tlsError(() => loadWebConfig(missing))).toBe(`web config ${missing}: cannot read: file does not exist`);
  });

  it('names a missing cert file by its resolved path', () => {
    const { file, message } = loadError('tls_server_config:\n  cert_file: certs/nope.crt\n  key_file: certs/server.key\n');
    expect(message).toBe(`web config ${file}: tls_server_config.cert_file: ${p('nope.crt')}: cannot read: file does not exist`);
  });

  it('rejects a key that does not match the certificate', () => {
    const { file, message } = loadError('tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/other.key\n');
    expect(message).toBe(
      `web config ${file}: tls_server_config.key_file: ${p('other.key')}: private key does not match the certificate (subject "CN=127.0.0.1")`,
    );
  });

  it('requires both cert_file and key_file when tls_server_config is present', () => {
    const a = loadError('tls_server_config:\n  cert_file: certs/server.crt\n');
    expect(a.message).toBe(`web config ${a.file}: tls_server_config.key_file: required when tls_server_config is present`);
    const b = loadError('tls_server_config:\n  min_version: TLS13\n');
    expect(b.message).toBe(`web config ${b.file}: tls_server_config.cert_file: required when tls_server_config is present`);
  });

  it('rejects unknown keys, nested and top-level, with their line', () => {
    const a = loadError(`${TLS_BASE}  foo: bar\n`);
    expect(a.message).toBe(
      `web config ${a.file}: tls_server_config.foo: unknown field (expected one of: cert, key, client_ca, cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version, cipher_suites, prefer_server_cipher_suites, curve_preferences) (line 4)`,
    );
    const b = loadError('basic_auth_user:\n  alice: x\n');
    expect(b.message).toBe(
      `web config ${b.file}: basic_auth_user: unknown field (expected one of: tls_server_config, http_server_config, basic_auth_users) (line 1)`,
    );
    const c = loadError('http_server_config:\n  header:\n    X-Frame-Options: deny\n');
    expect(c.message).toBe(`web config ${c.file}: http_server_config.header: unknown field (expected one of: headers, http2) (line 2)`);
  });

  it('says which exporter-toolkit features are not supported', () => {
    const a = loadError('rate_limit:\n  interval: 1s\n  burst: 20\n');
    expect(a.message).toBe(`web config ${a.file}: rate_limit: rate limiting is not supported by multiproc-exporter (line 1)`);
    const b = loadError(`${TLS_BASE}  client_allowed_sans: [scraper]\n`);
    expect(b.message).toBe(
      `web config ${b.file}: tls_server_config.client_allowed_sans: client SAN allow-lists are not supported by multiproc-exporter (line 4)`,
    );
  });

  it('rejects a bad client_auth_type', () => {
    const { file, message } = loadError(`${TLS_BASE}  client_auth_type: RequireCert\n`);
    expect(message).toBe(
      `web config ${file}: tls_server_config.client_auth_type: invalid value "RequireCert"; expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert (line 4)`,
    );
  });

  it('requires client_ca_file for the Verify* types, and a client auth type for client_ca_file', () => {
    for (const type of ['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']) {
      const { file, message } = loadError(`${TLS_BASE}  client_auth_type: ${type}\n`);
      expect(message).toBe(`web config ${file}: tls_server_config.client_ca_file: required for client_auth_type ${type}`);
    }
    const { file, message } = loadError(`${TLS_BASE}  client_ca_file: certs/ca.crt\n`);
    expect(message).toBe(
      `web config ${file}: tls_server_config.client_ca_file: client CAs configured without a client auth policy; set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)`,
    );
  });

  it('rejects a client CA file without certificates', () => {
    const { file, message } = loadError(`${TLS_BASE}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.key\n`);
    expect(message).toBe(
      `web config ${file}: tls_server_config.client_ca_file: ${p('ca.key')}: no PEM certificate found (it holds a private key; are the cert and key swapped?)`,
    );
  });

  it('rejects min_version above max_version and unknown versions', () => {
    const a = loadError(`${TLS_BASE}  min_version: TLS13\n  max_version: TLS12\n`);
    expect(a.message).toBe(`web config ${a.file}: tls_server_config.min_version: TLS13 is greater than max_version TLS12`);
    const b = loadError(`${TLS_BASE}  max_version: TLS14\n`);
    expect(b.message).toBe(
      `web config ${b.file}: tls_server_config.max_version: unknown TLS version "TLS14"; expected TLS10, TLS11, TLS12 or TLS13 (line 4)`,
    );
  });

  it('rejects a plain-text password without echoing it', () => {
    const { file, message } = loadError(`basic_auth_users:\n  alice: ${aliceHash}\n  bob: hunter2\n`);
    expect(message).toBe(
      `web config ${file}: basic_auth_users.bob: not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost of 04-31 and 53 more characters); passwords must be stored bcrypt-hashed, e.g. the output of htpasswd -nBC 10 "" | tr -d ':\\n' (line 3)`,
    );
    expect(message).not.toContain('hunter2');
    // A truncated hash and an out-of-range cost are just as wrong.
    expect(loadError(`basic_auth_users:\n  alice: '${aliceHash.slice(0, -1)}'\n`).message).toContain('basic_auth_users.alice: not a bcrypt hash');
    expect(loadError(`basic_auth_users:\n  alice: '${aliceHash.replace('$04$', '$03$')}'\n`).message).toContain(
      'basic_auth_users.alice: not a bcrypt hash',
    );
  });

  it('rejects usernames basic auth can not carry', () => {
    const { file, message } = loadError(`basic_auth_users:\n  "a:b": ${aliceHash}\n`);
    expect(message).toBe(`web config ${file}: basic_auth_users.a:b: username contains ':', which basic auth can not transmit (line 2)`);
  });

  it('rejects unknown cipher suites and curves', () => {
    const a = loadError(`${TLS_BASE}  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - TLS_RSA_WITH_RC4_128_SHA\n`);
    expect(a.message).toMatch(
      new RegExp(
        `^web config ${escape(a.file)}: tls_server_config\\.cipher_suites\\[1\\]: unknown cipher "TLS_RSA_WITH_RC4_128_SHA"; supported: TLS_RSA_WITH_AES_128_CBC_SHA, .*TLS_CHACHA20_POLY1305_SHA256 \\(line 6\\)$`,
      ),
    );
    const b = loadError(`${TLS_BASE}  curve_preferences: [X25519, P256]\n`);
    expect(b.message).toBe(
      `web config ${b.file}: tls_server_config.curve_preferences[1]: unknown curve "P256"; expected X25519, CurveP256, CurveP384 or CurveP521 (line 4)`,
    );
  });

  it('rejects wrong value types', () => {
    const a = loadError(`${TLS_BASE}  prefer_server_cipher_suites: yes\n`);
    expect(a.message).toBe(`web config ${a.file}: tls_server_config.prefer_server_cipher_suites: must be true or false (line 4)`);
    const b = loadError(`${TLS_BASE}  cipher_suites: TLS_AES_128_GCM_SHA256\n`);
    expect(b.message).toBe(`web config ${b.file}: tls_server_config.cipher_suites: must be a list (line 4)`);
    const c = loadError('- tls_server_config\n');
    expect(c.message).toBe(`web config ${c.file}: the file must be a YAML mapping (line 1)`);
  });

  it('only allows the headers exporter-toolkit allows, with its values', () => {
    const a = loadError('http_server_config:\n  headers:\n    Authorization: Basic eA==\n');
    expect(a.message).toBe(
      `web config ${a.file}: http_server_config.headers.Authorization: HTTP header "Authorization" can not be configured; allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy (line 3)`,
    );
    const b = loadError('http_server_config:\n  headers:\n    "": x\n');
    expect(b.message).toContain(`web config ${b.file}: http_server_config.headers.: HTTP header "" can not be configured`);
    const c = loadError('http_server_config:\n  headers:\n    X-Frame-Options: allow\n');
    expect(c.message).toBe(
      `web config ${c.file}: http_server_config.headers.X-Frame-Options: invalid value "allow"; expected one of: deny, sameorigin (line 3)`,
    );
  });

  it('reports malformed YAML with its line number', () => {
    const a = loadError('tls_server_config:\n  cert_file: certs/server.crt\n\tkey_file: certs/server.key\n');
    expect(a.message).toBe(`web config ${a.file}: invalid YAML at line 3, column 1: Tabs are not allowed as indentation`);
    const c = loadError('basic_auth_users:\n  alice: bob: x\n');
    expect(c.message).toBe(`web config ${c.file}: invalid YAML at line 2, column 10: Nested mappings are not allowed in compact mappings`);
    const b = loadError('basic_auth_users:\n  alice: x\n  alice: y\n');
    expect(b.message).toBe(`web config ${b.file}: invalid YAML at line 3, column 3: Map keys must be unique`);
  });
});

describe('tlsFromFiles', () => {
  it('loads a valid pair with exporter-toolkit defaults, paths made absolute', () => {
    const tls = tlsFromFiles(p('server.crt'), p('server.key'));
    expect(tls).toEqual({
      certFile: p('server.crt'),
      keyFile: p('server.key'),
      cert: readFileSync(p('server.crt'), 'utf8'),
      key: readFileSync(p('server.key'), 'utf8'),
      clientAuthType: 'NoClientCert',
      clientCaFile: null,
      clientCa: null,
      minVersion: 'TLS12',
      maxVersion: 'TLS13',
      cipherSuites: [],
      preferServerCipherSuites: true,
      curvePreferences: [],
    });
  });

  it('names the file in every error', () => {
    expect(tlsError(() => tlsFromFiles(p('missing.crt'), p('server.key')))).toBe(
      `TLS certificate file: ${p('missing.crt')}: cannot read: file does not exist`,
    );
    expect(tlsError(() => tlsFromFiles(p('server.crt'), certs))).toBe(`TLS key file: ${certs}: cannot read: is a directory, not a file`);
    expect(tlsError(() => tlsFromFiles(p('server.key'), p('server.crt')))).toBe(
      `TLS certificate file ${p('server.key')}: no PEM certificate found (it holds a private key; are the cert and key swapped?)`,
    );
    expect(tlsError(() => tlsFromFiles(p('server.crt'), p('ca.crt')))).toBe(
      `TLS key file ${p('ca.crt')}: no PEM private key found (it holds a certificate; are the cert and key swapped?)`,
    );
    expect(tlsError(() => tlsFromFiles(p('server.crt'), p('client.key')))).toBe(
      `TLS key file ${p('client.key')}: private key does not match the certificate (subject "CN=127.0.0.1")`,
    );
    writeFileSync(p('garbage.crt'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    expect(tlsError(() => tlsFromFiles(p('garbage.crt'), p('server.key')))).toMatch(
      new RegExp(`^TLS certificate file ${escape(p('garbage.crt'))}: certificate #1 is not a valid X\\.509 certificate: `),
    );
    writeFileSync(p('empty.key'), '\n');
    expect(tlsError(() => tlsFromFiles(p('server.crt'), p('empty.key')))).toBe(`TLS key file: ${p('empty.key')}: file is empty`);
  });
});

// ---------------------------------------------------------------------------------------------
// Real HTTPS

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly cipher: string;
  readonly protocol: string | null;
}

/** port → subject CN (or '-') of every request that reached the handler. */
const handledBy = new Map<number, string[]>();

async function serve(tls: TlsSettings): Promise<number> {
  const handled: string[] = [];
  const server = createServer(httpsServerOptions(tls), (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    handled.push(peer.subject === undefined ? '-' : `CN=${peer.subject.CN}`);
    if (!clientCertAllowed(tls, req.socket as TLSSocket)) {
      res.writeHead(403).end('client certificate required');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;
  handledBy.set(port, handled);
  return port;
}

function get(port: number, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca: caPem, agent: false, ...options }, (res) => {
      const socket = res.socket as TLSSocket;
      const cipher = socket.getCipher().standardName;
      const protocol = socket.getProtocol();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body, cipher, protocol }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function errorCode(reply: Promise<Reply>): Promise<string> {
  try {
    await reply;
  } catch (err) {
    return `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`;
  }
  return 'succeeded';
}

const tlsConfig = (extra: string): TlsSettings => loadWebConfig(writeConfig(`${TLS_BASE}${extra}`)).tls as TlsSettings;

describe('HTTPS with httpsServerOptions', () => {
  it('NoClientCert: serves a client without a certificate over TLS 1.3', async () => {
    const port = await serve(tlsConfig(''));
    expect(await get(port)).toMatchObject({ status: 200, body: 'ok', protocol: 'TLSv1.3' });
  });

  it('RequireAndVerifyClientCert: the handshake rejects a client without (or with an unknown) cert', async () => {
    const port = await serve(tlsConfig('  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.crt\n'));
    const handled = handledBy.get(port) ?? [];
    // No certificate: OpenSSL fails the handshake (TLS 1.3 alert 116; a reset if it races the request write).
    expect(await errorCode(get(port))).toMatch(/^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED .*tlsv13 alert certificate required|ECONNRESET )/);
    // A certificate no configured CA signed: Node drops the connection right after the handshake.
    expect(await errorCode(get(port, { cert: rogueCert, key: rogueKey }))).toMatch(/^(ECONNRESET |ERR_SSL_TLSV1_ALERT_UNKNOWN_CA )/);
    expect(handled).toEqual([]); // neither reached the request handler
    expect(await get(port, { cert: clientCert, key: clientKey })).toMatchObject({ status: 200, body: 'ok' });
    expect(handled).toEqual(['CN=scraper']);
  });

  it('VerifyClientCertIfGiven: no cert or a verified one passes, an unverified one gets 403', async () => {
    const tls = tlsConfig('  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: certs/ca.crt\n');
    const port = await serve(tls);
    expect(await get(port)).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(port, { cert: clientCert, key: clientKey })).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(port, { cert: rogueCert, key: rogueKey })).toMatchObject({ status: 403, body: 'client certificate required' });
  });

  it('RequireAnyClientCert: any certificate passes, none gets 403', async () => {
    const port = await serve(tlsConfig('  client_auth_type: RequireAnyClientCert\n'));
    expect(await get(port)).toMatchObject({ status: 403 });
    expect(await get(port, { cert: rogueCert, key: rogueKey })).toMatchObject({ status: 200, body: 'ok' });
    expect(await get(port, { cert: clientCert, key: clientKey })).toMatchObject({ status: 200, body: 'ok' });
  });

  it('RequestClientCert: asks, but lets everyone in', async () => {
    const port = await serve(tlsConfig('  client_auth_type: RequestClientCert\n'));
    expect(await get(port)).toMatchObject({ status: 200 });
    expect(await get(port, { cert: rogueCert, key: rogueKey })).toMatchObject({ status: 200 });
  });

  it('min_version TLS13 rejects a client capped at TLS 1.2', async () => {
    const port = await serve(tlsConfig('  min_version: TLS13\n'));
    expect(await errorCode(get(port, { maxVersion: 'TLSv1.2' }))).toMatch(/^EPROTO .*tlsv1 alert protocol version/);
    expect(await get(port)).toMatchObject({ status: 200, protocol: 'TLSv1.3' });
  });

  it('cipher_suites and max_version TLS12 pick the configured suite; TLS 1.3 stays available', async () => {
    const tls12 = await serve(tlsConfig('  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n  curve_preferences: [CurveP384]\n'));
    expect(await get(tls12)).toMatchObject({ status: 200, protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384' });
    // The only configured suite needs an RSA certificate: a TLS 1.2 client finds no shared cipher.
    const rsaOnly = await serve(tlsConfig('  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n'));
    expect(await errorCode(get(rsaOnly, { maxVersion: 'TLSv1.2' }))).toMatch(/^EPROTO .*sslv3 alert handshake failure/);
    expect(await get(rsaOnly)).toMatchObject({ status: 200, protocol: 'TLSv1.3' });
  });

  it('min_version TLS10 lowers the OpenSSL security level so TLS 1.1 clients can connect', async () => {
    const tls = tlsConfig('  min_version: TLS10\n  max_version: TLS11\n');
    expect(httpsServerOptions(tls).ciphers).toMatch(/:@SECLEVEL=0$/);
    const port = await serve(tls);
    const legacyClient: RequestOptions = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' };
    expect(await get(port, legacyClient)).toMatchObject({ status: 200, protocol: 'TLSv1.1' });
  });

  it('serves --tls.cert-file/--tls.key-file settings', async () => {
    const port = await serve(tlsFromFiles(p('server.crt'), p('server.key')));
    expect(await get(port)).toMatchObject({ status: 200, body: 'ok' });
  });
});

// ---------------------------------------------------------------------------------------------
// Basic auth

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

describe('BasicAuth', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is disabled (and lets everything through) without users', async () => {
    const auth = new BasicAuth(new Map());
    expect(auth.enabled).toBe(false);
    expect(await auth.check(undefined)).toBe(true);
  });

  it('accepts the right password and nothing else', async () => {
    const auth = new BasicAuth(new Map([['alice', aliceHash], ['bob', bobHash]]));
    expect(auth.enabled).toBe(true);
    expect(await auth.check(basic('alice:secret'))).toBe(true);
    expect(await auth.check(basic('bob:hunter2'))).toBe(true); // $2y$, as htpasswd writes
    expect(await auth.check(basic('alice:hunter2'))).toBe(false);
    expect(await auth.check(basic('alice:secret '))).toBe(false);
    expect(await auth.check(basic('Alice:secret'))).toBe(false);
    expect(await auth.check(basic('mallory:secret'))).toBe(false);
    expect(await auth.check(`basic ${Buffer.from('alice:secret').toString('base64')}`)).toBe(true); // scheme is case-insensitive
  });

  it('loads a $2y$ hash from a web config and checks it', async () => {
    const cfg = loadWebConfig(writeConfig(`basic_auth_users:\n  bob: ${bobHash}\n`));
    expect(bobHash.startsWith('$2y$04$')).toBe(true);
    const auth = new BasicAuth(cfg.basicAuthUsers);
    expect(await auth.check(basic('bob:hunter2'))).toBe(true);
    expect(await auth.check(basic('bob:hunter3'))).toBe(false);
  });

  it('splits at the first colon: the password may contain colons', async () => {
    const auth = new BasicAuth(new Map([['carol', bcrypt.hashSync('a:b::c', 4)]]));
    expect(await auth.check(basic('carol:a:b::c'))).toBe(true);
    expect(await auth.check(basic('carol:a:b:'))).toBe(false);
  });

  it('rejects malformed headers without running bcrypt', async () => {
    const auth = new BasicAuth(new Map([['alice', aliceHash]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    const malformed = [
      undefined,
      '',
      'Bearer x',
      'Basic',
      'Basic ',
      'Basic !!!',
      `Basic ${Buffer.from('alicesecret').toString('base64')}`, // no colon
      `Basic ${Buffer.from('alice:secret').toString('base64').replace(/=+$/, '')}x`, // bad length
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, // not UTF-8
      `Digest ${Buffer.from('alice:secret').toString('base64')}`,
    ];
    for (const header of malformed) expect([header, await auth.check(header)]).toEqual([header, false]);
    expect(compare).not.toHaveBeenCalled();
  });

  it('runs one bcrypt compare against a decoy for unknown users', async () => {
    const cost10 = bcrypt.hashSync('secret', 10);
    const auth = new BasicAuth(new Map([['alice', aliceHash], ['dave', cost10]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await auth.check(basic('mallory:secret'))).toBe(false);
    expect(compare).toHaveBeenCalledTimes(1);
    const [password, hash] = compare.mock.calls[0] as unknown as [string, string];
    expect(password).toBe('secret');
    expect(hash).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/); // the highest configured cost
  });

  it('caches successful checks: bcrypt runs once per (user, password)', async () => {
    const auth = new BasicAuth(new Map([['dave', bcrypt.hashSync('secret', 10)]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await auth.check(basic('dave:secret'))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) expect(await auth.check(basic('dave:secret'))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    // Failures are not cached, and a wrong password never hits the cache.
    expect(await auth.check(basic('dave:wrong'))).toBe(false);
    expect(await auth.check(basic('dave:wrong'))).toBe(false);
    expect(compare).toHaveBeenCalledTimes(3);
  });

  it('shares one bcrypt run between concurrent identical checks', async () => {
    const auth = new BasicAuth(new Map([['alice', aliceHash]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    const results = await Promise.all([1, 2, 3, 4].map(() => auth.check(basic('alice:secret'))));
    expect(results).toEqual([true, true, true, true]);
    expect(compare).toHaveBeenCalledTimes(1);
  });

  it('keeps at most 64 cached entries, evicting the least recently used', async () => {
    const users = new Map<string, string>();
    for (let i = 0; i < 65; i++) users.set(`u${i}`, bcrypt.hashSync(`pw${i}`, 4));
    const auth = new BasicAuth(users);
    const compare = vi.spyOn(bcrypt, 'compare');
    for (let i = 0; i < 64; i++) expect(await auth.check(basic(`u${i}:pw${i}`))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(64);
    expect(await auth.check(basic('u0:pw0'))).toBe(true); // hit: u0 becomes most recent, u1 the oldest
    expect(compare).toHaveBeenCalledTimes(64);
    expect(await auth.check(basic('u64:pw64'))).toBe(true); // miss: evicts u1
    expect(compare).toHaveBeenCalledTimes(65);
    expect(await auth.check(basic('u0:pw0'))).toBe(true);
    expect(await auth.check(basic('u2:pw2'))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(65);
    expect(await auth.check(basic('u1:pw1'))).toBe(true); // evicted: bcrypt again
    expect(compare).toHaveBeenCalledTimes(66);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
