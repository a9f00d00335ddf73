/**
 * Logs an operator can rely on: a --log.file that cannot be opened stops the daemon at start
 * (exit 2), one that fails later hands its lines to stderr and is counted, and no logged field
 * lets control characters (a file name with an ESC byte) reach the terminal raw.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runToExit, startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, selfValue, until } from '../helpers/scrape.js';
import { escapeControls, toLogfmt } from '../../src/logger.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-logs-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

const NO_DIR_ENV = { PROMETHEUS_MULTIPROC_DIR: undefined, prometheus_multiproc_dir: undefined, GME_MMAP_METRICS_DIR: undefined, GME_LOG_FILE: undefined };

describe('--log.file', () => {
  it('that is a directory: exit 2 at start with what and where', async () => {
    const r = await runToExit(['serve', '--dir', tmp, '--web.listen-address', '127.0.0.1:0', '--log.file', tmp], NO_DIR_ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`multiproc-exporter: --log.file ${JSON.stringify(tmp)}: cannot open for appending: it is a directory\n`);
  });

  it('in a directory that does not exist: exit 2 at start', async () => {
    const file = join(tmp, 'missing', 'exporter.log');
    const r = await runToExit(['serve', '--dir', tmp, '--web.listen-address', '127.0.0.1:0'], { ...NO_DIR_ENV, GME_LOG_FILE: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^multiproc-exporter: --log\\.file ${JSON.stringify(file).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot open for appending: ENOENT`));
  });

  it('that fails on write (/dev/full): lines go to stderr, counted in log_write_errors_total, the daemon keeps serving', async () => {
    const dir = join(tmp, 'full');
    mkdirSync(dir);
    const d = await startDaemon(['--dir', dir, '--log.file', '/dev/full'], { env: NO_DIR_ENV });
    running.push(d);
    // The start line itself could not be written to the file: it reached stderr (that is how startDaemon found it).
    expect(d.stderr()).toContain('multiproc-exporter: cannot write log file /dev/full: ENOSPC');
    const body = (await get(`${d.url}/metrics`)).body;
    expect(selfValue(body, 'log_write_errors_total')).toBeGreaterThanOrEqual(1);
    expect((await get(`${d.healthUrl}/liveness`)).status).toBe(200);
    expect(await d.stop()).toBe(0);
    expect(d.logs.map((l) => l['msg'])).toContain('stopped');
  });
});

describe('control characters in logged fields', () => {
  it('logfmt: an ESC in a skipped file name is written escaped, never raw', async () => {
    const dir = join(tmp, 'esc');
    mkdirSync(dir);
    const evil = 'counter_\u001b]0;pwned\u0007\u001b[2J.db';
    writeFileSync(join(dir, evil), Buffer.from([1, 2, 3])); // too short: skipped and logged
    const logFile = join(tmp, 'esc.log');
    const child = spawn(process.execPath, [BIN, 'serve', '--dir', dir, '--web.listen-address', '127.0.0.1:0', '--log.format', 'logfmt', '--log.file', logFile, '--log.level', 'debug'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const read = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    try {
      await until('the skip logged', () => (read().includes('reason=empty_file') ? true : undefined));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const log = read();
    expect(log).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(log).toContain('counter_\\u001b]0;pwned\\u0007\\u001b[2J.db');
  });

  it('json: DEL and C1 controls (U+009B, an 8-bit CSI) are escaped too; the line stays the same JSON', () => {
    const line = JSON.stringify({ msg: 'x\u009b2Jy\u007f', file: 'a\u0085b' });
    const escaped = escapeControls(line);
    expect(escaped).toBe('{"msg":"x\\u009b2Jy\\u007f","file":"a\\u0085b"}');
    expect(JSON.parse(escaped)).toEqual(JSON.parse(line));
  });

  it('logfmt: keys and values with spaces, quotes, = or controls are quoted and escaped', () => {
    const out = toLogfmt(JSON.stringify({ time: 't', level: 'warn', msg: 'a "b"', file: 'x=y', 'we ird': '\u009b', n: 3 }));
    expect(out).toBe('time=t level=warn msg="a \\"b\\"" file="x=y" "we ird"="\\u009b" n=3\n');
  });
});
