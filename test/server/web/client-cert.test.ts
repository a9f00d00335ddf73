/**
 * The per-request client-certificate policy (src/server/web/client-cert.ts): client_allowed_sans
 * over real HTTPS handshakes on 127.0.0.1 (a SAN of each kind admits the certificate, as
 * exporter-toolkit compares them: exactly, IPs in Go's notation; no certificate, one without SANs
 * or with none listed: 403), and the reading of Node's subjectAltName text into Go's names.
 */
import { X509Certificate } from 'node:crypto';
import { request, createServer, type RequestOptions, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCertRefusal, goIpString, subjectAltNames } from '../../../src/server/web/client-cert.js';
import { loadWebConfig, type TlsSettings } from '../../../src/server/web/config.js';
import { httpsServerOptions } from '../../../src/server/web/tls.js';
import { makeCerts, SAN_CLIENT_SANS, type Certs } from '../../helpers/certs.js';
import { configDir, TLS_BASE } from '../../helpers/web-config.js';

const cfg = configDir('mpe-webcfg-sans-');
let certs: Certs;
beforeAll(() => {
  certs = makeCerts(join(cfg.dir, 'certs'));
});

const servers: Server[] = [];
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }
  cfg.remove();
});

const VERIFY = '  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.crt\n';
const sansYaml = (sans: readonly string[]): string => `  client_allowed_sans:\n${sans.map((s) => `    - ${JSON.stringify(s)}\n`).join('')}`;

/** An HTTPS server with these settings answering 200 "ok", or 403 with clientCertRefusal's reason. */
async function serve(extra: string): Promise<number> {
  const tls = loadWebConfig(cfg.write(`${TLS_BASE}${extra}`)).tls as TlsSettings;
  const server = createServer(httpsServerOptions(tls), (req, res) => {
    const refusal = clientCertRefusal(tls, req.socket as TLSSocket);
    if (refusal === null) res.writeHead(200).end('ok');
    else res.writeHead(403).end(refusal);
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
}

/** `STATUS body`, or `error CODE` when the connection failed. */
function get(port: number, options: RequestOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca: certs.ca, agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(`${res.statusCode ?? 0} ${body}`));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.end();
  });
}

const SAN_REFUSED = '403 the client certificate has no subject alternative name listed in client_allowed_sans';
const CERT_REQUIRED = '403 a valid client certificate is required';

describe('client_allowed_sans over HTTPS', () => {
  it('admits a certificate by any one of its SANs: DNS, e-mail, IPv4, IPv6 (Go notation), URI', async () => {
    for (const san of SAN_CLIENT_SANS) {
      const port = await serve(`${VERIFY}${sansYaml(['not-this-one', san])}`);
      expect([san, await get(port, { cert: certs.sanClientCert, key: certs.sanClientKey })]).toEqual([san, '200 ok']);
    }
  });

  it('compares exactly: case, another IPv6 notation and the subject CN do not match', async () => {
    const port = await serve(`${VERIFY}${sansYaml(['SCRAPER.EXAMPLE.COM', '2001:DB8::7', '2001:db8:0:0:0:0:0:7', 'san-scraper', 'example.com'])}`);
    expect(await get(port, { cert: certs.sanClientCert, key: certs.sanClientKey })).toBe(SAN_REFUSED);
  });

  it('refuses a verified certificate without SANs, and (in the handshake) a client without a certificate', async () => {
    const port = await serve(`${VERIFY}${sansYaml(['scraper.example.com'])}`);
    expect(await get(port, { cert: certs.clientCert, key: certs.clientKey })).toBe(SAN_REFUSED);
    expect(await get(port)).toMatch(/^error (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/);
  });

  it('VerifyClientCertIfGiven: with a SAN list a certificate is no longer optional', async () => {
    const port = await serve(`  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: certs/ca.crt\n${sansYaml(['scraper.example.com'])}`);
    expect(await get(port)).toBe(CERT_REQUIRED);
    expect(await get(port, { cert: certs.rogueCert, key: certs.rogueKey })).toBe(CERT_REQUIRED); // not verified
    expect(await get(port, { cert: certs.sanClientCert, key: certs.sanClientKey })).toBe('200 ok');
  });

  it('RequireAnyClientCert / RequestClientCert: the SANs of an unverified certificate are checked too', async () => {
    for (const auth of ['RequireAnyClientCert', 'RequestClientCert']) {
      const port = await serve(`  client_auth_type: ${auth}\n${sansYaml(['prometheus@example.com'])}`);
      expect([auth, await get(port)]).toEqual([auth, CERT_REQUIRED]);
      expect([auth, await get(port, { cert: certs.rogueCert, key: certs.rogueKey })]).toEqual([auth, SAN_REFUSED]);
      expect([auth, await get(port, { cert: certs.sanClientCert, key: certs.sanClientKey })]).toEqual([auth, '200 ok']);
    }
  });
});

describe('subjectAltNames', () => {
  it("reads a real certificate's SANs as Go's crypto/x509 gives them", () => {
    const text = new X509Certificate(certs.sanClientCert).subjectAltName as string;
    expect(text).toBe('DNS:scraper.example.com, email:prometheus@example.com, IP Address:10.0.0.7, IP Address:2001:DB8:0:0:0:0:0:7, URI:spiffe://example.com/prometheus');
    expect(subjectAltNames(text)).toEqual([...SAN_CLIENT_SANS]);
    expect(new X509Certificate(certs.clientCert).subjectAltName).toBeUndefined();
  });

  it("decodes Node's quoted values and leaves out the kinds Go leaves out", () => {
    expect(subjectAltNames('DNS:"we\\u002cird.example", DirName:CN=x, othername:<unsupported>, email:a@b, Registered ID:1.2.3, URI:"spiffe://x/a\\u002c b"')).toEqual([
      'we,ird.example',
      'a@b',
      'spiffe://x/a, b',
    ]);
    expect(subjectAltNames('')).toEqual([]);
    expect(subjectAltNames('DNS:a, DNS:"unterminated')).toEqual(['a']);
  });

  it('prints IP addresses as net.IP.String() does', () => {
    const cases: Array<[string, string | null]> = [
      ['10.0.0.7', '10.0.0.7'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['2001:DB8:0:0:0:0:0:7', '2001:db8::7'],
      ['2001:DB8:0:1:0:0:1:0', '2001:db8:0:1::1:0'],
      ['2001:DB8:0:0:1:0:0:0', '2001:db8:0:0:1::'], // the longest run of zeros
      ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'], // the first of two equal runs
      ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'], // a single zero word is not shortened
      ['0:0:0:0:0:FFFF:A01:203', '10.1.2.3'], // IPv4-mapped: dotted
      ['0:0:0:0:0:0:A01:203', '::a01:203'], // IPv4-compatible: hex
      ['FE80:0:0:0:0:0:0:1', 'fe80::1'],
      ['1:2:3:4:5:6:7', null],
      ['not an ip', null],
    ];
    for (const [node, go] of cases) expect([node, goIpString(node)]).toEqual([node, go]);
  });
});
