/**
 * The web config as a whole (src/server/web/config.ts): every section parsed from one file with
 * relative paths resolved against its directory, exporter-toolkit's defaults, empty files and
 * sections, and the exporter-toolkit features this server does not have.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWebConfig, type TlsSettings } from '../../../src/server/web/config.js';
import { httpsServerOptions } from '../../../src/server/web/tls.js';
import { makeCerts } from '../../helpers/certs.js';
import { configDir, TLS_BASE } from '../../helpers/web-config.js';

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

  it('accepts an empty file, a comment-only file and null sections: no TLS, no auth', () => {
    for (const yaml of ['', '# nothing here\n', 'tls_server_config:\nhttp_server_config:\nbasic_auth_users:\n']) {
      const cfg = loadWebConfig(writeConfig(yaml));
      expect(cfg.tls).toBeNull();
      expect(cfg.basicAuthUsers.size).toBe(0);
      expect(cfg.headers.size).toBe(0);
    }
  });

  it('says which exporter-toolkit features are not supported', () => {
    const a = loadError('rate_limit:\n  interval: 1s\n  burst: 20\n');
    expect(a.message).toBe(`web config ${a.file}: rate_limit: rate limiting is not supported by multiproc-exporter (line 1)`);
    const b = loadError(`${TLS_BASE}  client_allowed_sans: [scraper]\n`);
    expect(b.message).toBe(
      `web config ${b.file}: tls_server_config.client_allowed_sans: client SAN allow-lists are not supported by multiproc-exporter (line 4)`,
    );
  });
});
