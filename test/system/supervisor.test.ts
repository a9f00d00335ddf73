/**
 * startExporter(): the real daemon binary as a supervised child, real signals, real HTTP over
 * 127.0.0.1. Every wait is bounded; every daemon is stopped (or its group killed) after each test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DaemonStartError, startExporter, type ExitEvent, type Exporter, type RestartEvent, type StartExporterOptions } from '../../src/index.js';
import { BIN } from '../helpers/daemon.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const HELPERS = join(import.meta.dirname, '..', 'helpers');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-supervisor-'));

const exporters: Exporter[] = [];
const pgids = new Set<number>();
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.stop()));
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pgid of pgids) {
    if (groupExists(pgid)) process.kill(-pgid, 'SIGKILL'); // only if a test failed half-way
  }
  pgids.clear();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Started {
  readonly exporter: Exporter;
  readonly logs: { line: string; source: string }[];
  readonly exits: ExitEvent[];
  readonly restarts: RestartEvent[];
}

async function start(options: StartExporterOptions): Promise<Started> {
  const logs: { line: string; source: string }[] = [];
  const exporter = await startExporter({ listen: '127.0.0.1:0', log: (line, source) => logs.push({ line, source }), ...options });
  exporters.push(exporter);
  track(exporter.pid!);
  const exits: ExitEvent[] = [];
  const restarts: RestartEvent[] = [];
  exporter.on('exit', (e) => exits.push(e));
  exporter.on('restart', (e) => {
    track(e.pid);
    restarts.push(e);
  });
  return { exporter, logs, exits, restarts };
}

function track(pgid: number): void {
  pgids.add(pgid);
}

function fixtureDir(name: string, fixture: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  cpSync(join(FIXTURES, fixture), dir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
  return dir;
}

function expectedLines(fixture: string): string[] {
  return sampleLines(parseExposition(readFileSync(join(FIXTURES, fixture, 'expected.txt'), 'utf8')).samples);
}

async function scrape(url: string): Promise<string[]> {
  const r = await request(url);
  expect(r.statusCode).toBe(200);
  return sampleLines(parseExposition(await r.body.text()).samples.filter((s) => !s.name.startsWith('multiproc_exporter_')));
}

function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

function expectGroupGone(pgid: number): void {
  expect(() => process.kill(-pgid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
}

/** `/proc/PID/stat`: the parent pid and process group of a live process. */
function procStat(pid: number): { ppid: number; pgrp: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

/** Dead: gone, or a zombie waiting for its parent (init here, after the primary died) to reap it. */
function processDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

/** Live daemon processes of these tests (their parent is this process, their directory in tmp). */
function daemonChildren(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes(BIN) && cmdline.includes(tmp) && procStat(Number(name)).ppid === process.pid) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

function next<E extends 'exit' | 'restart'>(exporter: Exporter, event: E, timeoutMs = 10_000): Promise<E extends 'exit' ? ExitEvent : RestartEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within ${timeoutMs} ms`)), timeoutMs);
    const listener = (e: ExitEvent | RestartEvent): void => {
      clearTimeout(timer);
      exporter.off(event, listener);
      resolve(e as E extends 'exit' ? ExitEvent : RestartEvent);
    };
    exporter.on(event, listener);
  });
}

async function until(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

describe('starting', () => {
  it('spawns the daemon in its own process group and serves the directory through the returned URL', async () => {
    const dir = fixtureDir('serve', 'v025-counter_basic');
    const { exporter, logs } = await start({ dir });
    expect(exporter.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(exporter.metricsUrl).toBe(`${exporter.url}/metrics`);
    const pid = exporter.pid!;
    expect(procStat(pid)).toEqual({ ppid: process.pid, pgrp: pid });
    expect(procStat(process.pid).pgrp).not.toBe(pid);
    expect(await scrape(exporter.metricsUrl)).toEqual(expectedLines('v025-counter_basic'));
    const started = logs.filter((l) => l.source === 'daemon').map((l) => JSON.parse(l.line) as Record<string, unknown>).find((r) => r['msg'] === 'multiproc-exporter started');
    expect(started?.['listen']).toBe(exporter.url.slice('http://'.length));
    expect(started?.['dir']).toBe(dir);
    expect(logs.filter((l) => l.source === 'supervisor').map((l) => JSON.parse(l.line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 'info', component: 'startExporter', msg: 'multiproc-exporter daemon started', pid, url: exporter.url, dir }),
    ]);
  });

  it('rejects with the daemon’s message when it cannot start (port in use) and does not restart it', async () => {
    const blocker = await listenOn(0);
    const port = (blocker.address() as { port: number }).port;
    try {
      const e = await rejection(startExporter({ dir: tmp, listen: `127.0.0.1:${port}`, log: 'ignore', restart: { initialDelayMs: 50 } }));
      const daemonMessage = `--web.listen-address 127.0.0.1:${port}: cannot listen: the port is in use (EADDRINUSE)`;
      expect(e).toBeInstanceOf(DaemonStartError);
      expect(e.message.replace(/\(pid \d+\)/, '(pid N)')).toBe(`startExporter: the daemon (pid N) exited with exit code 2 before serving: ${daemonMessage}; not restarted`);
      expect((e as DaemonStartError).exit).toEqual({ code: 2, signal: null });
      expect((e as DaemonStartError).daemonMessage).toBe(daemonMessage);
      await new Promise((r) => setTimeout(r, 400)); // several initial backoff delays: no second daemon
      expect(daemonChildren()).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it.each<[string, StartExporterOptions, string]>([
    ['no directory', { env: { PROMETHEUS_MULTIPROC_DIR: undefined } }, 'startExporter(): no metrics directory: give options.dir or set PROMETHEUS_MULTIPROC_DIR'],
    ['a bad listen address', { dir: tmp, listen: 'nope' }, 'startExporter(): options.listen "nope": expected host:port, :port or [ipv6]:port'],
    ['--dir in args', { dir: tmp, args: ['--dir', '/x'] }, 'startExporter(): options.args has --dir: give the directory as options.dir'],
    ['--web.listen-address in args', { dir: tmp, args: ['--web.listen-address=:1'] }, 'startExporter(): options.args has --web.listen-address: give it as options.listen (restarts reuse the bound address)'],
    ['a negative grace', { dir: tmp, killGraceMs: -1 }, 'startExporter(): options.killGraceMs must be an integer number of milliseconds ≥ 0, got -1'],
    ['a cap below the initial delay', { dir: tmp, restart: { initialDelayMs: 1000, maxDelayMs: 10 } }, 'startExporter(): options.restart.maxDelayMs (10) is below restart.initialDelayMs (1000)'],
    ['a non-boolean flag', { dir: tmp, wipeDirectory: 'yes' as unknown as boolean }, 'startExporter(): options.wipeDirectory must be a boolean, got string'],
    ['an unknown log target', { dir: tmp, log: 'stderr' as 'inherit' }, "startExporter(): options.log must be 'inherit', 'ignore' or a function (line, source) => void"],
    ['a misspelt option', { dir: tmp, lsiten: ':0' } as StartExporterOptions, 'startExporter(): unknown option "lsiten" (known: dir, listen, args, env, log, wipeDirectory, stopOnSignals, killGraceMs, startTimeoutMs, restart)'],
  ])('rejects %s with a TypeError that names the option, before spawning anything', async (_, options, message) => {
    const e = await rejection(startExporter(options));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe(message);
    expect(daemonChildren()).toEqual([]);
  });
});

describe('restarting', () => {
  it('restarts a SIGKILLed daemon on the same address after the backoff delay, doubling it on consecutive crashes', async () => {
    const dir = fixtureDir('restart', 'v025-counter_basic');
    const { exporter, exits, restarts, logs } = await start({ dir, restart: { initialDelayMs: 300, stableAfterMs: 60_000 } });
    const first = exporter.pid!;

    let killedAt = Date.now();
    process.kill(first, 'SIGKILL');
    const r1 = await next(exporter, 'restart');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(300);
    const second = exporter.pid!;
    expect(second).not.toBe(first);
    expect(r1).toEqual({ pid: second, previous: { pid: first, code: null, signal: 'SIGKILL' }, delayMs: 300, restarts: 1 });
    expect(exits).toEqual([{ pid: first, code: null, signal: 'SIGKILL', reason: 'crashed', uptimeMs: expect.any(Number), restartInMs: 300 }]);
    expectGroupGone(first);
    expect(procStat(second)).toEqual({ ppid: process.pid, pgrp: second });
    expect(await scrape(exporter.metricsUrl)).toEqual(expectedLines('v025-counter_basic'));

    killedAt = Date.now();
    process.kill(second, 'SIGKILL');
    const r2 = await next(exporter, 'restart');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(600);
    expect(r2).toEqual({ pid: exporter.pid, previous: { pid: second, code: null, signal: 'SIGKILL' }, delayMs: 600, restarts: 2 });
    expect(exporter.restarts).toBe(2);
    expect(restarts).toEqual([r1, r2]);
    expect(await scrape(exporter.metricsUrl)).toEqual(expectedLines('v025-counter_basic'));
    const notes = logs.filter((l) => l.source === 'supervisor').map((l) => (JSON.parse(l.line) as { msg: string }).msg);
    expect(notes).toEqual([
      'multiproc-exporter daemon started',
      'multiproc-exporter daemon died (signal SIGKILL): restarting in 300 ms',
      'multiproc-exporter daemon restarted',
      'multiproc-exporter daemon died (signal SIGKILL): restarting in 600 ms',
      'multiproc-exporter daemon restarted',
    ]);
  });

  it('starts the delay over once the daemon has served for stableAfterMs', async () => {
    const { exporter } = await start({ dir: tmp, restart: { initialDelayMs: 200, stableAfterMs: 300 } });
    process.kill(exporter.pid!, 'SIGKILL');
    expect((await next(exporter, 'restart')).delayMs).toBe(200);
    await new Promise((r) => setTimeout(r, 400)); // served longer than stableAfterMs
    process.kill(exporter.pid!, 'SIGKILL');
    const exit = await next(exporter, 'exit');
    expect(exit.uptimeMs).toBeGreaterThanOrEqual(300);
    expect(exit.restartInMs).toBe(200);
    expect((await next(exporter, 'restart')).delayMs).toBe(200);
  });

  it('reports a restart that fails (its port taken meanwhile) with the daemon’s message, and retries it with backoff', async () => {
    const { exporter, exits } = await start({ dir: tmp, restart: { initialDelayMs: 300, stableAfterMs: 60_000 } });
    const port = Number(new URL(exporter.url).port);
    const crashed = next(exporter, 'exit');
    process.kill(exporter.pid!, 'SIGKILL');
    await crashed;
    const blocker = await listenOn(port); // before the 300 ms delay is over
    const failed = await next(exporter, 'exit');
    blocker.close();
    expect(failed).toEqual({
      pid: expect.any(Number),
      code: 2,
      signal: null,
      reason: 'failed',
      uptimeMs: 0,
      restartInMs: 600,
      message: `--web.listen-address 127.0.0.1:${port}: cannot listen: the port is in use (EADDRINUSE)`,
    });
    expect(exporter.pid).toBeUndefined();
    const restarted = await next(exporter, 'restart');
    expect(restarted.delayMs).toBe(600);
    expect(restarted.previous).toEqual({ pid: failed.pid, code: 2, signal: null });
    expect(exits.map((e) => e.reason)).toEqual(['crashed', 'failed']);
    expect(exporter.url).toBe(`http://127.0.0.1:${port}`);
    expect((await request(`${exporter.url}/liveness`)).statusCode).toBe(200);
  });
});

