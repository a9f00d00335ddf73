/**
 * `http_server_config` (src/server/web/http-config.ts): only the response headers exporter-toolkit
 * allows, only with the values it accepts; `http2` accepted either way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadWebConfig } from '../../../src/server/web/config.js';
import { configDir } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-http-');
const loadError = cfg.loadError;

afterAll(() => cfg.remove());

describe('http_server_config', () => {
  it('only allows the headers exporter-toolkit allows, with its values', () => {
    const a = loadError('http_server_config:\n  headers:\n    Authorization: Basic eA==\n');
    expect(a.message).toBe(
      `web config ${a.file}:3: http_server_config.headers.Authorization: HTTP header "Authorization" can not be configured; allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy`,
    );
    const b = loadError('http_server_config:\n  headers:\n    "": x\n');
    expect(b.message).toContain(`web config ${b.file}:3: http_server_config.headers.: HTTP header "" can not be configured`);
    const c = loadError('http_server_config:\n  headers:\n    X-Frame-Options: allow\n');
    expect(c.message).toBe(
      `web config ${c.file}:3: http_server_config.headers.X-Frame-Options: invalid value "allow"; expected one of: deny, sameorigin`,
    );
  });

  it('accepts http2 true and false (this server speaks HTTP/1.1 either way), and nothing else', () => {
    for (const value of ['true', 'false']) {
      const web = loadWebConfig(cfg.write(`http_server_config:\n  http2: ${value}\n  headers:\n    X-Frame-Options: sameorigin\n`));
      expect([value, [...web.headers]]).toEqual([value, [['X-Frame-Options', 'sameorigin']]]);
    }
    const a = loadError('http_server_config:\n  http2: "true"\n');
    expect(a.message).toBe(`web config ${a.file}:2: http_server_config.http2: must be true or false`);
  });
});
