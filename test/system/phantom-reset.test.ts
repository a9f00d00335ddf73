/**
 * A counter must not go down because of the reader. The directory loses its search (x)
 * permission for a moment (a careless chmod in an entrypoint, fixed a little later): listing still
 * works, but every file's lstat fails. A counter whose value is partly in a folded dead writer's
 * file and partly in a live one's must stay whole meanwhile (served from the mapping), not drop
 * to the folded part and come back, which rate()/increase() would read as a reset and a phantom
 * increase.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { copyPackageForOtherUsers } from '../helpers/package-copy.js';
import { get, mergedLines, selfValue } from '../helpers/scrape.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-phantom-'));
chmodSync(tmp, 0o755); // the daemon runs unprivileged (root ignores permissions): it must reach the directory
const running: Daemon[] = [];
afterAll(async () => {
  for (const d of running) await d.stop();
  chmodSync(join(tmp, 'dir'), 0o755);
  rmSync(tmp, { recursive: true, force: true });
});

const IS_ROOT = process.getuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534, ...(IS_ROOT ? { bin: copyPackageForOtherUsers(join(tmp, 'package')) } : {}) };

const counterFile = (value: number): Uint8Array => buildDb([{ key: '["jobs", "jobs_total", {}, "Jobs done."]', value, ts: 0 }], { slot: 16 });

/** A pid no process has now: its file is a dead writer's (folded). */
function deadPid(): number {
  for (let pid = 32_000; pid > 1_000; pid--) if (!existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free pid found below 32000');
}

it('serves a mapped file whole while the directory cannot be searched, and counts nothing twice after', async () => {
  const dir = join(tmp, 'dir');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, `counter_${deadPid()}.db`), counterFile(42), { mode: 0o644 });
  writeFileSync(join(dir, `counter_${process.pid}.db`), counterFile(100), { mode: 0o644 }); // this test process: live
  const d = await startDaemon(['--dir', dir, '--liveness', 'pid'], NOBODY);
  running.push(d);
  const url = `${d.url}/metrics`;
  const scrape = async (): Promise<string> => {
    const r = await get(url);
    expect(r.status).toBe(200);
    return r.body;
  };

  expect(mergedLines(await scrape())).toEqual(['jobs_total 142']);
  chmodSync(dir, 0o644); // readable, not searchable: every lstat fails with EACCES
  try {
    for (let i = 0; i < 3; i++) {
      const body = await scrape();
      expect(mergedLines(body)).toEqual(['jobs_total 142']);
      expect(selfValue(body, 'files_skipped', { reason: 'open_failed' })).toBeUndefined();
    }
  } finally {
    chmodSync(dir, 0o755);
  }
  expect(mergedLines(await scrape())).toEqual(['jobs_total 142']);
});
