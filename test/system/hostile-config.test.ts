/**
 * A hostile or careless web config, against the real daemon binary: a FIFO (whose open blocks),
 * /dev/zero (never ends) or a file over 1 MiB at start is exit 2 with a message naming what it is;
 * at SIGHUP the same, or a FIFO in place of a TLS key, is logged, the previous config kept and
 * web_config_last_reload_successful set to 0, while health, metrics and SIGTERM keep working; a
 * reload parses off the main thread, so a large file does not stall /liveness; a web config
 * truncated to empty (a non-atomic rewrite caught half-way) or without its users does not switch
 * basic auth off unless it says `basic_auth_users: {}`; a bcrypt cost above 17 is refused at start
 * and at reload; --compaction.interval below 1s is a configuration error.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.js';
import { runToExit, startDaemon, type Daemon } from '../helpers/daemon.js';
import { get, mergedLines, selfValue, until } from '../helpers/scrape.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-hostile-config-'));
const metricsDir = join(tmp, 'metrics');
cpSync(join(FIXTURES, 'counter_basic'), metricsDir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
const EXPECTED = 'requests_total{code="200",method="GET"} 15.75';
const certs = makeCerts(join(tmp, 'certs'));
const NO_DIR_ENV = { PROMETHEUS_MULTIPROC_DIR: undefined, prometheus_multiproc_dir: undefined, GME_MMAP_METRICS_DIR: undefined };

const aliceHash = bcrypt.hashSync('secret', 4);
const ALICE = { authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` };
const usersYaml = `basic_auth_users:\n  alice: ${aliceHash}\n`;

const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

let files = 0;
function writeConfig(yaml: string): string {
  const file = join(tmp, `web-${files++}.yml`);
  writeFileSync(file, yaml);
  return file;
}

function mkfifo(path: string): void {
  rmSync(path, { force: true });
  execFileSync('mkfifo', [path]);
}

/** Replaces the file's contents the way `echo > file` does: truncate, then write (here: maybe nothing). */
function rewrite(file: string, yaml: string): void {
  writeFileSync(file, yaml);
}

async function daemon(args: string[]): Promise<Daemon> {
  const d = await startDaemon(['--dir', metricsDir, ...args]);
  running.push(d);
  return d;
}

/** SIGHUP, then the n-th `web config reload…` log line (1-based), within 10 s. */
async function hup(d: Daemon, n: number): Promise<Record<string, unknown>> {
  d.child.kill('SIGHUP');
  return until(`reload log line #${n}`, () => d.logs.filter((l) => String(l['msg']).startsWith('web config reload'))[n - 1]);
}

async function reloadOk(d: Daemon, headers: Record<string, string> = ALICE): Promise<number | undefined> {
  return selfValue((await get(`${d.url}/metrics`, headers)).body, 'web_config_last_reload_successful');
}

/** SIGTERM: exit 0 within 5 s (the daemon is not stuck). */
async function stopsPromptly(d: Daemon): Promise<void> {
  const started = Date.now();
  const code = await d.stop();
  expect([code, Date.now() - started < 5_000]).toEqual([0, true]);
}

