/**
 * The web config file as YAML (src/server/web/config-file.ts): a missing file, malformed YAML,
 * unknown keys and values of the wrong type are errors that name the file, the key and the line.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWebConfig } from '../../../src/server/web/config.js';
import { configDir, TLS_BASE, webConfigError } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-file-');
const tmp = cfg.dir;
const loadError = cfg.loadError;
const tlsError = webConfigError;

afterAll(() => cfg.remove());

describe('loadWebConfig: the file', () => {
  it('names the missing config file', () => {
    const missing = join(tmp, 'nope.yml');
    expect(tlsError(() => loadWebConfig(missing))).toBe(`web config ${missing}: cannot read: file does not exist`);
  });

  it('reports malformed YAML with its line number', () => {
    const a = loadError('tls_server_config:\n  cert_file: certs/server.crt\n\tkey_file: certs/server.key\n');
    expect(a.message).toBe(`web config ${a.file}:3:1: invalid YAML: Tabs are not allowed as indentation`);
    const c = loadError('basic_auth_users:\n  alice: bob: x\n');
    expect(c.message).toBe(`web config ${c.file}:2:10: invalid YAML: Nested mappings are not allowed in compact mappings`);
    const b = loadError('basic_auth_users:\n  alice: x\n  alice: y\n');
    expect(b.message).toBe(`web config ${b.file}:3:3: invalid YAML: Map keys must be unique`);
  });

  it('rejects unknown keys, nested and top-level, with their line', () => {
    const a = loadError(`${TLS_BASE}  foo: bar\n`);
    expect(a.message).toBe(
      `web config ${a.file}:4: tls_server_config.foo: unknown field (expected one of: cert, key, client_ca, cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version, cipher_suites, prefer_server_cipher_suites, curve_preferences, client_allowed_sans)`,
    );
    const b = loadError('basic_auth_user:\n  alice: x\n');
    expect(b.message).toBe(
      `web config ${b.file}:1: basic_auth_user: unknown field (expected one of: tls_server_config, http_server_config, basic_auth_users, rate_limit)`,
    );
    const c = loadError('http_server_config:\n  header:\n    X-Frame-Options: deny\n');
    expect(c.message).toBe(`web config ${c.file}:2: http_server_config.header: unknown field (expected one of: headers, http2)`);
  });

  it('rejects wrong value types', () => {
    const a = loadError(`${TLS_BASE}  prefer_server_cipher_suites: yes\n`);
    expect(a.message).toBe(`web config ${a.file}:4: tls_server_config.prefer_server_cipher_suites: must be true or false`);
    const b = loadError(`${TLS_BASE}  cipher_suites: TLS_AES_128_GCM_SHA256\n`);
    expect(b.message).toBe(`web config ${b.file}:4: tls_server_config.cipher_suites: must be a list`);
    const c = loadError('- tls_server_config\n');
    expect(c.message).toBe(`web config ${c.file}:1: the file must be a YAML mapping`);
  });
});
