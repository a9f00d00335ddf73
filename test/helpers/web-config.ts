/**
 * Web config files for the loader tests: a temporary directory to write them into (certificates,
 * when a test needs them, go in its `certs/` subdirectory, so `certs/server.crt` is a path relative
 * to every config), and helpers that expect a WebConfigError and return its message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadWebConfig, WebConfigError } from '../../src/server/web/config.js';

/** A tls_server_config with the server certificate of makeCerts(join(dir, 'certs')), relative paths. */
export const TLS_BASE = 'tls_server_config:\n  cert_file: certs/server.crt\n  key_file: certs/server.key\n';

export interface ConfigDir {
  readonly dir: string;
  /** Writes a web config into dir under a fresh name and returns its path. */
  write(yaml: string): string;
  /** Writes the config and expects loadWebConfig to reject it: the file and the message. */
  loadError(yaml: string): { file: string; message: string };
  remove(): void;
}

export function configDir(prefix: string): ConfigDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let count = 0;
  const write = (yaml: string): string => {
    count += 1;
    const file = join(dir, `web-${count}.yml`);
    writeFileSync(file, yaml);
    return file;
  };
  return {
    dir,
    write,
    loadError: (yaml) => {
      const file = write(yaml);
      return { file, message: webConfigError(() => loadWebConfig(file)) };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs `run`, expects a WebConfigError, returns its message. */
export function webConfigError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(WebConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a WebConfigError');
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
