/**
 * The web config file as YAML (src/server/web/config-file.ts): a missing file, malformed YAML,
 * unknown keys and values of the wrong type are errors that name the file, the key and the line.
 * Only a regular file of at most 1 MiB is read (src/server/web/regular-file.ts): a FIFO, a device,
 * a socket or a directory is refused without being opened for reading, a larger file unread.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWebConfig } from '../../../src/server/web/config.js';
import { MAX_WEB_FILE_BYTES, readRegularFile } from '../../../src/server/web/regular-file.js';
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

describe('loadWebConfig: only a regular file of at most 1 MiB is read', () => {
  it('refuses a FIFO at once, without waiting for a writer', () => {
    const fifo = join(tmp, 'fifo.yml');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect(tlsError(() => loadWebConfig(fifo))).toBe(`web config ${fifo}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it`);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('refuses /dev/zero (never read into memory), /dev/null, a socket and a directory, saying what each is', () => {
    expect(tlsError(() => loadWebConfig('/dev/zero'))).toBe('web config /dev/zero: cannot read: is a character device, not a regular file; refused without reading it');
    expect(tlsError(() => loadWebConfig('/dev/null'))).toBe('web config /dev/null: cannot read: is a character device, not a regular file; refused without reading it');
    expect(tlsError(() => loadWebConfig(tmp))).toBe(`web config ${tmp}: cannot read: is a directory, not a file`);
  });

  it('refuses a unix socket', async () => {
    const sock = join(tmp, 'web.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      expect(tlsError(() => loadWebConfig(sock))).toBe(`web config ${sock}: cannot read: is a socket, not a regular file; refused without reading it`);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('refuses a file over 1 MiB by its size; reads one of exactly 1 MiB', () => {
    const big = join(tmp, 'big.yml');
    writeFileSync(big, '');
    truncateSync(big, MAX_WEB_FILE_BYTES + 1); // sparse: no megabyte written
    expect(tlsError(() => loadWebConfig(big))).toBe(`web config ${big}: cannot read: file is too large: ${MAX_WEB_FILE_BYTES + 1} bytes, over the 1 MiB limit; refused without reading it`);
    const limit = join(tmp, 'limit.yml');
    writeFileSync(limit, `${' '.repeat(MAX_WEB_FILE_BYTES - 1)}\n`);
    expect(readRegularFile(limit).length).toBe(MAX_WEB_FILE_BYTES);
    expect(loadWebConfig(limit).empty).toBe(true);
  });

  it('follows a symlink to a regular file (Kubernetes mounts ConfigMaps that way), not one to a FIFO', () => {
    const target = cfg.write('basic_auth_users: {}\n');
    const link = join(tmp, 'link.yml');
    symlinkSync(target, link);
    expect(loadWebConfig(link).basicAuthDeclaredOff).toBe(true);
    const fifo = join(tmp, 'fifo2');
    execFileSync('mkfifo', [fifo]);
    const fifoLink = join(tmp, 'fifo-link.yml');
    symlinkSync(fifo, fifoLink);
    expect(tlsError(() => loadWebConfig(fifoLink))).toBe(`web config ${fifoLink}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it`);
  });

  it('readRegularFile: a file that grows past the limit while read is refused', () => {
    const f = join(tmp, 'small.txt');
    writeFileSync(f, 'x'.repeat(100));
    expect(readRegularFile(f, 100)).toBe('x'.repeat(100));
    expect(() => readRegularFile(f, 99)).toThrow('file is too large: 100 bytes, over the 99-byte limit; refused without reading it');
    // An unreadable file keeps its fs error (the loader words it: "permission denied" and so on).
    const fd = openSync(join(tmp, 'empty.txt'), 'w');
    closeSync(fd);
    expect(readRegularFile(join(tmp, 'empty.txt'))).toBe('');
    expect(() => readRegularFile(join(tmp, 'missing.txt'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
