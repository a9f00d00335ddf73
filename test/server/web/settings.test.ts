/**
 * Reloads fail closed (src/server/web/settings.ts): `reloadRefusal` refuses an empty file while
 * anything is configured, TLS switched on or off, and basic auth switched off unless the file
 * says `basic_auth_users: {}`; `WebSettings.apply` then changes nothing.
 */
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWebConfig, NO_WEB_CONFIG, type WebConfig } from '../../../src/server/web/config.js';
import { reloadRefusal, WebSettings } from '../../../src/server/web/settings.js';
import { makeCerts } from '../../helpers/certs.js';
import { configDir, TLS_BASE } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-settings-');
makeCerts(`${cfg.dir}/certs`);
afterAll(() => cfg.remove());
const aliceHash = bcrypt.hashSync('secret', 4);
const load = (yaml: string): WebConfig => loadWebConfig(cfg.write(yaml));

const EMPTY = (what: string): string => `the file is empty (caught mid-rewrite?) and would switch off ${what}; write the whole config (to clear every setting on purpose, write {})`;
const USERS_GONE = (n: number): string =>
  `basic_auth_users is missing or empty: the reload would switch basic auth off (${n} user${n === 1 ? '' : 's'} now), refused in case the file was cut short; to switch basic auth off on purpose, write basic_auth_users: {}`;

describe('reloadRefusal', () => {
  const users = load(`basic_auth_users:\n  alice: ${aliceHash}\n  bob: ${aliceHash}\n`);
  const tls = load(TLS_BASE);
  const everything = load(`${TLS_BASE}basic_auth_users:\n  alice: ${aliceHash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\nrate_limit:\n  interval: 1s\n  burst: 5\n`);
  const headersOnly = load('http_server_config:\n  headers:\n    X-Frame-Options: deny\n');

  it('refuses an empty file whenever something is configured, naming what it would switch off', () => {
    const empty = load('');
    expect(reloadRefusal(users, empty)).toBe(EMPTY('basic auth'));
    expect(reloadRefusal(tls, empty)).toBe(EMPTY('TLS'));
    expect(reloadRefusal(everything, empty)).toBe(EMPTY('TLS, basic auth, http_server_config.headers, rate_limit'));
    expect(reloadRefusal(headersOnly, load('# just a comment\n'))).toBe(EMPTY('http_server_config.headers'));
    // Nothing configured: an empty file changes nothing, and is accepted.
    expect(reloadRefusal(load(''), empty)).toBeNull();
    expect(reloadRefusal(NO_WEB_CONFIG, empty)).toBeNull();
  });

  it('refuses switching basic auth off unless the file says basic_auth_users: {}', () => {
    expect(reloadRefusal(users, load('{}\n'))).toBe(USERS_GONE(2));
    expect(reloadRefusal(users, load('basic_auth_users:\n'))).toBe(USERS_GONE(2));
    expect(reloadRefusal(users, headersOnly)).toBe(USERS_GONE(2));
    expect(reloadRefusal(load(`basic_auth_users:\n  alice: ${aliceHash}\n`), load('basic_auth_users: ~\n'))).toBe(USERS_GONE(1));
    expect(reloadRefusal(users, load('basic_auth_users: {}\n'))).toBeNull();
    // Fewer users, other users, or auth switched on: ordinary reloads.
    expect(reloadRefusal(users, load(`basic_auth_users:\n  carol: ${aliceHash}\n`))).toBeNull();
    expect(reloadRefusal(headersOnly, users)).toBeNull();
    expect(reloadRefusal(headersOnly, load('{}\n'))).toBeNull();
  });

  it('refuses TLS switched on or off', () => {
    expect(reloadRefusal(tls, users)).toBe('TLS cannot be turned off by a reload; restart the daemon');
    expect(reloadRefusal(users, load(`${TLS_BASE}basic_auth_users:\n  alice: ${aliceHash}\n`))).toBe('TLS cannot be turned on by a reload; restart the daemon');
    expect(reloadRefusal(tls, load(`${TLS_BASE}  min_version: TLS13\n`))).toBeNull();
  });
});

describe('WebSettings.apply', () => {
  it('changes nothing when refused, and measures the next reload against what is in force', async () => {
    const settings = new WebSettings(load(`basic_auth_users:\n  alice: ${aliceHash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n`));
    const alice = `Basic ${Buffer.from('alice:secret').toString('base64')}`;
    expect(settings.apply(load('http_server_config:\n'))).toBe(USERS_GONE(1));
    expect([settings.auth.enabled, await settings.auth.check(alice), await settings.auth.check(undefined), [...settings.headers]]).toEqual([true, true, false, [['X-Frame-Options', 'deny']]]);
    expect(settings.apply(load('basic_auth_users: {}\n'))).toBeNull();
    expect([settings.auth.enabled, await settings.auth.check(undefined), settings.headers.size]).toEqual([false, true, 0]);
    // Nothing is configured now: an empty file is an ordinary reload.
    expect(settings.apply(load(''))).toBeNull();
  });
});
