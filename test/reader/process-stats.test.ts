/**
 * The /proc readers of src/reader/process-stats.ts on the real /proc of child processes this test
 * starts: exact pids, threads, start times (against ps), fd counts, limits set with prlimit, lock
 * holders and mappings; null for processes that are gone or zombies.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mapsKey } from '../../src/reader/liveness.js';
import {
  bootTimeSeconds,
  pageSize,
  parseLocks,
  parseMaxFds,
  readLockHolders,
  readMappedFiles,
  readMaxFds,
  readOpenFds,
  readProcessStat,
  startTimeSeconds,
  uptimeTicks,
  USER_HZ,
} from '../../src/reader/process-stats.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-process-stats-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** Start a child and wait until it has exec'ed (its /proc/<pid>/exe is the program, not node). */
async function start(command: string, args: string[], stdio: ('ignore' | 'pipe')[] = ['ignore', 'ignore', 'ignore']): Promise<ChildProcess & { pid: number }> {
  const child = spawn(command, args, { stdio });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child as ChildProcess & { pid: number };
}

/** Fields of /proc/<pid>/stat by their number in proc(5), read independently of the code under test. */
function statFields(pid: number): Map<number, string> {
  const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const rest = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  return new Map(rest.map((v, i) => [i + 3, v]));
}

function statusField(pid: number, name: string): string {
  const m = new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m![1]!;
}

/** Wait until the child runs `name` and sleeps (exec and dynamic loading done: its memory no longer changes). */
async function settled(pid: number, name: string): Promise<void> {
  for (let i = 0; i < 300 && !(statusField(pid, 'Name') === name && statusField(pid, 'State').startsWith('S')); i++) await new Promise((r) => setTimeout(r, 10));
  expect([statusField(pid, 'Name'), statusField(pid, 'State')[0]]).toEqual([name, 'S']);
}

function psStartSeconds(pid: number): number {
  const lstart = spawnSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim();
  return Number(spawnSync('date', ['-d', lstart, '+%s'], { encoding: 'utf8' }).stdout.trim());
}

const { python } = peers();
peerAvailableUnderCi(python);

describe('readProcessStat', () => {
  it('reads a child’s threads, start time, CPU time and memory exactly as /proc/<pid>/stat and ps say', async () => {
    const child = await start('sleep', ['30']);
    await settled(child.pid, 'sleep');
    const st = readProcessStat(child.pid)!;
    const fields = statFields(child.pid);
    expect(st).toEqual({
      cpuTicks: Number(fields.get(14)) + Number(fields.get(15)),
      threads: 1,
      startTicks: Number(fields.get(22)),
      virtualBytes: Number(fields.get(23)),
      residentPages: Number(fields.get(24)),
    });
    expect(Number(statusField(child.pid, 'Threads'))).toBe(st.threads);
    // VmSize is vsize; VmRSS is an exact sum of per-CPU counters where stat's rss (client_golang's source too) may lag by a few pages.
    expect(Number(statusField(child.pid, 'VmSize').replace(' kB', '')) * 1024).toBe(st.virtualBytes);
    expect(st.residentPages * pageSize()).toBeGreaterThan(0);
    expect(st.residentPages * pageSize()).toBeLessThanOrEqual(st.virtualBytes);
    const started = startTimeSeconds(bootTimeSeconds()!, st.startTicks);
    expect(Math.floor(started)).toBe(psStartSeconds(child.pid));
    expect(Math.abs(started - Date.now() / 1000)).toBeLessThan(60);
  });

  it('counts the threads of a multi-threaded process (this one) as /proc/<pid>/status does', () => {
    const st = readProcessStat(process.pid)!;
    expect(st.threads).toBeGreaterThan(1);
    expect(st.threads).toBe(Number(statusField(process.pid, 'Threads')));
  });

  it('reads the fields after the last “)”: a command name with spaces and parentheses', async () => {
    const link = join(tmp, 'a) 1 2 (b');
    symlinkSync('/bin/sleep', link);
    const child = await start(link, ['30']);
    await settled(child.pid, 'a) 1 2 (b');
    expect(readFileSync(`/proc/${child.pid}/stat`, 'latin1')).toContain(`${child.pid} (a) 1 2 (b) S `);
    const st = readProcessStat(child.pid)!;
    expect([st.threads, st.startTicks]).toEqual([1, Number(statFields(child.pid).get(22))]);
  });

  it('is null for a process that is gone, and for a zombie (exited, not reaped)', async () => {
    const gone = await start('true', []);
    await new Promise((r) => gone.once('exit', r));
    expect(readProcessStat(gone.pid)).toBeNull();
    expect(readOpenFds(gone.pid)).toBeNull();
    expect(readMaxFds(gone.pid)).toBeNull();

    // A parent that never reaps its exited child: /proc/<child>/stat stays readable with state Z.
    const parent = await start('/usr/bin/python3', ['-c', 'import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)'], ['ignore', 'pipe', 'ignore']);
    const zombie = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d: Buffer) => r(d.toString()))));
    for (let i = 0; i < 100 && statusField(zombie, 'State')[0] !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(statusField(zombie, 'State')).toBe('Z (zombie)');
    expect(readProcessStat(zombie)).toBeNull();
  });
});

