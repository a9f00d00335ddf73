/**
 * Basic auth: the `basic_auth_users` section (username → bcrypt hash, checked to be one, so a
 * plain-text password is a startup error) and `BasicAuth`, which checks an `Authorization` header
 * against those hashes with a small cache of successful checks, because bcrypt is slow by design.
 */
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { isMap } from 'yaml';
import { isNull, type ConfigFile, type Entry } from './config-file.js';

const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

/**
 * The highest bcrypt cost accepted (htpasswd's own maximum). Each step doubles the work: bcryptjs
 * takes ~0.2 s per check at cost 10, so ~30 s at 17, and a hash of cost 31 would burn a core for
 * days on every request that carries credentials.
 */
export const MAX_BCRYPT_COST = 17;

/**
 * Whether the section is written as an empty mapping, `basic_auth_users: {}`: basic auth
 * deliberately off. An absent section or an empty value (`basic_auth_users:`) is not: a file cut
 * short by a non-atomic rewrite looks just like that.
 */
export function declaresNoUsers(section: Entry | undefined): boolean {
  return section !== undefined && isMap(section.value) && section.value.items.length === 0;
}

/** The `basic_auth_users` section: username → bcrypt hash (empty: no basic auth). */
export function parseBasicAuthUsers(file: ConfigFile, section: Entry | undefined): Map<string, string> {
  const users = new Map<string, string>();
  if (section === undefined || isNull(section.value)) return users;
  for (const [user, entry] of file.map(section.value, 'basic_auth_users')) {
    const where = `basic_auth_users.${user}`;
    if (user.includes(':')) file.fail(where, "username contains ':', which basic auth can not transmit", entry.key);
    if (/[\x00-\x1f\x7f]/.test(user)) file.fail(where, 'username contains control characters', entry.key);
    const hash = file.string(entry.value, where);
    if (hash === null || !BCRYPT_HASH.test(hash)) {
      file.fail(
        where,
        `not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost of 04-31 and 53 more characters); passwords must be stored bcrypt-hashed, e.g. the output of htpasswd -nBC 10 "" | tr -d ':\\n'`,
        entry.value ?? entry.key,
      );
    }
    const cost = Number(hash.slice(4, 6));
    if (cost > MAX_BCRYPT_COST) {
      file.fail(
        where,
        `bcrypt cost ${cost} is above the limit of ${MAX_BCRYPT_COST}: each step doubles the CPU time of every request with credentials (cost ${cost} is ${2 ** (cost - MAX_BCRYPT_COST)} times cost ${MAX_BCRYPT_COST}); re-hash the password with a cost of 10 to ${MAX_BCRYPT_COST}, e.g. htpasswd -nBC 10 "" | tr -d ':\\n'`,
        entry.value ?? entry.key,
      );
    }
    users.set(user, hash);
  }
  return users;
}

const CACHE_SIZE = 64;
/** Salt + digest for the decoy compare run for unknown users (never matches: the user is unknown). */
const DECOY_TAIL = 'C6UzMDM.H6dfI/f/IKxGhuC6UzMDM.H6dfI/f/IKxGhuC6UzMDM.H';

/**
 * HTTP basic auth against bcrypt hashes. bcrypt is slow by design, so successful checks are
 * cached (sha256(user NUL password) → true, 64 entries, least recently used evicted) and
 * concurrent identical checks share one bcrypt run. An unknown user still costs one bcrypt
 * compare (against a decoy hash with the highest configured cost) so response timing does not
 * reveal which usernames exist. When no users are configured `enabled` is false and every check
 * passes.
 */
export class BasicAuth {
  readonly enabled: boolean;
  readonly #users: ReadonlyMap<string, string>;
  readonly #cache = new Map<string, true>();
  readonly #inflight = new Map<string, Promise<boolean>>();
  readonly #decoyHash: string;

  constructor(users: ReadonlyMap<string, string>) {
    this.#users = new Map(users);
    this.enabled = this.#users.size > 0;
    let cost = 4;
    for (const hash of this.#users.values()) {
      const m = BCRYPT_HASH.exec(hash);
      if (m?.[1] !== undefined) cost = Math.max(cost, Number(m[1]));
    }
    this.#decoyHash = `$2b$${String(cost).padStart(2, '0')}$${DECOY_TAIL}`;
  }

  async check(authorizationHeader: string | undefined): Promise<boolean> {
    if (!this.enabled) return true;
    const creds = parseBasicAuthorization(authorizationHeader);
    if (creds === null) return false;
    const hash = this.#users.get(creds.user);
    if (hash === undefined) {
      await safeCompare(creds.password, this.#decoyHash);
      return false;
    }
    const key = createHash('sha256').update(`${creds.user}\0${creds.password}`, 'utf8').digest('base64');
    if (this.#cache.has(key)) {
      this.#cache.delete(key); // re-insert: most recently used goes last
      this.#cache.set(key, true);
      return true;
    }
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = safeCompare(creds.password, hash).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const ok = await pending;
    if (ok && !this.#cache.has(key)) {
      if (this.#cache.size >= CACHE_SIZE) {
        const oldest = this.#cache.keys().next();
        if (oldest.done !== true) this.#cache.delete(oldest.value);
      }
      this.#cache.set(key, true);
    }
    return ok;
  }
}

async function safeCompare(password: string, hash: string): Promise<boolean> {
  try {
    return await bcrypt.compare(password, hash);
  } catch {
    return false;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `Basic base64(user:password)` → parts (split at the first ':'), or null when malformed. */
function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | null {
  if (typeof header !== 'string') return null;
  const m = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  const b64 = m?.[1];
  if (b64 === undefined || b64.length % 4 !== 0) return null;
  const bytes = Buffer.from(b64, 'base64');
  const colon = bytes.indexOf(0x3a);
  if (colon < 0) return null;
  try {
    const user = utf8.decode(bytes.subarray(0, colon));
    const password = utf8.decode(bytes.subarray(colon + 1));
    if (user.includes('\0')) return null;
    return { user, password };
  } catch {
    return null;
  }
}
