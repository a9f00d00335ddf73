/**
 * Who may scrape the real daemon and how often, as the web config says, over 127.0.0.1:
 * `client_allowed_sans` admits a verified client certificate only by a listed subject alternative
 * name (403 with the reason otherwise; SIGHUP swaps the list); `rate_limit` answers 429 with
 * Retry-After once the bucket is empty, for every request on the metrics listener (not on
 * --web.health-address), and a reload keeps the bucket unless rate_limit changed;
 * `http_server_config.headers` are on every response. Loader and handshake details are in
 * test/server/web/.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.js';
import { runToExit, startDaemon, type Daemon } from '../helpers/daemon.js';
import { mergedLines, until } from '../helpers/scrape.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-web-access-'));
const certs = makeCerts(join(tmp, 'certs'));
const metricsDir = join(tmp, 'metrics');
cpSync(join(FIXTURES, 'counter_basic'), metricsDir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
const EXPECTED = 'requests_total{code="200",method="GET"} 15.75';

const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

async function daemon(yaml: string, args: string[] = []): Promise<Daemon & { https: string; file: string }> {
  const file = join(tmp, `web-${running.length}.yml`);
  writeFileSync(file, yaml);
  const d = await startDaemon(['--dir', metricsDir, '--web.config.file', file, ...args]);
  running.push(d);
  return Object.assign(d, { https: d.url.replace(/^http:/, 'https:'), file });
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTPS request on a fresh connection (a new handshake each time), bounded to 10 s. */
function https(url: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: certs.ca, agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const mtls = (sans: string): string =>
  `tls_server_config:\n  cert_file: ${certs.path('server.crt')}\n  key_file: ${certs.path('server.key')}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.path('ca.crt')}\n  client_allowed_sans: ${sans}\n`;
const sanClient: RequestOptions = { cert: certs.sanClientCert, key: certs.sanClientKey };
const plainClient: RequestOptions = { cert: certs.clientCert, key: certs.clientKey };
const SAN_REFUSED = '403 the client certificate has no subject alternative name listed in client_allowed_sans\n';

describe('client_allowed_sans', () => {
  it('serves a certificate with a listed SAN; 403 for a verified one without; SIGHUP swaps the list', async () => {
    const d = await daemon(mtls('[other.example.com, scraper.example.com]'));
    const ok = await https(`${d.https}/metrics`, sanClient);
    expect(ok.status).toBe(200);
    expect(mergedLines(ok.body)).toContain(EXPECTED);
    for (const path of ['/metrics', '/liveness']) {
      const refused = await https(`${d.https}${path}`, plainClient);
      expect([path, refused.status, refused.headers['content-type'], refused.body]).toEqual([path, 403, 'text/plain; charset=utf-8', SAN_REFUSED]);
    }

    writeFileSync(d.file, mtls("['10.0.0.8']"));
    d.child.kill('SIGHUP');
    await until('the reload log line', () => d.logs.find((l) => l['msg'] === 'web config reloaded'));
    expect(await https(`${d.https}/metrics`, sanClient)).toMatchObject({ status: 403, body: SAN_REFUSED });
    writeFileSync(d.file, mtls("['10.0.0.7']"));
    d.child.kill('SIGHUP');
    await until('the second reload log line', () => d.logs.filter((l) => l['msg'] === 'web config reloaded')[1]);
    expect((await https(`${d.https}/metrics`, sanClient)).status).toBe(200);
  });

  it('refuses to start with a SAN list that would never be checked (exit 2, the file and line)', async () => {
    const file = join(tmp, 'no-client-auth.yml');
    writeFileSync(file, `tls_server_config:\n  cert_file: ${certs.path('server.crt')}\n  key_file: ${certs.path('server.key')}\n  client_allowed_sans: [scraper.example.com]\n`);
    expect(await runToExit(['serve', '--dir', metricsDir, '--web.listen-address', '127.0.0.1:0', '--web.config.file', file])).toEqual({
      code: 2,
      stderr: `multiproc-exporter: web config ${file}:4: tls_server_config.client_allowed_sans: needs a client certificate, but client_auth_type NoClientCert does not ask for one (exporter-toolkit would silently ignore the list); set client_auth_type: RequireAndVerifyClientCert and client_ca_file\n`,
    });
  });
});

describe('rate_limit and response headers', () => {
  it('429 with Retry-After once burst requests are spent, on any path and before auth; headers on every answer', async () => {
    const yaml = (burst: number): string =>
      `http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n    X-Frame-Options: deny\n` +
      `basic_auth_users:\n  alice: ${bcrypt.hashSync('secret', 4)}\n` +
      `rate_limit:\n  interval: 1h\n  burst: ${burst}\n`;
    const d = await daemon(yaml(4), ['--web.health-address', '127.0.0.1:0']);
    expect(d.logs.find((l) => l['msg'] === 'multiproc-exporter started')?.['rateLimit']).toEqual({ intervalMs: 3_600_000, burst: 4 });
    const auth = { authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` };
    const get = async (url: string, headers: Record<string, string> = auth): Promise<{ status: number; headers: Record<string, unknown>; body: string }> => {
      const r = await request(url, { headers });
      return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
    };
    const securityHeaders = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'deny' };

    const answers = [await get(`${d.url}/metrics`), await get(`${d.url}/nope`), await get(`${d.url}/metrics`, {}), await get(`${d.url}/`)];
    expect(answers.map((a) => a.status)).toEqual([200, 404, 401, 200]);
    for (const a of answers) expect(a.headers).toMatchObject(securityHeaders);
    expect(mergedLines(answers[0]!.body)).toContain(EXPECTED);

    const BODY = '429 too many requests (rate_limit of the web config: 4 at once, one more every 3600000 ms); retry later\n';
    for (const path of ['/metrics', '/', '/nope']) {
      const limited = await get(`${d.url}${path}`);
      expect([path, limited.status, limited.body]).toEqual([path, 429, BODY]);
      expect(limited.headers).toMatchObject({ ...securityHeaders, 'retry-after': '3600', 'content-type': 'text/plain; charset=utf-8' });
    }
    for (let i = 0; i < 6; i++) expect((await get(`${d.healthUrl}/liveness`, {})).status).toBe(200); // its own listener: no limit

    // A reload that leaves rate_limit as it was keeps the (empty) bucket; a changed one starts full.
    const reloaded = (n: number) => until(`reload #${n}`, () => d.logs.filter((l) => l['msg'] === 'web config reloaded')[n - 1]);
    d.child.kill('SIGHUP');
    expect(await reloaded(1)).toMatchObject({ rateLimit: { intervalMs: 3_600_000, burst: 4 } });
    expect((await get(`${d.url}/metrics`)).status).toBe(429);
    writeFileSync(d.file, yaml(1));
    d.child.kill('SIGHUP');
    expect(await reloaded(2)).toMatchObject({ rateLimit: { intervalMs: 3_600_000, burst: 1 } });
    expect((await get(`${d.url}/metrics`)).status).toBe(200);
    expect(await get(`${d.url}/metrics`)).toMatchObject({
      status: 429,
      body: '429 too many requests (rate_limit of the web config: 1 at once, one more every 3600000 ms); retry later\n',
    });
  });
});
