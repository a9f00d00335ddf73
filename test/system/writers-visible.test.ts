/**
 * `multiproc_exporter_writers_visible` and its warning: liveness needs the writers' processes in
 * sight. Files whose writers cannot be seen (here: a directory of the real Python library's files
 * whose writers exited long ago, which is how every file looks from another pid namespace) give 0
 * and one warning naming the fix; a live writer holding its lock gives 1; `--liveness off` leaves
 * the metric out.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, selfValue, until } from '../helpers/scrape.js';
import { holdWriter, type HeldWriter } from '../helpers/writer-process.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v025-counter_basic');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-visible-'));
const running: Daemon[] = [];
const writers: HeldWriter[] = [];
afterAll(async () => {
  for (const w of writers) w.release();
  await Promise.all(writers.map((w) => w.exited));
  for (const d of running) await d.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function fixtureDir(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => src === FIXTURE || src.endsWith('.db') });
  return dir;
}

async function visible(d: Daemon): Promise<number | undefined> {
  const r = await get(`${d.url}/metrics`);
  expect(r.status).toBe(200);
  return selfValue(r.body, 'writers_visible');
}

const BLIND = /no writer's process is visible .* shareProcessNamespace: true/;

it('is 0 with one warning while no writer is seen, and 1 once a live writer holds its lock', async () => {
  const dir = fixtureDir('blind');
  const d = await startDaemon(['--dir', dir]);
  running.push(d);
  expect(await visible(d)).toBe(0);
  expect(await visible(d)).toBe(0);
  const warnings = (): Record<string, unknown>[] => d.logs.filter((l) => typeof l['msg'] === 'string' && BLIND.test(l['msg']));
  expect(warnings().length).toBe(1);
  expect(warnings()[0]).toMatchObject({ level: 'warn', dir, files: 4, liveness: 'auto' });

  const w = holdWriter(dir, 'python', 'w1', 'hold', [0]);
  writers.push(w);
  await w.ready;
  await until('writers_visible 1', async () => ((await visible(d)) === 1 ? true : undefined));
  expect(warnings().length).toBe(1);
});

it('is left out with --liveness off (nothing is told about writers)', async () => {
  const d = await startDaemon(['--dir', fixtureDir('off'), '--liveness', 'off']);
  running.push(d);
  expect(await visible(d)).toBeUndefined();
  expect(d.logs.some((l) => typeof l['msg'] === 'string' && BLIND.test(l['msg']))).toBe(false);
});
