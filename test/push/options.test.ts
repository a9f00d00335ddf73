/**
 * The --push.* options: defaults, every bad value a ConfigError naming the flag (exit 2 from the
 * binary), --web.listen-address off, and --help explaining each.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, OPTIONS, resolveConfig, type Flags } from '../../src/config.js';
import { runToExit } from '../helpers/daemon.js';
import { spawnSync } from 'node:child_process';
import { BIN } from '../helpers/daemon.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-push-options-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const token = join(tmp, 'token');
writeFileSync(token, 't');
const base: Flags = { dir: '/m' };
const RW = 'http://127.0.0.1:9090/api/v1/write';

function error(flags: Flags): string {
  try {
    resolveConfig({ ...base, ...flags }, {});
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('no ConfigError');
}

describe('push options', () => {
  it('are off by default, and have the documented defaults when a target is given', () => {
    expect(resolveConfig(base, {}).push).toBeNull();
    const c = resolveConfig({ ...base, 'push.remoteWrite.url': [RW], 'push.otlp.endpoint': ['https://c:4318/v1/metrics'] }, {});
    const client = { bearerTokenFile: undefined, basicAuthUsername: undefined, basicAuthPasswordFile: undefined, headers: [], tls: { caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined, insecureSkipVerify: false } };
    expect(c.push).toEqual({
      remoteWrite: [{ url: RW, client }],
      otlp: [{ url: 'https://c:4318/v1/metrics', client }],
      intervalMs: 15_000,
      timeoutMs: 10_000,
      maxSamplesPerSend: 2_000,
      queueMaxBatches: 100,
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      otlpResourceAttributes: [['service.name', 'multiproc-exporter']],
    });
    expect(c.metricsListener).toBe(true);
  });

  it('take every value given', () => {
    const c = resolveConfig(
      {
        ...base,
        'push.remoteWrite.url': [RW, 'https://mimir/api/v1/push'],
        'push.interval': '2s',
        'push.timeout': '500ms',
        'push.maxSamplesPerSend': '500',
        'push.queue.maxBatches': '7',
        'push.retry.minBackoff': '100ms',
        'push.retry.maxBackoff': '1m',
        'push.remoteWrite.bearerTokenFile': token,
        'push.remoteWrite.header': ['X-Scope-OrgID: team-a', 'X-Other:x'],
        'push.remoteWrite.tls.caFile': token,
        'push.remoteWrite.tls.serverName': 'mimir.internal',
        'push.remoteWrite.tls.insecureSkipVerify': true,
        'push.otlp.endpoint': ['http://c:4318/v1/metrics'],
        'push.otlp.basicAuth.username': 'u',
        'push.otlp.basicAuth.passwordFile': token,
        'push.otlp.resourceAttribute': ['service.name=shop', 'deployment.environment=prod'],
        'web.listenAddress': 'off',
      },
      {},
    );
    const p = c.push!;
    expect(c.metricsListener).toBe(false);
    expect(p.remoteWrite.map((t) => t.url)).toEqual([RW, 'https://mimir/api/v1/push']);
    expect([p.intervalMs, p.timeoutMs, p.maxSamplesPerSend, p.queueMaxBatches, p.minBackoffMs, p.maxBackoffMs]).toEqual([2_000, 500, 500, 7, 100, 60_000]);
    expect(p.remoteWrite[0]!.client).toEqual({
      bearerTokenFile: token,
      basicAuthUsername: undefined,
      basicAuthPasswordFile: undefined,
      headers: [
        ['X-Scope-OrgID', 'team-a'],
        ['X-Other', 'x'],
      ],
      tls: { caFile: token, certFile: undefined, keyFile: undefined, serverName: 'mimir.internal', insecureSkipVerify: true },
    });
    expect(p.otlp[0]!.client).toMatchObject({ bearerTokenFile: undefined, basicAuthUsername: 'u', basicAuthPasswordFile: token, headers: [] });
    expect(p.otlpResourceAttributes).toEqual([
      ['deployment.environment', 'prod'],
      ['service.name', 'shop'],
    ]);
  });

  it('refuse bad values, naming the flag', () => {
    const rw = { 'push.remoteWrite.url': [RW] };
    expect(error({ 'push.remoteWrite.url': ['ftp://x/'] })).toBe('--push.remote-write.url "ftp://x/": must be http:// or https://');
    expect(error({ 'push.otlp.endpoint': ['collector:4318'] })).toBe('--push.otlp.endpoint "collector:4318": must be http:// or https://');
    expect(error({ 'push.otlp.endpoint': ['not a url'] })).toBe('--push.otlp.endpoint "not a url": not a URL (expected e.g. http://host:port/path)');
    expect(error({ 'push.remoteWrite.url': [RW, RW] })).toBe(`--push.remote-write.url ${RW} is given twice`);
    expect(error({ ...rw, 'push.interval': '15' })).toBe('--push.interval "15": expected a duration from 1ms to 24h such as 500ms, 10s, 1m or 1h');
    expect(error({ ...rw, 'push.interval': '50ms' })).toBe('--push.interval "50ms": at least 100ms');
    expect(error({ ...rw, 'push.timeout': '-1s' })).toMatch(/^--push\.timeout "-1s": expected a duration/);
    expect(error({ ...rw, 'push.maxSamplesPerSend': '0' })).toBe('--push.max-samples-per-send "0": must be a whole number from 1 to 1000000');
    expect(error({ ...rw, 'push.queue.maxBatches': 'ten' })).toBe('--push.queue.max-batches "ten": must be a whole number from 1 to 1000000');
    expect(error({ ...rw, 'push.retry.minBackoff': '2s', 'push.retry.maxBackoff': '1s' })).toBe('--push.retry.max-backoff 1000 ms is shorter than --push.retry.min-backoff 2000 ms');
    expect(error({ ...rw, 'push.remoteWrite.bearerTokenFile': join(tmp, 'missing') })).toBe(`--push.remote-write.bearer-token-file ${join(tmp, 'missing')}: cannot read: ENOENT`);
    expect(error({ ...rw, 'push.remoteWrite.bearerTokenFile': token, 'push.remoteWrite.basicAuth.username': 'u' })).toBe(
      '--push.remote-write.bearer-token-file and --push.remote-write.basic-auth.username both set the Authorization header: use one',
    );
    expect(error({ ...rw, 'push.remoteWrite.basicAuth.passwordFile': token })).toBe('--push.remote-write.basic-auth.password-file is set but no --push.remote-write.basic-auth.username');
    expect(error({ ...rw, 'push.remoteWrite.header': ['NoColon'] })).toBe('--push.remote-write.header "NoColon": expected "Name: value"');
    expect(error({ ...rw, 'push.remoteWrite.header': ['Content-Encoding: gzip'] })).toBe('--push.remote-write.header "Content-Encoding: gzip": Content-Encoding is set by the protocol and cannot be replaced');
    expect(error({ ...rw, 'push.remoteWrite.bearerTokenFile': token, 'push.remoteWrite.header': ['Authorization: x'] })).toBe(
      '--push.remote-write.header "Authorization: x": Authorization is already set by the auth flags',
    );
    expect(error({ ...rw, 'push.remoteWrite.tls.certFile': token })).toBe('--push.remote-write.tls.cert-file is set but no --push.remote-write.tls.key-file');
    expect(error({ ...rw, 'push.remoteWrite.tls.caFile': token })).toBe('--push.remote-write.tls.* options are set but no --push.remote-write.url is https://');
    expect(error({ 'push.otlp.endpoint': ['http://c/'], 'push.otlp.resourceAttribute': ['=x'] })).toBe('--push.otlp.resource-attribute "=x": expected key=value, e.g. service.name=checkout');
    expect(error({ 'push.otlp.endpoint': ['http://c/'], 'push.otlp.resourceAttribute': ['a=1', 'a=2'] })).toBe('--push.otlp.resource-attribute: a is given twice');
    expect(error({ 'web.listenAddress': 'off' })).toBe(
      '--web.listen-address off serves no metrics, and no --push.remote-write.url or --push.otlp.endpoint is given: nothing would leave the daemon',
    );
  });

  it('a bad push value exits 2 naming the flag; an unreadable CA file too', async () => {
    const a = await runToExit(['serve', '--dir', tmp, '--push.remote-write.url', RW, '--push.interval', 'soon']);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe('multiproc-exporter: --push.interval "soon": expected a duration from 1ms to 24h such as 500ms, 10s, 1m or 1h\n');
    const b = await runToExit(['serve', '--dir', tmp, '--web.listen-address', '127.0.0.1:0', '--push.otlp.endpoint', 'https://127.0.0.1:1/v1/metrics', '--push.otlp.tls.ca-file', tmp]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`multiproc-exporter: --push.otlp.tls.ca-file ${tmp}: cannot read: EISDIR`);
  });

  it('are each explained by --help, with their default', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    const push = OPTIONS.filter((o) => o.key.startsWith('push.'));
    expect(push).toHaveLength(27);
    for (const o of push) expect(help).toContain(`${o.flag} ${o.help} [default: ${o.def}]`);
  });
});
