/**
 * The web config as a whole (src/server/web/config.ts): every section parsed from one file with
 * relative paths resolved against its directory, exporter-toolkit's defaults, empty files and
 * sections, the exporter-toolkit features this server does not have, and the one error format:
 * every error about the file's contents names the file and the line (`web config FILE:LINE: …`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebConfig, type TlsSettings } from '../../../src/server/web/config.js';
import { httpsServerOptions } from '../../../src/server/web/tls.js';
import { makeCerts } from '../../helpers/certs.js';
import { configDir, TLS_BASE, webConfigError } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-');
const certs = join(cfg.dir, 'certs');
const p = (name: string): string => join(certs, name);
const writeConfig = cfg.write;
const loadError = cfg.loadError;
let caPem = '';
let aliceHash = ''; // $2b$, cost 4, password "secret"
let bobHash = ''; // $2y$ (as htpasswd writes), cost 4, password "hunter2"

beforeAll(() => {
  caPem = makeCerts(certs).ca;
  writeFileSync(p('empty.crt'), '\n');
  writeFileSync(p('garbage.crt'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
  writeFileSync(p('encrypted.key'), '-----BEGIN ENCRYPTED PRIVATE KEY-----\nbm90IGEga2V5\n-----END ENCRYPTED PRIVATE KEY-----\n');
  writeFileSync(p('garbage.key'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
  aliceHash = bcrypt.hashSync('secret', 4);
  bobHash = bcrypt.hashSync('hunter2', 4).replace(/^\$2b\$/, '$2y$');
});
afterAll(() => cfg.remove());

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
      clientAllowedSans: [],
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
      clientAllowedSans: [],
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
    expect(cfg.rateLimit).toBeNull();
  });

  it('accepts an empty file, a comment-only file and null sections: no TLS, no auth', () => {
    for (const yaml of ['', '# nothing here\n', 'tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n']) {
      const cfg = loadWebConfig(writeConfig(yaml));
      expect(cfg.tls).toBeNull();
      expect(cfg.basicAuthUsers.size).toBe(0);
      expect(cfg.headers.size).toBe(0);
    }
  });

  it('says which exporter-toolkit features are not supported', () => {
    const a = loadError('basic_auth_users:\nauth_excluded_paths: [/metrics]\n');
    expect(a.message).toBe(`web config ${a.file}:2: auth_excluded_paths: auth_excluded_paths is not supported by multiproc-exporter`);
  });

  it('reads every section of a current exporter-toolkit config, rate_limit included', () => {
    const cfg = loadWebConfig(
      writeConfig(
        `${TLS_BASE}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.crt\n  client_allowed_sans: [scraper.example.com]\n` +
          `http_server_config:\n  http2: true\n  headers:\n    X-Content-Type-Options: nosniff\n` +
          `basic_auth_users:\n  alice: ${aliceHash}\n` +
          `rate_limit:\n  interval: 1s\n  burst: 20\n`,
      ),
    );
    expect(cfg.tls?.clientAllowedSans).toEqual(['scraper.example.com']);
    expect([...cfg.headers]).toEqual([['X-Content-Type-Options', 'nosniff']]);
    expect([...cfg.basicAuthUsers]).toEqual([['alice', aliceHash]]);
    expect(cfg.rateLimit).toEqual({ intervalMs: 1000, burst: 20 });
  });

  it('names the file and the line in every kind of error: web config FILE:LINE: KEY: …; only an unreadable file has no line', () => {
    const T = TLS_BASE; // lines 1-3
    const tlsWith = (cert: string, key: string): string => `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n`;
    // [yaml, line (line:column for YAML syntax errors), what follows "web config FILE:LINE: "]
    const cases: Array<[string, number | string, string]> = [
      ['tls_server_config:\n\tcert_file: x\n', '2:1', 'invalid YAML: Tabs are not allowed as indentation'],
      ['- tls_server_config\n', 1, 'the file must be a YAML mapping'],
      ['? [a, b]\n: c\n', 1, 'keys must be plain strings'],
      ['\n\nfoo: 1\n', 3, 'foo: unknown field'],
      ['auth_excluded_paths: [/metrics]\n', 1, 'auth_excluded_paths: auth_excluded_paths is not supported'],
      ['tls_server_config: yes\n', 1, 'tls_server_config: must be a mapping'],
      [`${T}  client_auth_type: [a]\n`, 4, 'tls_server_config.client_auth_type: must be a string'],
      ['http_server_config:\n  http2: maybe\n', 2, 'http_server_config.http2: must be true or false'],
      [`${T}  cipher_suites: TLS_AES_128_GCM_SHA256\n`, 4, 'tls_server_config.cipher_suites: must be a list'],
      [`${T}  curve_preferences:\n    - X25519\n    - ""\n`, 6, 'tls_server_config.curve_preferences[1]: must be a non-empty string'],
      [`${T}  cert: x\n`, 4, 'tls_server_config.cert: set both cert and cert_file; use one'],
      ['tls_server_config:\n  key_file: certs/server.key\n', 1, 'tls_server_config.cert_file: required when tls_server_config is present'],
      ['tls_server_config:\n  cert_file: certs/server.crt\n', 1, 'tls_server_config.key_file: required when tls_server_config is present'],
      [`${T}  client_auth_type: RequireCert\n`, 4, 'tls_server_config.client_auth_type: invalid value "RequireCert"'],
      [`${T}  client_auth_type: VerifyClientCertIfGiven\n`, 4, 'tls_server_config.client_ca_file: required for client_auth_type VerifyClientCertIfGiven'],
      [`${T}  client_ca_file: certs/ca.crt\n`, 4, 'tls_server_config.client_ca_file: client CAs configured without a client auth policy'],
      [`${T}  max_version: TLS14\n`, 4, 'tls_server_config.max_version: unknown TLS version "TLS14"'],
      [`${T}  max_version: TLS12\n  min_version: TLS13\n`, 5, 'tls_server_config.min_version: TLS13 is greater than max_version TLS12'],
      [`${T}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n`, 4, 'tls_server_config.cipher_suites[0]: unknown cipher "TLS_RSA_WITH_RC4_128_SHA"'],
      [`${T}  curve_preferences: [P256]\n`, 4, 'tls_server_config.curve_preferences[0]: unknown curve "P256"'],
      [tlsWith('certs/nope.crt', 'certs/server.key'), 2, `tls_server_config.cert_file: ${p('nope.crt')}: cannot read: file does not exist`],
      [tlsWith('certs/empty.crt', 'certs/server.key'), 2, `tls_server_config.cert_file: ${p('empty.crt')}: file is empty`],
      [tlsWith('certs/server.key', 'certs/server.key'), 2, `tls_server_config.cert_file: ${p('server.key')}: no PEM certificate found (it holds a private key`],
      [tlsWith('certs/garbage.crt', 'certs/server.key'), 2, `tls_server_config.cert_file: ${p('garbage.crt')}: certificate #1 is not a valid X.509 certificate`],
      [tlsWith('certs/server.crt', 'certs/nope.key'), 3, `tls_server_config.key_file: ${p('nope.key')}: cannot read: file does not exist`],
      [tlsWith('certs/server.crt', 'certs/encrypted.key'), 3, `tls_server_config.key_file: ${p('encrypted.key')}: encrypted private keys are not supported`],
      [tlsWith('certs/server.crt', 'certs/server.crt'), 3, `tls_server_config.key_file: ${p('server.crt')}: no PEM private key found (it holds a certificate`],
      [tlsWith('certs/server.crt', 'certs/garbage.key'), 3, `tls_server_config.key_file: ${p('garbage.key')}: not a valid private key`],
      [tlsWith('certs/server.crt', 'certs/other.key'), 3, `tls_server_config.key_file: ${p('other.key')}: private key does not match the certificate`],
      ['tls_server_config:\n  key_file: certs/server.key\n  cert: |\n    not a certificate\n', 3, 'tls_server_config.cert: no PEM certificate found'],
      [`${T}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/nope.crt\n`, 5, `tls_server_config.client_ca_file: ${p('nope.crt')}: cannot read`],
      [`${T}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.key\n`, 5, `tls_server_config.client_ca_file: ${p('ca.key')}: no PEM certificate found`],
      [`${T}  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []\n`, 5, 'tls_server_config.client_allowed_sans: empty list'],
      [`${T}  client_allowed_sans: [a]\n`, 4, 'tls_server_config.client_allowed_sans: needs a client certificate'],
      ['rate_limit:\n  interval: 1s\n  burst: 5\n  period: 1s\n', 4, 'rate_limit.period: unknown field'],
      ['rate_limit:\n  interval: 5\n  burst: 5\n', 2, 'rate_limit.interval: 5 has no unit'],
      ['rate_limit:\n  interval: 1 s\n  burst: 5\n', 2, 'rate_limit.interval: invalid duration "1 s"'],
      ['rate_limit:\n  interval: -1s\n  burst: 5\n', 2, 'rate_limit.interval: must not be negative'],
      ['rate_limit:\n  interval: 1s\n  burst: 2.5\n', 3, 'rate_limit.burst: must be an integer'],
      ['rate_limit:\n  interval: 1s\n  burst: -1\n', 3, 'rate_limit.burst: must not be negative'],
      ['rate_limit:\n  interval: 1s\n  burst: 0\n', 3, 'rate_limit.burst: must be at least 1 when interval is set'],
      ['\nrate_limit:\n  interval: 1s\n', 2, 'rate_limit.burst: must be at least 1 when interval is set'],
      ['http_server_config:\n  headers:\n    Server: x\n', 3, 'http_server_config.headers.Server: HTTP header "Server" can not be configured'],
      ['http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n', 3, 'http_server_config.headers.X-Content-Type-Options: invalid value "sniff"'],
      ['http_server_config:\n  headers:\n    Content-Security-Policy: "a\\x01b"\n', 3, 'http_server_config.headers.Content-Security-Policy: value contains characters not allowed in an HTTP header'],
      ['basic_auth_users:\n  "a:b": x\n', 2, "basic_auth_users.a:b: username contains ':'"],
      ['basic_auth_users:\n  "a\\tb": x\n', 2, 'basic_auth_users.a\tb: username contains control characters'],
      ['basic_auth_users:\n  alice: secret\n', 2, 'basic_auth_users.alice: not a bcrypt hash'],
      ['basic_auth_users:\n  alice:\n', 2, 'basic_auth_users.alice: not a bcrypt hash'],
    ];
    for (const [yaml, line, rest] of cases) {
      const { file, message } = loadError(yaml);
      const expected = `web config ${file}:${line}: ${rest}`;
      expect(message.slice(0, expected.length)).toBe(expected);
    }
    const missing = join(cfg.dir, 'missing.yml');
    expect(webConfigError(() => loadWebConfig(missing))).toBe(`web config ${missing}: cannot read: file does not exist`);
  });
});