describe('a web config that is not a regular file, or too large', () => {
  it('at start: a FIFO, /dev/zero, a directory and a file over 1 MiB are exit 2, each named, at once', async () => {
    const fifo = join(tmp, 'start-fifo.yml');
    mkfifo(fifo);
    const big = join(tmp, 'big.yml');
    writeFileSync(big, '');
    truncateSync(big, 7 * 1024 * 1024); // sparse
    const cases: Array<[string, string]> = [
      [fifo, 'is a FIFO (named pipe), not a regular file; refused without reading it'],
      ['/dev/zero', 'is a character device, not a regular file; refused without reading it'],
      [tmp, 'is a directory, not a file'],
      [big, `file is too large: ${7 * 1024 * 1024} bytes, over the 1 MiB limit; refused without reading it`],
    ];
    for (const [file, why] of cases) {
      const started = Date.now();
      const r = await runToExit(['serve', '--dir', metricsDir, '--web.listen-address', '127.0.0.1:0', '--web.config.file', file], NO_DIR_ENV);
      expect([file, r.code, r.stderr]).toEqual([file, 2, `multiproc-exporter: web config ${file}: cannot read: ${why}\n`]);
      expect(Date.now() - started).toBeLessThan(8_000);
    }
  });

  it('at start: a FIFO as the TLS key (web config or --tls.key-file) is exit 2 naming the key file', async () => {
    const keyFifo = join(tmp, 'key-fifo.pem');
    mkfifo(keyFifo);
    const file = writeConfig(`tls_server_config:\n  cert_file: ${certs.path('server.crt')}\n  key_file: ${keyFifo}\n`);
    const a = await runToExit(['serve', '--dir', metricsDir, '--web.listen-address', '127.0.0.1:0', '--web.config.file', file], NO_DIR_ENV);
    expect([a.code, a.stderr]).toEqual([
      2,
      `multiproc-exporter: web config ${file}:3: tls_server_config.key_file: ${keyFifo}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it\n`,
    ]);
    const b = await runToExit(['serve', '--dir', metricsDir, '--web.listen-address', '127.0.0.1:0', '--tls.cert-file', certs.path('server.crt'), '--tls.key-file', keyFifo], NO_DIR_ENV);
    expect([b.code, b.stderr]).toEqual([2, `multiproc-exporter: TLS key file: ${keyFifo}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it\n`]);
  });

  it('at SIGHUP: the config replaced by a FIFO is refused and logged; auth, health, metrics and SIGTERM keep working', async () => {
    const file = writeConfig(usersYaml);
    const d = await daemon(['--web.config.file', file]);
    expect((await get(`${d.url}/liveness`)).status).toBe(401);
    mkfifo(file);
    const failed = await hup(d, 1);
    expect(failed).toMatchObject({
      level: 'error',
      reason: 'SIGHUP',
      file,
      msg: `web config reload failed: web config ${file}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it; keeping the previous configuration`,
    });
    expect((await get(`${d.url}/liveness`)).status).toBe(401);
    const scrape = await get(`${d.url}/metrics`, ALICE);
    expect(scrape.status).toBe(200);
    expect(mergedLines(scrape.body)).toContain(EXPECTED);
    expect(selfValue(scrape.body, 'web_config_last_reload_successful')).toBe(0);
    // Replaced by a file over 1 MiB: refused as well, unread.
    rmSync(file);
    writeFileSync(file, '');
    truncateSync(file, 2 * 1024 * 1024);
    expect((await hup(d, 2))['msg']).toBe(
      `web config reload failed: web config ${file}: cannot read: file is too large: ${2 * 1024 * 1024} bytes, over the 1 MiB limit; refused without reading it; keeping the previous configuration`,
    );
    expect((await get(`${d.url}/metrics`)).status).toBe(401);
    await stopsPromptly(d);
  });

  it('at SIGHUP: a FIFO in place of the TLS key file is refused and logged; HTTPS keeps serving the old certificate', async () => {
    const keyFile = join(tmp, 'reload-server.key');
    cpSync(certs.path('server.key'), keyFile);
    const file = writeConfig(`tls_server_config:\n  cert_file: ${certs.path('server.crt')}\n  key_file: ${keyFile}\n`);
    const d = await daemon(['--web.config.file', file]);
    const https = d.url.replace(/^http:/, 'https:');
    const fetch = (): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${https}/metrics`, { ca: certs.ca, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end();
      });
    expect((await fetch()).status).toBe(200);
    mkfifo(keyFile);
    expect((await hup(d, 1))['msg']).toBe(
      `web config reload failed: web config ${file}:3: tls_server_config.key_file: ${keyFile}: cannot read: is a FIFO (named pipe), not a regular file; refused without reading it; keeping the previous configuration`,
    );
    const after = await fetch();
    expect([after.status, selfValue(after.body, 'web_config_last_reload_successful')]).toEqual([200, 0]);
    await stopsPromptly(d);
  });

  it('at SIGHUP: a large file is parsed off the main thread: /liveness keeps answering meanwhile', async () => {
    const file = writeConfig(usersYaml);
    const d = await daemon(['--web.config.file', file, '--web.health-address', '127.0.0.1:0']);
    // Just under 1 MiB of YAML comments: seconds of parsing on a loaded machine.
    const padding = '# a comment line that the YAML parser still has to read\n';
    writeFileSync(`${file}.new`, `${padding.repeat(Math.floor((1024 * 1024 - usersYaml.length) / padding.length))}${usersYaml}`);
    renameSync(`${file}.new`, file);
    const latencies: number[] = [];
    let done: Record<string, unknown> | undefined;
    d.child.kill('SIGHUP');
    for (let i = 0; i < 400 && done === undefined; i++) {
      const started = Date.now();
      expect((await get(`${d.healthUrl}/liveness`)).status).toBe(200);
      latencies.push(Date.now() - started);
      done = d.logs.find((l) => String(l['msg']).startsWith('web config reload'));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(done).toMatchObject({ level: 'info', msg: 'web config reloaded', basicAuth: true });
    // On the main thread the first probe would wait for the whole parse and the reload be done by its answer.
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    await stopsPromptly(d);
  });
});

describe('basic auth fails closed on reload', () => {
  it('an empty file, a missing or empty section and {} are refused; basic_auth_users: {} switches auth off', async () => {
    const file = writeConfig(`${usersYaml}http_server_config:\n  headers:\n    X-Frame-Options: deny\n`);
    const d = await daemon(['--web.config.file', file]);
    expect((await get(`${d.url}/metrics`)).status).toBe(401);

    rewrite(file, ''); // truncated, not yet written
    expect(await hup(d, 1)).toMatchObject({
      level: 'error',
      reason: 'SIGHUP',
      file,
      msg: 'web config reload failed: the file is empty (caught mid-rewrite?) and would switch off basic auth, http_server_config.headers; write the whole config (to clear every setting on purpose, write {}); keeping the previous configuration',
    });
    const refused = await get(`${d.url}/metrics`);
    expect([refused.status, refused.headers['x-frame-options']]).toEqual([401, 'deny']);
    expect(await reloadOk(d)).toBe(0);

    const usersGone =
      'web config reload failed: basic_auth_users is missing or empty: the reload would switch basic auth off (1 user now), refused in case the file was cut short; to switch basic auth off on purpose, write basic_auth_users: {}; keeping the previous configuration';
    const cases: Array<[string, string]> = [
      ['# comments only\n', 'web config reload failed: the file is empty (caught mid-rewrite?) and would switch off basic auth, http_server_config.headers; write the whole config (to clear every setting on purpose, write {}); keeping the previous configuration'],
      ['basic_auth_users:\n', usersGone], // cut short after the section's key
      ['http_server_config:\n  headers:\n    X-Frame-Options: deny\n', usersGone], // cut short before it
      ['{}\n', usersGone],
      ['basic_auth_users: ~\n', usersGone],
    ];
    for (const [i, [yaml, msg]] of cases.entries()) {
      rewrite(file, yaml);
      expect([yaml, (await hup(d, i + 2))['msg']]).toEqual([yaml, msg]);
      expect((await get(`${d.url}/metrics`)).status).toBe(401);
    }

    // Said explicitly: switched off.
    rewrite(file, 'basic_auth_users: {}\n');
    expect(await hup(d, 7)).toMatchObject({ level: 'info', msg: 'web config reloaded', basicAuth: false });
    const open = await get(`${d.url}/metrics`);
    expect([open.status, selfValue(open.body, 'web_config_last_reload_successful'), open.headers['x-frame-options']]).toEqual([200, 1, undefined]);
    expect(mergedLines(open.body)).toContain(EXPECTED);
    await stopsPromptly(d);
  });

  it('dropping some users is a normal reload; an empty file at start is no web config (as exporter-toolkit)', async () => {
    const bobHash = bcrypt.hashSync('hunter2', 4);
    const file = writeConfig(`${usersYaml}  bob: ${bobHash}\n`);
    const d = await daemon(['--web.config.file', file]);
    rewrite(file, usersYaml);
    expect(await hup(d, 1)).toMatchObject({ level: 'info', msg: 'web config reloaded', basicAuth: true });
    expect((await get(`${d.url}/metrics`, { authorization: `Basic ${Buffer.from('bob:hunter2').toString('base64')}` })).status).toBe(401);
    expect(await reloadOk(d)).toBe(1);

    const empty = await daemon(['--web.config.file', writeConfig('')]);
    expect((await get(`${empty.url}/metrics`)).status).toBe(200);
    expect(empty.logs.find((l) => l['msg'] === 'multiproc-exporter started')).toMatchObject({ basicAuth: false, tls: false });
  });
});

describe('bcrypt cost', () => {
  it('above 17 is exit 2 at start with FILE:LINE; at reload it is refused and the previous users kept', async () => {
    const costly = aliceHash.replace('$04$', '$31$');
    const file = writeConfig(`# users\nbasic_auth_users:\n  alice: '${costly}'\n`);
    const r = await runToExit(['serve', '--dir', metricsDir, '--web.listen-address', '127.0.0.1:0', '--web.config.file', file], NO_DIR_ENV);
    expect([r.code, r.stderr]).toEqual([
      2,
      `multiproc-exporter: web config ${file}:3: basic_auth_users.alice: bcrypt cost 31 is above the limit of 17: each step doubles the CPU time of every request with credentials (cost 31 is 16384 times cost 17); re-hash the password with a cost of 10 to 17, e.g. htpasswd -nBC 10 "" | tr -d ':\\n'\n`,
    ]);

    rewrite(file, usersYaml);
    const d = await daemon(['--web.config.file', file]);
    rewrite(file, `basic_auth_users:\n  alice: ${aliceHash.replace('$04$', '$18$')}\n`);
    expect(String((await hup(d, 1))['msg'])).toBe(
      `web config reload failed: web config ${file}:2: basic_auth_users.alice: bcrypt cost 18 is above the limit of 17: each step doubles the CPU time of every request with credentials (cost 18 is 2 times cost 17); re-hash the password with a cost of 10 to 17, e.g. htpasswd -nBC 10 "" | tr -d ':\\n'; keeping the previous configuration`,
    );
    const still = await get(`${d.url}/metrics`, ALICE);
    expect([still.status, selfValue(still.body, 'web_config_last_reload_successful')]).toEqual([200, 0]);
    await stopsPromptly(d);
  });
});

describe('--compaction.interval', () => {
  it('below 1s is exit 2 with the floor named', async () => {
    for (const value of ['1ms', '999ms']) {
      const r = await runToExit(['serve', '--dir', metricsDir, '--web.listen-address', '127.0.0.1:0', '--compaction', '--compaction.interval', value], NO_DIR_ENV);
      expect([r.code, r.stderr]).toEqual([2, `multiproc-exporter: --compaction.interval "${value}": at least 1s (every run scans the directory; compacting more often only burns CPU)\n`]);
    }
  });
});
