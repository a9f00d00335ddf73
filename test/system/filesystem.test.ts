/**
 * Where the metrics directory lives matters to the writers: on tmpfs their mapped pages are never
 * written back. The daemon says which it is, in a self metric and (when not tmpfs) a warning.
 */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, selfValue } from '../helpers/scrape.js';

const TMPFS_MAGIC = 0x01021994;
const EXT4_MAGIC = 0xef53;
const onTmpfs = mkdtempSync(join('/dev/shm', 'mpe-fs-'));
const onDisk = mkdtempSync(join(tmpdir(), 'mpe-fs-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(onTmpfs, { recursive: true, force: true });
  rmSync(onDisk, { recursive: true, force: true });
});

const WARNING = /^metrics directory is on .+, not tmpfs: /;

it('a directory on tmpfs: directory_tmpfs 1, no warning', async () => {
  expect(statfsSync(onTmpfs).type).toBe(TMPFS_MAGIC); // this machine's /dev/shm is tmpfs
  const d = await startDaemon(['--dir', onTmpfs]);
  running.push(d);
  expect(selfValue((await get(`${d.url}/metrics`)).body, 'directory_tmpfs')).toBe(1);
  expect(d.logs.filter((l) => WARNING.test(String(l['msg'])))).toEqual([]);
});

it('a directory on a disk filesystem: directory_tmpfs 0 and one warning naming it and the fix', async (ctx) => {
  if (statfsSync(onDisk).type !== EXT4_MAGIC) {
    if (process.env['CI'] === 'true') throw new Error(`${tmpdir()} is expected on ext4 on this kind of machine`);
    ctx.skip(); // the temp dir is tmpfs on this machine: nothing on disk to try
  }
  const d = await startDaemon(['--dir', onDisk]);
  running.push(d);
  const body = (await get(`${d.url}/metrics`)).body;
  await get(`${d.url}/metrics`);
  expect(selfValue(body, 'directory_tmpfs')).toBe(0);
  const warnings = d.logs.filter((l) => WARNING.test(String(l['msg'])));
  expect(warnings).toEqual([
    expect.objectContaining({
      level: 'warn',
      dir: onDisk,
      filesystem: 'ext2/3/4',
      msg: "metrics directory is on ext2/3/4, not tmpfs: the kernel writes the workers' mapped pages back to disk and write-protects them, costing every writer page faults; put it on tmpfs (Kubernetes emptyDir with medium: Memory, /dev/shm or /run)",
    }),
  ]);
});
