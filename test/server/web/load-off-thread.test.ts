/**
 * The web settings loaded in a worker thread (src/server/web/load-off-thread.ts), as a SIGHUP
 * reload does: the same WebConfig as loading on the calling thread, the same error, and a load not
 * done in time abandoned with a message. A worker thread runs JavaScript, so this uses the built
 * module in dist/ (`npm test` builds first).
 */
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWebSource, loadWebSourceOffThread, WEB_LOAD_TIMEOUT_MS } from '../../../dist/server/web/load-off-thread.js';
import { makeCerts } from '../../helpers/certs.js';
import { configDir, TLS_BASE } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-worker-');
const certs = makeCerts(`${cfg.dir}/certs`);
afterAll(() => cfg.remove());
const source = (webConfigFile: string | undefined, tlsCertFile?: string, tlsKeyFile?: string) => ({ webConfigFile, tlsCertFile, tlsKeyFile });

describe('loadWebSourceOffThread', () => {
  it('returns what loadWebSource returns: a web config, the TLS file pair, nothing', async () => {
    const file = cfg.write(`${TLS_BASE}basic_auth_users:\n  alice: ${bcrypt.hashSync('secret', 4)}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nrate_limit:\n  interval: 1s\n  burst: 3\n`);
    const off = await loadWebSourceOffThread(source(file));
    expect(off).toEqual(loadWebSource(source(file)));
    expect([off.tls?.certFile, [...off.basicAuthUsers.keys()], [...off.headers], off.rateLimit]).toEqual([certs.path('server.crt'), ['alice'], [['X-Frame-Options', 'deny']], { intervalMs: 1000, burst: 3 }]);
    const pair = await loadWebSourceOffThread(source(undefined, certs.path('server.crt'), certs.path('server.key')));
    expect(pair).toEqual(loadWebSource(source(undefined, certs.path('server.crt'), certs.path('server.key'))));
    expect(await loadWebSourceOffThread(source(undefined))).toEqual({ tls: null, basicAuthUsers: new Map(), headers: new Map(), rateLimit: null, empty: false, basicAuthDeclaredOff: false });
  });

  it('rejects with the WebConfigError the loader raised', async () => {
    const file = cfg.write('basic_auth_users:\n  alice: hunter2\n');
    const err = await loadWebSourceOffThread(source(file)).catch((e: unknown) => e);
    expect([(err as Error).name, (err as Error).message]).toEqual([
      'WebConfigError',
      `web config ${file}:2: basic_auth_users.alice: not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost of 04-31 and 53 more characters); passwords must be stored bcrypt-hashed, e.g. the output of htpasswd -nBC 10 "" | tr -d ':\\n'`,
    ]);
  });

  it('abandons a load not done in time', async () => {
    expect(WEB_LOAD_TIMEOUT_MS).toBe(10_000);
    const file = cfg.write('{}\n');
    const err = await loadWebSourceOffThread(source(file), 1).catch((e: unknown) => e);
    expect([(err as Error).name, (err as Error).message]).toEqual(['WebConfigError', `web config ${file}: not loaded within 1 ms (a file on a hung file system?); abandoned`]);
  });
});
