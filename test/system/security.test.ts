/**
 * Security of the daemon as an operator configures it: `--web.config.file` with
 * TLS, mutual TLS and bcrypt basic auth, against the real binary over 127.0.0.1 with certificates
 * made by the test. HTTPS scrapes work; plain HTTP to the TLS port fails cleanly and the daemon
 * keeps serving; mutual TLS rejects a client without a (trusted) certificate; a wrong password is
 * 401 with WWW-Authenticate, the right one 200; health endpoints on the metrics listener require
 * the same TLS and auth, those on --web.health-address do not; SIGHUP re-reads the web config
 * (users, certificates), and a bad one is logged and the old one kept.
 * Parsing and validation of the file itself are in test/server/web/.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { mergedLines, selfValue, until } from '../helpers/scrape.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-security-'));
const certs = makeCerts(join(tmp, 'certs'));
const metricsDir = join(tmp, 'metrics');
cpSync(join(FIXTURES, 'counter_basic'), metricsDir, { recursive: true, filter: (src) => !/\.(txt|jsonl|json)$|README$/.test(src) });
const EXPECTED = 'requests_total{code="200",method="GET"} 15.75';

const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

const aliceHash = bcrypt.hashSync('secret', 4);
const bobHash = bcrypt.hashSync('hunter2', 4);
let configs = 0;
function webConfig(yaml: string): string {
  const file = join(tmp, `web-${configs++}.yml`);
  writeFileSync(file, yaml);
  return file;
}
const tlsYaml = (extra = ''): string => `tls_server_config:\n  cert_file: ${certs.path('server.crt')}\n  key_file: ${certs.path('server.key')}\n${extra}`;

async function daemon(args: string[]): Promise<Daemon & { https: string }> {
  const d = await startDaemon(['--dir', metricsDir, ...args]);
  running.push(d);
  return Object.assign(d, { https: d.url.replace(/^http:/, 'https:') });
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Serial number of the certificate the server presented. */
  readonly serverSerial: string;
}

/** One HTTPS request on a fresh connection (so each one is a new handshake), bounded to 10 s. */
function https(url: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: certs.ca, agent: false, ...options }, (res) => {
      const serverSerial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, serverSerial }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
  return 'succeeded';
}

const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('TLS', async () => {
  const d = await daemon(['--web.config.file', webConfig(tlsYaml())]);

  it('serves the metrics over HTTPS with the configured certificate', async () => {
    const r = await https(`${d.https}/metrics`);
    expect(r.status).toBe(200);
    expect(mergedLines(r.body)).toContain(EXPECTED);
    expect(r.serverSerial).toBe('02');
  });

  it('fails a plain HTTP request to the TLS port cleanly, and keeps serving HTTPS', async () => {
    const code = await failure(request(`${d.url}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 }).then((r) => r.body.text()));
    expect(code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET|UND_ERR_HEADERS_TIMEOUT|HPE_INVALID_CONSTANT)$/);
    expect((await https(`${d.https}/metrics`)).status).toBe(200);
    expect({ exitCode: d.child.exitCode, signal: d.child.signalCode }).toEqual({ exitCode: null, signal: null });
  });

  it('refuses a client that only speaks TLS 1.1', async () => {
    expect(await failure(https(`${d.https}/metrics`, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }))).toMatch(/^ERR_SSL_|^EPROTO$|^ECONNRESET$/);
  });
});

describe('mutual TLS (RequireAndVerifyClientCert)', async () => {
  const d = await daemon(['--web.config.file', webConfig(tlsYaml(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${certs.path('ca.crt')}\n`))]);

  it('serves a client with a certificate the client CA signed', async () => {
    const r = await https(`${d.https}/metrics`, { cert: certs.clientCert, key: certs.clientKey });
    expect(r.status).toBe(200);
    expect(mergedLines(r.body)).toContain(EXPECTED);
  });

  it('rejects a client without a certificate, and one with an untrusted certificate, in the handshake', async () => {
    expect(await failure(https(`${d.https}/metrics`))).toMatch(/^ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED$|^ECONNRESET$|^EPROTO$/);
    expect(await failure(https(`${d.https}/metrics`, { cert: certs.rogueCert, key: certs.rogueKey }))).toMatch(/^ERR_SSL_|^ECONNRESET$|^EPROTO$/);
    expect(await failure(https(`${d.https}/liveness`))).not.toBe('succeeded'); // health follows the same policy
    expect((await https(`${d.https}/liveness`, { cert: certs.clientCert, key: certs.clientKey })).status).toBe(200);
  });
});

