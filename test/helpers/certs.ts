/**
 * Throwaway certificates for TLS tests, made with the openssl CLI: a CA, a server certificate for
 * 127.0.0.1 (two, with different serials, for rotation), client certificates signed by the CA (one
 * without subject alternative names, one with a SAN of each kind), a self-signed "rogue" client
 * certificate no configured CA trusts, and a key no certificate matches.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The openssl config every test certificate is made with (CA, server for 127.0.0.1, client). */
export const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[client_san]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:scraper.example.com, email:prometheus@example.com, IP:10.0.0.7, IP:2001:db8:0:0:0:0:0:7, URI:spiffe://example.com/prometheus
`;

/** The subject alternative names of sanClientCert, as Go's crypto/x509 prints them (DNS, e-mail, IP, URI). */
export const SAN_CLIENT_SANS = ['scraper.example.com', 'prometheus@example.com', '10.0.0.7', '2001:db8::7', 'spiffe://example.com/prometheus'] as const;

export interface Certs {
  readonly dir: string;
  /** PEM contents. */
  readonly ca: string;
  readonly clientCert: string;
  readonly clientKey: string;
  readonly rogueCert: string;
  readonly rogueKey: string;
  /** Signed by the CA, CN=san-scraper, with the SANs in SAN_CLIENT_SANS. */
  readonly sanClientCert: string;
  readonly sanClientKey: string;
  /**
   * Paths (inside dir): server.crt/server.key (serial 2), server2.crt/server2.key (serial 4), ca.crt,
   * ca.key, client.crt/client.key (serial 3), san-client.crt/san-client.key (serial 5),
   * rogue.crt/rogue.key, other.key (matches no certificate).
   */
  readonly path: (name: string) => string;
}

export function makeCerts(dir: string): Certs {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'openssl.cnf'), OPENSSL_CNF);
  const openssl = (...args: string[]): void => {
    const r = spawnSync('/usr/bin/openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  };
  const cnf = ['-config', 'openssl.cnf'];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...cnf, '-extensions', 'v3_ca', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Test CA');
  for (const [name, ext, cn, serial] of [
    ['server', 'server', '127.0.0.1', '2'],
    ['server2', 'server', '127.0.0.1', '4'],
    ['client', 'client', 'scraper', '3'],
    ['san-client', 'client_san', 'san-scraper', '5'],
  ] as const) {
    openssl('req', '-new', ...cnf, ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '2', '-extfile', 'openssl.cnf', '-extensions', ext, '-out', `${name}.crt`);
  }
  openssl('req', '-x509', ...cnf, '-extensions', 'client', ...ec, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=rogue');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    ca: read('ca.crt'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    rogueCert: read('rogue.crt'),
    rogueKey: read('rogue.key'),
    sanClientCert: read('san-client.crt'),
    sanClientKey: read('san-client.key'),
    path: (name) => join(dir, name),
  };
}