describe('stopping', () => {
  it('stop() sends SIGTERM to the group: the daemon exits 0 and nothing of the group is left', async () => {
    const { exporter, exits, logs } = await start({ dir: tmp });
    const pid = exporter.pid!;
    const stopping = exporter.stop();
    expect(exporter.stop()).toBe(stopping); // idempotent
    expect(await stopping).toEqual({ code: 0, signal: null });
    expectGroupGone(pid);
    expect(exporter.pid).toBeUndefined();
    expect(exits).toEqual([{ pid, code: 0, signal: null, reason: 'stopped', uptimeMs: expect.any(Number), restartInMs: null }]);
    const daemonLines = logs.filter((l) => l.source === 'daemon').map((l) => JSON.parse(l.line) as Record<string, unknown>);
    expect(daemonLines).toContainEqual(expect.objectContaining({ reason: 'SIGTERM', msg: 'shutting down: no new connections, finishing in-flight scrapes' }));
    expect(daemonLines.at(-1)?.['msg']).toBe('stopped');
    await expect(request(`${exporter.url}/liveness`)).rejects.toThrow(/ECONNREFUSED/);
    await new Promise((r) => setTimeout(r, 300)); // longer than the restart delay: nothing comes back
    expect(daemonChildren()).toEqual([]);
  });

  it('SIGKILLs the group after killGraceMs when the daemon does not act on SIGTERM (stopped with SIGSTOP)', async () => {
    const { exporter, exits } = await start({ dir: tmp, killGraceMs: 500 });
    const pid = exporter.pid!;
    process.kill(pid, 'SIGSTOP');
    const t0 = Date.now();
    expect(await exporter.stop()).toEqual({ code: null, signal: 'SIGKILL' });
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(500);
    expect(waited).toBeLessThan(5_000);
    expectGroupGone(pid);
    expect(exits.map((e) => [e.reason, e.signal])).toEqual([['stopped', 'SIGKILL']]);
  });

  it('stop() during a restart delay ends the supervision: no daemon comes back', async () => {
    const { exporter, exits } = await start({ dir: tmp, restart: { initialDelayMs: 300 } });
    const crashed = next(exporter, 'exit');
    process.kill(exporter.pid!, 'SIGKILL');
    await crashed;
    expect(await exporter.stop()).toBeNull();
    await new Promise((r) => setTimeout(r, 500));
    expect(daemonChildren()).toEqual([]);
    expect(exits.map((e) => e.reason)).toEqual(['crashed']);
  });
});

