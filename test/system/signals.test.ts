/**
 * Signals an operator (or an attacker on the same host) may send: SIGUSR1 must not open Node's
 * unauthenticated inspector; the daemon keeps serving.
 */
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, until } from '../helpers/scrape.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-signals-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

/** TCP ports the process listens on (from /proc: its socket inodes in /proc/net/tcp{,6} in state LISTEN). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue; // 0A = LISTEN
      ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

it('SIGUSR1 opens no inspector: the daemon listens on its own port only and keeps serving', async () => {
  const d = await startDaemon(['--dir', tmp]);
  running.push(d);
  const port = Number(new URL(d.url).port);
  expect(listeningPorts(d.child.pid!)).toEqual([port]);
  d.child.kill('SIGUSR1');
  await until('SIGUSR1 handled', () => (d.stderr().includes('SIGUSR1 ignored') ? true : undefined));
  await new Promise((r) => setTimeout(r, 300)); // the inspector would be listening by now
  expect(listeningPorts(d.child.pid!)).toEqual([port]);
  expect((await get(`${d.url}/liveness`)).status).toBe(200);
});