describe('basic auth', async () => {
  const d = await daemon(['--web.config.file', webConfig(`${tlsYaml()}basic_auth_users:\n  alice: ${aliceHash}\n`), '--web.health-address', '127.0.0.1:0']);
  const withAuthOnMetricsListener = await daemon(['--web.config.file', webConfig(`basic_auth_users:\n  alice: ${aliceHash}\n`)]);

  it('answers 401 with WWW-Authenticate to a wrong password, a wrong user and no credentials; 200 to the right one', async () => {
    for (const headers of [basic('alice', 'wrong'), basic('mallory', 'secret'), {}]) {
      const r = await https(`${d.https}/metrics`, { headers });
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Basic realm="multiproc-exporter", charset="UTF-8"');
      expect(r.body).toBe('401 unauthorized\n');
    }
    const ok = await https(`${d.https}/metrics`, { headers: basic('alice', 'secret') });
    expect(ok.status).toBe(200);
    expect(mergedLines(ok.body)).toContain(EXPECTED);
  });

  it('protects /liveness and /readiness on the metrics listener with the same auth', async () => {
    const u = withAuthOnMetricsListener.url;
    for (const path of ['/liveness', '/readiness', '/']) {
      const denied = await request(`${u}${path}`);
      expect(denied.statusCode).toBe(401);
      await denied.body.text();
      const allowed = await request(`${u}${path}`, { headers: basic('alice', 'secret') });
      expect(allowed.statusCode).toBe(200);
      await allowed.body.text();
    }
  });

  it('serves /liveness and /readiness on --web.health-address without TLS or auth, and nothing else there', async () => {
    for (const path of ['/liveness', '/readiness']) {
      const r = await request(`${d.healthUrl}${path}`);
      expect(r.statusCode).toBe(200);
      await r.body.text();
    }
    const metrics = await request(`${d.healthUrl}/metrics`);
    expect(metrics.statusCode).toBe(404);
    await metrics.body.text();
  });
});

describe('SIGHUP re-reads the web config', () => {
  it('swaps users and certificates; a bad config is logged and the previous one kept', async () => {
    const certFile = join(tmp, 'rotating.crt');
    const keyFile = join(tmp, 'rotating.key');
    copyFileSync(certs.path('server.crt'), certFile);
    copyFileSync(certs.path('server.key'), keyFile);
    const file = join(tmp, 'reloaded.yml');
    const yaml = (users: string): string => `tls_server_config:\n  cert_file: ${certFile}\n  key_file: ${keyFile}\nbasic_auth_users:\n${users}`;
    writeFileSync(file, yaml(`  alice: ${aliceHash}\n`));
    const d = await daemon(['--web.config.file', file]);
    const reloads = (): Record<string, unknown>[] => d.logs.filter((l) => String(l['msg']).startsWith('web config reload'));
    const hup = async (n: number): Promise<Record<string, unknown>> => {
      d.child.kill('SIGHUP');
      return until(`reload log line #${n}`, () => reloads()[n - 1]);
    };

    expect((await https(`${d.https}/metrics`, { headers: basic('alice', 'secret') })).status).toBe(200);

    // New users and a rotated certificate.
    writeFileSync(file, yaml(`  bob: ${bobHash}\n`));
    copyFileSync(certs.path('server2.crt'), certFile);
    copyFileSync(certs.path('server2.key'), keyFile);
    expect(await hup(1)).toMatchObject({ level: 'info', msg: 'web config reloaded', reason: 'SIGHUP', file, tls: true, basicAuth: true });
    const asAlice = await https(`${d.https}/metrics`, { headers: basic('alice', 'secret') });
    expect(asAlice.status).toBe(401);
    const asBob = await https(`${d.https}/metrics`, { headers: basic('bob', 'hunter2') });
    expect(asBob.status).toBe(200);
    expect(asBob.serverSerial).toBe('04'); // the new certificate, on a new connection
    expect(selfValue(asBob.body, 'web_config_last_reload_successful')).toBe(1);

    // A broken config: logged with the reason, the previous one stays in force.
    writeFileSync(file, yaml('  carol: not-a-bcrypt-hash\n'));
    const bad = await hup(2);
    expect(bad).toMatchObject({ level: 'error', reason: 'SIGHUP', file });
    expect(String(bad['msg'])).toMatch(/^web config reload failed: web config .*reloaded\.yml:5: basic_auth_users\.carol: not a bcrypt hash .*; keeping the previous configuration$/);
    const stillBob = await https(`${d.https}/metrics`, { headers: basic('bob', 'hunter2') });
    expect(stillBob.status).toBe(200);
    expect(stillBob.serverSerial).toBe('04');
    expect(selfValue(stillBob.body, 'web_config_last_reload_successful')).toBe(0);

    // TLS cannot be switched off by a reload (the listener is HTTPS): refused, previous one kept.
    writeFileSync(file, `basic_auth_users:\n  bob: ${bobHash}\n`);
    expect(await hup(3)).toMatchObject({
      level: 'error',
      msg: 'web config reload failed: TLS cannot be turned off by a reload; restart the daemon; keeping the previous configuration',
    });
    expect((await https(`${d.https}/metrics`, { headers: basic('bob', 'hunter2') })).status).toBe(200);
    expect({ exitCode: d.child.exitCode, signal: d.child.signalCode }).toEqual({ exitCode: null, signal: null });
  });

  it('without a web config, SIGHUP is harmless (logged, nothing changes)', async () => {
    const d = await daemon([]);
    d.child.kill('SIGHUP');
    await until('the log line', () => d.logs.find((l) => l['msg'] === 'nothing to reload: no --web.config.file or --tls.cert-file given'));
    const r = await request(`${d.url}/metrics`);
    expect(r.statusCode).toBe(200);
    await r.body.text();
  });
});
