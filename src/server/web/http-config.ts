/**
 * The `http_server_config` section: the security response headers exporter-toolkit lets an
 * operator set (only those, only with the values it accepts; blank = unset), and `http2`, which
 * is accepted for compatibility (exporter-toolkit's default is true) although this server speaks
 * HTTP/1.1 only: clients negotiate it over ALPN, as Prometheus does.
 */
import { validateHeaderValue } from 'node:http';
import { isNull, type ConfigFile, type Entry } from './config-file.js';

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

export interface HttpServerConfig {
  /** Extra response headers, in file order (blank values dropped). */
  readonly headers: ReadonlyMap<string, string>;
}

export function parseHttpServerConfig(file: ConfigFile, section: Entry | undefined): HttpServerConfig {
  const headers = new Map<string, string>();
  if (section === undefined || isNull(section.value)) return { headers };
  const w = 'http_server_config';
  const h = file.map(section.value, w);
  file.checkKeys(h, w, ['headers', 'http2'], {});
  file.bool(h.get('http2')?.value, `${w}.http2`);
  const headersNode = h.get('headers');
  if (headersNode === undefined || isNull(headersNode.value)) return { headers };
  for (const [name, entry] of file.map(headersNode.value, `${w}.headers`)) {
    const where = `${w}.headers.${name}`;
    const allowed = EXTRA_HEADERS.get(name);
    if (allowed === undefined) {
      file.fail(where, `HTTP header ${JSON.stringify(name)} can not be configured; allowed: ${[...EXTRA_HEADERS.keys()].join(', ')}`, entry.key);
    }
    const value = file.string(entry.value, where);
    if (value === null || value === '') continue; // "Unset if blank."
    if (allowed !== null && !allowed.includes(value)) {
      file.fail(where, `invalid value ${JSON.stringify(value)}; expected one of: ${allowed.join(', ')}`, entry.value ?? entry.key);
    }
    try {
      validateHeaderValue(name, value);
    } catch {
      file.fail(where, 'value contains characters not allowed in an HTTP header', entry.value ?? entry.key);
    }
    headers.set(name, value);
  }
  return { headers };
}
