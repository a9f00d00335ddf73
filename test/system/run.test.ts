/**
 * `run [serve options] -- COMMAND`: one command for the daemon and the application. The
 * directory is prepared and exported, signals reach the application, and `run` exits with the
 * application's status after stopping the daemon. Real processes, real HTTP on 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/daemon.js';
import { IN_CI } from '../helpers/peers.js';
import { get, mergedLines, until } from '../helpers/scrape.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-run-'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const NODE_APP = join(import.meta.dirname, 'run', 'node-app.mjs');
const NO_DIR_ENV = { PROMETHEUS_MULTIPROC_DIR: undefined, prometheus_multiproc_dir: undefined, GME_MMAP_METRICS_DIR: undefined };

interface Run {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** The daemon's start line (its JSON log on stderr). */
  readonly start: Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(args: readonly string[], env: Record<string, string | undefined> = {}): Run {
  const full: Record<string, string | undefined> = { ...process.env, ...NO_DIR_ENV, ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const child = spawn(process.execPath, [BIN, 'run', '--web.listen-address', '127.0.0.1:0', ...args], { env: full as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const start = until('the daemon start line', () => {
    for (const line of err.split('\n')) {
      if (line.startsWith('{') && line.includes('"msg":"multiproc-exporter started"')) return JSON.parse(line) as Record<string, unknown>;
    }
    return undefined;
  });
  return { child, stdout: () => out, stderr: () => err, start, exited };
}

const timeout = (ms: number) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms));

describe('run -- a Node application using the writer', () => {
  it('prepares the directory, serves what the application writes, forwards SIGTERM and exits with its status', async () => {
    const dir = join(tmp, 'node');
    mkdirSync(dir);
    writeFileSync(join(dir, 'counter_99999.db'), Buffer.alloc(16)); // a stale file of an earlier run
    writeFileSync(join(dir, 'notes.txt'), 'not a metrics file');
    const r = run(['--dir', dir, '--', process.execPath, NODE_APP, '7']);
    const start = await r.start;
    const url = `http://${String(start['listen'])}`;
    await until('the application counted', () => (r.stdout().includes('counted=7') ? true : undefined));
    expect(r.stdout()).toContain(`app: dir=${dir} legacy=${dir} counted=7`);
    expect(mergedLines((await get(`${url}/metrics`)).body)).toEqual(['run_app_done_total 7']);
    expect(existsSync(join(dir, 'counter_99999.db'))).toBe(false);
    expect(existsSync(join(dir, 'notes.txt'))).toBe(true);
    expect(r.stderr()).toContain('"removed":1,"msg":"run: stale .db files of an earlier run removed"');

    r.child.kill('SIGHUP'); // forwarded; the daemon re-reads its (absent) web config too
    await until('SIGHUP forwarded', () => (r.stdout().includes('app: SIGHUP') ? true : undefined));
    r.child.kill('SIGTERM');
    expect(await Promise.race([r.exited, timeout(10_000)])).toEqual({ code: 0, signal: null });
    expect(r.stdout()).toContain('app: SIGTERM');
    expect(r.stderr()).toContain('"msg":"stopped"');
    expect(readdirSync(dir).filter((f) => f.endsWith('.db')).length).toBe(1); // the application's own file stays
  });

  it("exits with the application's exit code, and removes a directory it created itself", async () => {
    const r = run(['--', process.execPath, NODE_APP, '1', '3']);
    expect(await Promise.race([r.exited, timeout(10_000)])).toEqual({ code: 3, signal: null });
    const dir = /app: dir=(\S+)/.exec(r.stdout())![1]!;
    expect(dir).toMatch(/multiproc-exporter-run-/);
    expect(existsSync(dir)).toBe(false);
  });

  it('reports an application killed by a signal as 128 + its number', async () => {
    const r = run(['--', 'sh', '-c', 'kill -KILL $$']);
    expect(await Promise.race([r.exited, timeout(10_000)])).toEqual({ code: 137, signal: null });
  });

  it('a command that does not exist: exit 127 with its name', async () => {
    const r = run(['--', join(tmp, 'no-such-program')]);
    expect(await Promise.race([r.exited, timeout(10_000)])).toEqual({ code: 127, signal: null });
    expect(r.stderr()).toContain(`"msg":"run: cannot start the command: spawn ${join(tmp, 'no-such-program')} ENOENT"`);
  });

  it('a bad option: exit 2 and the application is never started', async () => {
    const marker = join(tmp, 'started-marker');
    const r = run(['--log.level', 'chatty', '--', 'sh', '-c', `touch ${marker}`]);
    expect(await Promise.race([r.exited, timeout(10_000)])).toEqual({ code: 2, signal: null });
    expect(r.stderr()).toBe('multiproc-exporter: --log.level "chatty": must be debug, info, warn, error or quiet\n');
    expect(existsSync(marker)).toBe(false);
  });
});

const gunicorn = spawnSync('/usr/bin/gunicorn', ['--version'], { encoding: 'utf8' }).status === 0 && spawnSync('/usr/bin/python3', ['-c', 'import flask, prometheus_client'], { encoding: 'utf8' }).status === 0;
if (!gunicorn && !IN_CI) console.warn('run -- gunicorn test skipped: install Debian gunicorn, python3-flask, python3-prometheus-client');

describe('run -- gunicorn (Flask + prometheus_client, no hooks)', () => {
  it('is installed when CI=true', () => expect(gunicorn || !IN_CI).toBe(true));

  it.runIf(gunicorn)('counts every request served by 3 recycled workers exactly, and stops both on SIGTERM', async () => {
    const r = run(['--', '/usr/bin/gunicorn', '--chdir', join(import.meta.dirname, 'run'), '-w', '3', '--max-requests', '40', '-b', '127.0.0.1:0', 'app:app']);
    const start = await r.start;
    const url = `http://${String(start['listen'])}`;
    const appUrl = await until('gunicorn listening', () => /Listening at: (http:\/\/127\.0\.0\.1:\d+)/.exec(r.stderr())?.[1], 20_000);
    let served = 0;
    for (let i = 0; i < 300; i++) {
      const reply = await get(`${appUrl}/work`);
      expect(reply.status).toBe(200);
      served++;
    }
    // 300 requests over 3 workers that each exit after ~40: several generations of workers, no hook.
    const counted = await until(
      'every request counted',
      async () => {
        const lines = mergedLines((await get(`${url}/metrics`)).body).filter((l) => l.startsWith('app_requests_total'));
        return lines.length === 1 && lines[0] === `app_requests_total{path="/work"} ${served}` ? lines : undefined;
      },
      10_000,
    );
    expect(counted).toEqual([`app_requests_total{path="/work"} 300`]);
    r.child.kill('SIGTERM');
    expect(await Promise.race([r.exited, timeout(30_000)])).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toContain('"msg":"stopped"');
  }, 60_000);
});
