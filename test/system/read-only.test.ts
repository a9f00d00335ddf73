/**
 * The daemon never writes to the metrics directory. Against the real binary,
 * running as root (so nothing but its own code stops it from writing): every file it holds open
 * in the directory is open O_RDONLY (/proc/<pid>/fdinfo), every mapping of one is read-only and
 * shared (/proc/<pid>/maps), and after a busy session (scrapes in every format, HEAD, readiness,
 * SIGHUP, bad files of several kinds, a symlink, a directory named x.db) nothing in the directory
 * was created, modified or deleted: names, types, modes, sizes, inodes, link counts, mtimes,
 * ctimes and contents are as before.
 */
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, expect, it } from 'vitest';
import { buildDb } from '../helpers/db-bytes.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, mergedLines, until } from '../helpers/scrape.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-readonly-'));
let daemon: Daemon | undefined;
afterAll(async () => {
  await daemon?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Everything about the directory and its entries that a write, create, delete or chmod would change. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const describe = (path: string): string => {
    const st = lstatSync(path, { bigint: true });
    const kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFIFO() ? 'fifo' : 'other';
    const content = st.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : st.isSymbolicLink() ? readlinkSync(path) : '';
    return [kind, st.mode, st.size, st.ino, st.nlink, st.mtimeNs, st.ctimeNs, st.uid, st.gid, content].join(' ');
  };
  out['.'] = describe(dir);
  for (const name of readdirSync(dir).sort()) out[name] = describe(join(dir, name));
  return out;
}

interface OpenFile {
  readonly path: string;
  readonly flags: number;
}

function openFilesIn(pid: number, dir: string): OpenFile[] {
  const out: OpenFile[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (!target.startsWith(`${dir}/`) && target !== dir) continue;
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    out.push({ path: target, flags: parseInt(/^flags:\s+([0-7]+)$/m.exec(info)![1]!, 8) });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Permission strings of the daemon's mappings of files in `dir`, by path. */
function mappingsIn(pid: number, dir: string): [string, string][] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/))
    .filter((f) => f[5] !== undefined && f[5].startsWith(`${dir}/`))
    .map((f): [string, string] => [f[5]!, f[1]!]);
}

it('opens every metrics file read-only, maps it read-only, and leaves the directory exactly as it was', async () => {
  const dir = join(tmp, 'metrics');
  for (const f of ['v025-counter_basic', 'rb-basic', 'v025-gauge_modes']) cpSync(join(FIXTURES, f), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
  writeFileSync(join(dir, 'counter_bad.db'), Buffer.from([1, 2, 3])); // empty_file
  writeFileSync(join(dir, 'counter_used.db'), buildDb([], { slot: 16 }).fill(0xff, 0, 4)); // used_out_of_range
  mkdirSync(join(dir, 'counter_dir.db'));
  symlinkSync(join(dir, 'counter_5585.db'), join(dir, 'counter_link.db'));
  writeFileSync(join(dir, 'notes.txt'), 'not a metrics file');
  const before = snapshot(dir);

  daemon = await startDaemon(['--dir', dir]);
  const pid = daemon.child.pid!;
  const url = daemon.url;
  const first = await get(`${url}/metrics`);
  expect(first.status).toBe(200);
  expect(mergedLines(first.body).length).toBeGreaterThan(50);

  // A busy session.
  const accepts = ['', 'application/openmetrics-text; version=1.0.0', 'text/plain; version=0.0.4'];
  for (let i = 0; i < 30; i++) {
    const r = await get(`${url}/metrics`, { accept: accepts[i % 3]!, 'accept-encoding': i % 2 === 0 ? 'gzip' : 'identity' });
    expect(r.status).toBe(200);
  }
  expect((await get(`${url}/readiness`)).status).toBe(200);
  expect((await get(`${url}/liveness`)).status).toBe(200);
  daemon.child.kill('SIGHUP');
  await until('the SIGHUP log line', () => daemon!.logs.find((l) => String(l['msg']).startsWith('nothing to reload')));

  // Every regular .db file is held open (bad ones too, to notice when they are fixed) except
  // those of dead writers (rb-basic's: folded, then closed); nothing else.
  const status = (await (await request(`${url}/status`, { headers: { accept: 'application/json' } })).body.json()) as { files: { fileName: string; state: string }[] };
  const folded = new Set(status.files.filter((f) => f.state === 'dead').map((f) => f.fileName));
  expect([...folded].filter((f) => !f.endsWith('-0.db'))).toEqual([]);
  expect(folded.size).toBeGreaterThan(0);
  const regular = readdirSync(dir).filter((n) => n.endsWith('.db') && lstatSync(join(dir, n)).isFile() && !folded.has(n));
  const open = openFilesIn(pid, dir);
  expect(open.map((o) => o.path)).toEqual(regular.map((n) => join(dir, n)).sort());
  for (const o of open) {
    expect({ path: o.path, accessMode: o.flags & 0o3 }).toEqual({ path: o.path, accessMode: 0 }); // O_RDONLY
    expect({ path: o.path, writeBits: o.flags & (0o100 | 0o1000 | 0o2000) }).toEqual({ path: o.path, writeBits: 0 }); // no O_CREAT, O_TRUNC, O_APPEND
  }
  const maps = mappingsIn(pid, dir);
  expect(maps.length).toBeGreaterThan(0);
  for (const [path, perms] of maps) expect({ path, perms }).toEqual({ path, perms: 'r--s' });

  expect(snapshot(dir)).toEqual(before);
  expect(await daemon.stop()).toBe(0);
  expect(snapshot(dir)).toEqual(before);
});
