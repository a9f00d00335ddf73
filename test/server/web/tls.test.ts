/**
 * TLS (src/server/web/tls.ts): `tls_server_config` parsing and validation (every error names the
 * file, the key and the problem), `tlsFromFiles` for --tls.cert-file/--tls.key-file, and real
 * HTTPS handshakes over 127.0.0.1 with `httpsServerOptions` and `clientCertAllowed` for each
 * client_auth_type. Certificates are made fresh with the openssl CLI (helpers/certs.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { request, createServer, type RequestOptions, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebConfig, type TlsSettings } from '../../../src/server/web/config.js';
import { clientCertAllowed } from '../../../src/server/web/client-cert.js';
import { httpsServerOptions, tlsFromFiles } from '../../../src/server/web/tls.js';
import { makeCerts } from '../../helpers/certs.js';
import { configDir, escapeRegExp, TLS_BASE, webConfigError } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-');
const certs = join(cfg.dir, 'certs');
const p = (name: string): string => join(certs, name);
const writeConfig = cfg.write;
const loadError = cfg.loadError;
const tlsError = webConfigError;
const escape = escapeRegExp;
let caPem = '';
let clientCert = '';
let clientKey = '';
let rogueCert = '';
let rogueKey = '';

beforeAll(() => {
  ({ ca: caPem, clientCert, clientKey, rogueCert, rogueKey } = makeCerts(certs));
});

const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }
  cfg.remove();
});

describe('tls_server_config', () => {
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

  it('refuses a client CA file that is a FIFO, by its key and line', () => {
    execFileSync('mkfifo', [p('ca-fifo.crt')]);
    const { file, message } = loadError(`${TLS_BASE}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca-fifo.crt\n`);
    expect(message).toBe(`web config ${file}:5: tls_server_config.client_ca_file: ${p('ca-fifo.crt')}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it`);
  });

  it('names a missing cert file by its resolved path', () => {
    const { file, message } = loadError('tls_server_config:\n  cert_file: certs/nope.crt\n  key_file: certs/server.key\n');
    expect(message).toBe(`web config ${file}:2: tls_server_config.cert_file: ${p('nope.crt')}: cannot read: file does not exist`);
  });

  it('rejects a key that does not match the certificate', () => {
    const { file, message } = loadError('tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/other.key\n');
    expect(message).toBe(
      `web config ${file}:3: tls_server_config.key_file: ${p('other.key')}: private key does not match the certificate (subject "CN=127.0.0.1")`,
    );
  });

  it('requires both cert_file and key_file when tls_server_config is present', () => {
    const a = loadError('tls_server_config:\n  cert_file: certs/server.crt\n');
    expect(a.message).toBe(`web config ${a.file}:1: tls_server_config.key_file: required when tls_server_config is present`);
    const b = loadError('tls_server_config:\n  min_version: TLS13\n');
    expect(b.message).toBe(`web config ${b.file}:1: tls_server_config.cert_file: required when tls_server_config is present`);
  });

  it('rejects a bad client_auth_type', () => {
    const { file, message } = loadError(`${TLS_BASE}  client_auth_type: RequireCert\n`);
    expect(message).toBe(
      `web config ${file}:4: tls_server_config.client_auth_type: invalid value "RequireCert"; expected one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert`,
    );
  });

  it('requires client_ca_file for the Verify* types, and a client auth type for client_ca_file', () => {
    for (const type of ['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']) {
      const { file, message } = loadError(`${TLS_BASE}  client_auth_type: ${type}\n`);
      expect(message).toBe(`web config ${file}:4: tls_server_config.client_ca_file: required for client_auth_type ${type}`);
    }
    const { file, message } = loadError(`${TLS_BASE}  client_ca_file: certs/ca.crt\n`);
    expect(message).toBe(
      `web config ${file}:4: tls_server_config.client_ca_file: client CAs configured without a client auth policy; set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)`,
    );
  });

  it('rejects a client CA file without certificates', () => {
    const { file, message } = loadError(`${TLS_BASE}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.key\n`);
    expect(message).toBe(
      `web config ${file}:5: tls_server_config.client_ca_file: ${p('ca.key')}: no PEM certificate found (it holds a private key; are the cert and key swapped?)`,
    );
  });

  it('rejects min_version above max_version and unknown versions', () => {
    const a = loadError(`${TLS_BASE}  min_version: TLS13\n  max_version: TLS12\n`);
    expect(a.message).toBe(`web config ${a.file}:4: tls_server_config.min_version: TLS13 is greater than max_version TLS12`);
    const b = loadError(`${TLS_BASE}  max_version: TLS14\n`);
    expect(b.message).toBe(
      `web config ${b.file}:4: tls_server_config.max_version: unknown TLS version "TLS14"; expected TLS10, TLS11, TLS12 or TLS13`,
    );
  });

  it('rejects unknown cipher suites and curves', () => {
    const a = loadError(`${TLS_BASE}  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - TLS_RSA_WITH_RC4_128_SHA\n`);
    expect(a.message).toMatch(
      new RegExp(
        `^web config ${escape(a.file)}:6: tls_server_config\\.cipher_suites\\[1\\]: unknown cipher "TLS_RSA_WITH_RC4_128_SHA"; supported: TLS_RSA_WITH_AES_128_CBC_SHA, .*TLS_CHACHA20_POLY1305_SHA256$`,
      ),
    );
    const b = loadError(`${TLS_BASE}  curve_preferences: [X25519, P256]\n`);
    expect(b.message).toBe(
      `web config ${b.file}:4: tls_server_config.curve_preferences[1]: unknown curve "P256"; expected X25519, CurveP256, CurveP384 or CurveP521`,
    );
  });

  it('reads client_allowed_sans in file order; absent or null: not checked', () => {
    const sans = "  client_allowed_sans:\n    - scraper.example.com\n    - '10.0.0.7'\n    - spiffe://example.com/prometheus\n";
    const verify = '  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.crt\n';
    expect(tlsConfig(`${verify}${sans}`).clientAllowedSans).toEqual(['scraper.example.com', '10.0.0.7', 'spiffe://example.com/prometheus']);
    expect(tlsConfig('  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a]\n').clientAllowedSans).toEqual(['a']);
    expect(tlsConfig(verify).clientAllowedSans).toEqual([]);
    expect(tlsConfig(`${verify}  client_allowed_sans:\n`).clientAllowedSans).toEqual([]);
  });

  it('rejects client_allowed_sans that could never match, or would never be checked', () => {
    const a = loadError(`${TLS_BASE}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.crt\n  client_allowed_sans: []\n`);
    expect(a.message).toBe(
      `web config ${a.file}:6: tls_server_config.client_allowed_sans: empty list: no client certificate would be accepted (exporter-toolkit refuses every connection); list the allowed SANs or remove the key`,
    );
    for (const auth of ['', '  client_auth_type: NoClientCert\n']) {
      const b = loadError(`${TLS_BASE}${auth}  client_allowed_sans: [scraper.example.com]\n`);
      const line = auth === '' ? 4 : 5;
      expect(b.message).toBe(
        `web config ${b.file}:${line}: tls_server_config.client_allowed_sans: needs a client certificate, but client_auth_type NoClientCert does not ask for one (exporter-toolkit would silently ignore the list); set client_auth_type: RequireAndVerifyClientCert and client_ca_file`,
      );
    }
    const c = loadError(`${TLS_BASE}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a, '']\n`);
    expect(c.message).toBe(`web config ${c.file}:5: tls_server_config.client_allowed_sans[1]: must be a non-empty string`);
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
      clientAllowedSans: [],
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
    execFileSync('mkfifo', [p('fifo.key')]);
    expect(tlsError(() => tlsFromFiles(p('server.crt'), p('fifo.key')))).toBe(`TLS key file: ${p('fifo.key')}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it`);
    expect(tlsError(() => tlsFromFiles('/dev/zero', p('server.key')))).toBe('TLS certificate file: /dev/zero: cannot read: is a character device, not a regular file; refused without reading it');
    writeFileSync(p('huge.crt'), '');
    truncateSync(p('huge.crt'), 1024 * 1024 + 1);
    expect(tlsError(() => tlsFromFiles(p('huge.crt'), p('server.key')))).toBe(
      `TLS certificate file: ${p('huge.crt')}: cannot read: file is too large: 1048577 bytes, over the 1 MiB limit; refused without reading it`,
    );
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
    handled.push(peer.subject === undefined ? '-' : `CN=${String(peer.subject.CN)}`);
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