describe('readOpenFds and readMaxFds', () => {
  it('counts exactly the fds a child holds, as its /proc/<pid>/fd lists them', async () => {
    const three = await start('sleep', ['30']);
    const five = await start('sleep', ['30'], ['ignore', 'ignore', 'ignore', 'pipe', 'pipe']);
    const listed = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
    expect(readOpenFds(three.pid)).toBe(listed(three.pid));
    expect(readOpenFds(five.pid)).toBe(listed(five.pid));
    // Whatever else the test runner lets children inherit, two more pipes are two more fds.
    expect(readOpenFds(five.pid)! - readOpenFds(three.pid)!).toBe(2);
  });

  it('reads the soft open-files limit set with prlimit', async () => {
    const child = await start('prlimit', ['--nofile=321:654', 'sleep', '30']);
    await settled(child.pid, 'sleep');
    expect(readMaxFds(child.pid)).toBe(321);
    expect(spawnSync('prlimit', ['--nofile', '--noheadings', '--output=SOFT', `--pid=${child.pid}`], { encoding: 'utf8' }).stdout.trim()).toBe('321');
  });

  it('reads unlimited as 2^64-1, as procfs does', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            unlimited            unlimited            files     \n';
    expect(parseMaxFds(limits)).toBe(2 ** 64 - 1);
    expect(parseMaxFds('Limit  Soft Limit\n')).toBeNull();
  });
});

describe('uptimeTicks', () => {
  it('counts in the clock of start times: a child started after a reading has a later start time', async () => {
    const before = uptimeTicks()!;
    await new Promise((r) => setTimeout(r, 30)); // more than one tick (10 ms)
    const child = await start('sleep', ['30']);
    const after = uptimeTicks()!;
    const st = readProcessStat(child.pid)!;
    expect(st.startTicks).toBeGreaterThan(before);
    expect(st.startTicks).toBeLessThanOrEqual(after);
    expect(USER_HZ).toBe(Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()));
  });
});

describe('readLockHolders and readMappedFiles', () => {
  it('names the pid holding a flock on a file, keyed as /proc/<pid>/maps names files', async () => {
    const file = join(tmp, 'locked.db');
    writeFileSync(file, Buffer.alloc(4096));
    const child = await start('flock', ['--no-fork', '--exclusive', file, 'sleep', '30']);
    const st = statSync(file);
    let holders = readLockHolders()!;
    for (let i = 0; i < 100 && !holders.has(mapsKey(st.dev, st.ino)); i++) {
      await new Promise((r) => setTimeout(r, 10));
      holders = readLockHolders()!;
    }
    expect(holders.get(mapsKey(st.dev, st.ino))).toBe(child.pid);
  });

  it('reads /proc/locks lines: flock and POSIX holders, not waiters, not pid 0 (another pid namespace)', () => {
    const text = [
      '1: FLOCK  ADVISORY  WRITE 4242 fe:00:2189611 0 EOF',
      '1: -> FLOCK  ADVISORY  WRITE 4343 fe:00:2189611 0 EOF',
      '2: POSIX  ADVISORY  WRITE 77 00:2d:99 0 EOF',
      '3: FLOCK  ADVISORY  WRITE 0 00:2d:100 0 EOF',
      '4: OFDLCK ADVISORY  READ  -1 00:2d:101 0 EOF',
      '',
    ].join('\n');
    expect([...parseLocks(text)]).toEqual([
      ['fe:00 2189611', 4242],
      ['00:2d 99', 77],
    ]);
  });

  it.skipIf(!python.available)('sees the files a Python process maps, not those it does not', async () => {
    const file = join(tmp, 'mapped.db');
    const other = join(tmp, 'other.db');
    writeFileSync(file, Buffer.alloc(4096));
    writeFileSync(other, Buffer.alloc(4096));
    const code = `import mmap, sys\nf = open(${JSON.stringify(file)}, 'r+b')\nm = mmap.mmap(f.fileno(), 4096)\nprint('ready', flush=True)\nsys.stdin.read()`;
    const child = await start(python.command, ['-c', code], ['pipe', 'pipe', 'ignore']);
    await new Promise((r) => child.stdout!.once('data', r));
    const mapped = readMappedFiles(child.pid)!;
    const f = statSync(file);
    const o = statSync(other);
    expect(mapped.has(mapsKey(f.dev, f.ino))).toBe(true);
    expect(mapped.has(mapsKey(o.dev, o.ino))).toBe(false);
    child.stdin!.end();
  });
});