describe('the primary ends', () => {
  interface Primary {
    readonly child: ChildProcess;
    readonly events: Record<string, Record<string, unknown>>[];
    readonly stderr: () => string;
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    readonly daemonPid: number;
  }

  async function primary(mode: 'exit' | 'hang' | 'signals'): Promise<Primary> {
    const dir = join(tmp, `primary-${mode}`);
    mkdirSync(dir);
    const child = spawn(process.execPath, [join(HELPERS, 'supervised-primary.mjs'), mode, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const events: Record<string, Record<string, unknown>>[] = [];
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (err += c));
    child.stdout!.on('data', (c: string) => {
      out += c;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) events.push(JSON.parse(l) as Record<string, Record<string, unknown>>);
    });
    await until('the primary to report the daemon', () => events.length > 0 || child.exitCode !== null);
    const daemonPid = events[0]?.['started']?.['pid'];
    if (typeof daemonPid !== 'number') throw new Error(`the primary did not start the daemon:\n${err}`);
    track(daemonPid);
    expect(procStat(daemonPid)).toEqual({ ppid: child.pid, pgrp: daemonPid });
    return { child, events, stderr: () => err, exited, daemonPid };
  }

  it('process.exit() without stop(): the daemon’s group is killed with it', async () => {
    const p = await primary('exit');
    expect(await p.exited).toEqual({ code: 3, signal: null });
    // SIGKILLed in the primary's 'exit' handler. (Its group id lasts until init reaps the orphaned
    // zombie, every ~2 s on some machines, which is not this code's to wait for.)
    await until('the daemon to be dead', () => processDead(p.daemonPid), 1_000);
  });

  it('SIGKILL of the primary: the daemon sees its IPC channel close and shuts down by itself', async () => {
    const p = await primary('hang');
    p.child.kill('SIGKILL');
    await p.exited;
    await until('the daemon to be dead', () => processDead(p.daemonPid), 10_000);
    // Its logs were inherited: the last lines reached the primary's stderr after the primary died.
    await until('the daemon’s last log line', () => p.stderr().includes('"msg":"stopped"'), 2_000);
    expect(p.stderr()).toContain('"reason":"supervisor gone (IPC channel closed)","msg":"shutting down: no new connections, finishing in-flight scrapes"');
  });

  it('stopOnSignals: SIGTERM to the primary stops the daemon gracefully, then ends the primary by SIGTERM', async () => {
    const p = await primary('signals');
    p.child.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expectGroupGone(p.daemonPid);
    expect(p.events[1]).toEqual({ exit: { pid: p.daemonPid, code: 0, signal: null, reason: 'stopped', uptimeMs: expect.any(Number), restartInMs: null } });
  });
});

