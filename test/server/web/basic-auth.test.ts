/**
 * Basic auth (src/server/web/basic-auth.ts): `basic_auth_users` must hold bcrypt hashes of a cost
 * of at most 17 and usernames basic auth can carry, and `basic_auth_users: {}` is told from an
 * absent or empty section; `BasicAuth` accepts the right password and nothing else, runs a
 * decoy compare for unknown users, and caches successful checks (64 entries, least recently used
 * evicted, one bcrypt run shared by concurrent identical checks).
 */
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BasicAuth, MAX_BCRYPT_COST } from '../../../src/server/web/basic-auth.js';
import { loadWebConfig } from '../../../src/server/web/config.js';
import { configDir } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-auth-');
const writeConfig = cfg.write;
const loadError = cfg.loadError;
let aliceHash = ''; // $2b$, cost 4, password "secret"
let bobHash = ''; // $2y$ (as htpasswd writes), cost 4, password "hunter2"

beforeAll(() => {
  aliceHash = bcrypt.hashSync('secret', 4);
  bobHash = bcrypt.hashSync('hunter2', 4).replace(/^\$2b\$/, '$2y$');
});
afterAll(() => cfg.remove());

describe('basic_auth_users', () => {
  it('rejects a plain-text password without echoing it', () => {
    const { file, message } = loadError(`basic_auth_users:\n  alice: ${aliceHash}\n  bob: hunter2\n`);
    expect(message).toBe(
      `web config ${file}:3: basic_auth_users.bob: not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost of 04-31 and 53 more characters); passwords must be stored bcrypt-hashed, e.g. the output of htpasswd -nBC 10 "" | tr -d ':\\n'`,
    );
    expect(message).not.toContain('hunter2');
    // A truncated hash and an out-of-range cost are just as wrong.
    expect(loadError(`basic_auth_users:\n  alice: '${aliceHash.slice(0, -1)}'\n`).message).toContain('basic_auth_users.alice: not a bcrypt hash');
    expect(loadError(`basic_auth_users:\n  alice: '${aliceHash.replace('$04$', '$03$')}'\n`).message).toContain(
      'basic_auth_users.alice: not a bcrypt hash',
    );
  });

  it('rejects a bcrypt cost above 17 (htpasswd\'s maximum) with its line; accepts 17', () => {
    const { file, message } = loadError(`basic_auth_users:\n  alice: ${aliceHash}\n  bob: '${bobHash.replace('$04$', '$31$')}'\n`);
    expect(message).toBe(
      `web config ${file}:3: basic_auth_users.bob: bcrypt cost 31 is above the limit of 17: each step doubles the CPU time of every request with credentials (cost 31 is 16384 times cost 17); re-hash the password with a cost of 10 to 17, e.g. htpasswd -nBC 10 "" | tr -d ':\\n'`,
    );
    expect(MAX_BCRYPT_COST).toBe(17);
    expect(loadError(`basic_auth_users:\n  alice: '${aliceHash.replace('$04$', '$18$')}'\n`).message).toContain('bcrypt cost 18 is above the limit of 17');
    const at17 = aliceHash.replace('$04$', '$17$');
    expect([...loadWebConfig(writeConfig(`basic_auth_users:\n  alice: '${at17}'\n`)).basicAuthUsers]).toEqual([['alice', at17]]);
  });

  it('tells `basic_auth_users: {}` (auth off on purpose) from an absent or empty section (maybe a cut-short file)', () => {
    const declared = (yaml: string): boolean => loadWebConfig(writeConfig(yaml)).basicAuthDeclaredOff;
    expect(declared('basic_auth_users: {}\n')).toBe(true);
    expect(declared('basic_auth_users: {} # off\nhttp_server_config:\n')).toBe(true);
    for (const yaml of ['', '{}\n', 'basic_auth_users:\n', 'basic_auth_users: ~\n', 'basic_auth_users: null\n', 'http_server_config:\n', `basic_auth_users:\n  alice: ${aliceHash}\n`]) {
      expect([yaml, declared(yaml)]).toEqual([yaml, false]);
    }
    expect([loadWebConfig(writeConfig('')).empty, loadWebConfig(writeConfig('# only a comment\n')).empty, loadWebConfig(writeConfig('{}\n')).empty]).toEqual([true, true, false]);
  });

  it('rejects usernames basic auth can not carry', () => {
    const { file, message } = loadError(`basic_auth_users:\n  "a:b": ${aliceHash}\n`);
    expect(message).toBe(`web config ${file}:2: basic_auth_users.a:b: username contains ':', which basic auth can not transmit`);
  });
});

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

describe('BasicAuth', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is disabled (and lets everything through) without users', async () => {
    const auth = new BasicAuth(new Map());
    expect(auth.enabled).toBe(false);
    expect(await auth.check(undefined)).toBe(true);
  });

  it('accepts the right password and nothing else', async () => {
    const auth = new BasicAuth(new Map([['alice', aliceHash], ['bob', bobHash]]));
    expect(auth.enabled).toBe(true);
    expect(await auth.check(basic('alice:secret'))).toBe(true);
    expect(await auth.check(basic('bob:hunter2'))).toBe(true); // $2y$, as htpasswd writes
    expect(await auth.check(basic('alice:hunter2'))).toBe(false);
    expect(await auth.check(basic('alice:secret '))).toBe(false);
    expect(await auth.check(basic('Alice:secret'))).toBe(false);
    expect(await auth.check(basic('mallory:secret'))).toBe(false);
    expect(await auth.check(`basic ${Buffer.from('alice:secret').toString('base64')}`)).toBe(true); // scheme is case-insensitive
  });

  it('loads a $2y$ hash from a web config and checks it', async () => {
    const cfg = loadWebConfig(writeConfig(`basic_auth_users:\n  bob: ${bobHash}\n`));
    expect(bobHash.startsWith('$2y$04$')).toBe(true);
    const auth = new BasicAuth(cfg.basicAuthUsers);
    expect(await auth.check(basic('bob:hunter2'))).toBe(true);
    expect(await auth.check(basic('bob:hunter3'))).toBe(false);
  });

  it('splits at the first colon: the password may contain colons', async () => {
    const auth = new BasicAuth(new Map([['carol', bcrypt.hashSync('a:b::c', 4)]]));
    expect(await auth.check(basic('carol:a:b::c'))).toBe(true);
    expect(await auth.check(basic('carol:a:b:'))).toBe(false);
  });

  it('rejects malformed headers without running bcrypt', async () => {
    const auth = new BasicAuth(new Map([['alice', aliceHash]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    const malformed = [
      undefined,
      '',
      'Bearer x',
      'Basic',
      'Basic ',
      'Basic !!!',
      `Basic ${Buffer.from('alicesecret').toString('base64')}`, // no colon
      `Basic ${Buffer.from('alice:secret').toString('base64').replace(/=+$/, '')}x`, // bad length
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, // not UTF-8
      `Digest ${Buffer.from('alice:secret').toString('base64')}`,
    ];
    for (const header of malformed) expect([header, await auth.check(header)]).toEqual([header, false]);
    expect(compare).not.toHaveBeenCalled();
  });

  it('runs one bcrypt compare against a decoy for unknown users', async () => {
    const cost10 = bcrypt.hashSync('secret', 10);
    const auth = new BasicAuth(new Map([['alice', aliceHash], ['dave', cost10]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await auth.check(basic('mallory:secret'))).toBe(false);
    expect(compare).toHaveBeenCalledTimes(1);
    const [password, hash] = compare.mock.calls[0] as unknown as [string, string];
    expect(password).toBe('secret');
    expect(hash).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}$/); // the highest configured cost
  });

  it('caches successful checks: bcrypt runs once per (user, password)', async () => {
    const auth = new BasicAuth(new Map([['dave', bcrypt.hashSync('secret', 10)]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    expect(await auth.check(basic('dave:secret'))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) expect(await auth.check(basic('dave:secret'))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(1);
    // Failures are not cached, and a wrong password never hits the cache.
    expect(await auth.check(basic('dave:wrong'))).toBe(false);
    expect(await auth.check(basic('dave:wrong'))).toBe(false);
    expect(compare).toHaveBeenCalledTimes(3);
  });

  it('shares one bcrypt run between concurrent identical checks', async () => {
    const auth = new BasicAuth(new Map([['alice', aliceHash]]));
    const compare = vi.spyOn(bcrypt, 'compare');
    const results = await Promise.all([1, 2, 3, 4].map(() => auth.check(basic('alice:secret'))));
    expect(results).toEqual([true, true, true, true]);
    expect(compare).toHaveBeenCalledTimes(1);
  });

  it('keeps at most 64 cached entries, evicting the least recently used', async () => {
    const users = new Map<string, string>();
    for (let i = 0; i < 65; i++) users.set(`u${i}`, bcrypt.hashSync(`pw${i}`, 4));
    const auth = new BasicAuth(users);
    const compare = vi.spyOn(bcrypt, 'compare');
    for (let i = 0; i < 64; i++) expect(await auth.check(basic(`u${i}:pw${i}`))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(64);
    expect(await auth.check(basic('u0:pw0'))).toBe(true); // hit: u0 becomes most recent, u1 the oldest
    expect(compare).toHaveBeenCalledTimes(64);
    expect(await auth.check(basic('u64:pw64'))).toBe(true); // miss: evicts u1
    expect(compare).toHaveBeenCalledTimes(65);
    expect(await auth.check(basic('u0:pw0'))).toBe(true);
    expect(await auth.check(basic('u2:pw2'))).toBe(true);
    expect(compare).toHaveBeenCalledTimes(65);
    expect(await auth.check(basic('u1:pw1'))).toBe(true); // evicted: bcrypt again
    expect(compare).toHaveBeenCalledTimes(66);
  });
});