describe('wipeDirectory', () => {
  it('removes only the regular *.db files directly in the directory, before the daemon reads it', async () => {
    const dir = fixtureDir('wipe', 'v025-counter_basic');
    const before = readdirSync(dir).sort();
    expect(before.filter((f) => f.endsWith('.db')).length).toBe(4);
    writeFileSync(join(dir, 'notes.txt'), 'keep me');
    writeFileSync(join(dir, 'counter_1.db.tmp'), 'keep me too');
    mkdirSync(join(dir, 'sub.db'));
    writeFileSync(join(dir, 'sub.db', 'counter_2.db'), 'not at the top level');
    const outside = join(tmp, 'outside.db');
    writeFileSync(outside, 'the target of a symlink');
    symlinkSync(outside, join(dir, 'link.db'));

    const { exporter } = await start({ dir, wipeDirectory: true });
    expect(readdirSync(dir).sort()).toEqual(['counter_1.db.tmp', 'link.db', 'notes.txt', 'sub.db']);
    expect(readdirSync(join(dir, 'sub.db'))).toEqual(['counter_2.db']);
    expect(readFileSync(outside, 'utf8')).toBe('the target of a symlink');
    expect(await scrape(exporter.metricsUrl)).toEqual([]); // the fixture's samples are gone
  });

  it('creates a missing directory (and its parents); without wipeDirectory a missing one stays missing', async () => {
    const dir = join(tmp, 'missing', 'metrics');
    const { exporter } = await start({ dir, wipeDirectory: true });
    expect(statSync(dir).isDirectory()).toBe(true);
    expect((await request(`${exporter.url}/readiness`)).statusCode).toBe(200);

    const untouched = join(tmp, 'not-created');
    const other = await start({ dir: untouched });
    expect(existsSync(untouched)).toBe(false);
    expect((await request(`${other.exporter.url}/readiness`)).statusCode).toBe(503);
  });

  it('rejects, naming the path, when the directory is a file, and spawns nothing', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, '');
    const e = await rejection(startExporter({ dir: file, wipeDirectory: true, log: 'ignore' }));
    expect(e.message).toBe(`startExporter: wipeDirectory: cannot create the metrics directory ${file}: EEXIST: file already exists, mkdir '${file}'`);
    expect(daemonChildren()).toEqual([]);
  });
});

describe('the README cluster example', () => {
  it('primary starts the exporter, then forks workers that write with their cluster worker id; SIGTERM stops all', async () => {
    const dir = join(tmp, 'cluster');
    mkdirSync(dir);
    writeFileSync(join(dir, 'counter_stale.db'), Buffer.alloc(16)); // a previous run's file: wiped
    const child = spawn(process.execPath, [join(HELPERS, 'cluster-app.mjs')], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir, WORKERS: '3' }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_, signal) => resolve(signal)));
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => (out += c));
    await until('the primary’s ready line', () => out.includes('\n'));
    const { metricsUrl, pid } = JSON.parse(out) as { metricsUrl: string; pid: number };
    track(pid);
    expect(readdirSync(dir).sort()).toEqual(['counter_1.db', 'counter_2.db', 'counter_3.db']);
    expect(await scrape(metricsUrl)).toEqual([
      'app_starts_total 30',
      'app_worker_starts_total{worker="1"} 1',
      'app_worker_starts_total{worker="2"} 1',
      'app_worker_starts_total{worker="3"} 1',
    ]);
    child.kill('SIGTERM');
    expect(await exited).toBe('SIGTERM');
    expectGroupGone(pid);
  });
});
