/**
 * The TLS client-certificate policy checked on every request: what the handshake cannot enforce
 * for the configured client_auth_type (a certificate present for RequireAnyClientCert; verified if
 * present for VerifyClientCertIfGiven), and `client_allowed_sans`, which admits a certificate only
 * when one of its subject alternative names (DNS, e-mail, IP, URI), written as Go's crypto/x509
 * prints it, equals an entry of the list, exactly as exporter-toolkit compares them.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { TlsSettings } from './config.js';

/** The answer to a request the policy refuses (403). */
export const CLIENT_CERT_REQUIRED = 'a valid client certificate is required';
export const CLIENT_SAN_NOT_ALLOWED = 'the client certificate has no subject alternative name listed in client_allowed_sans';

/**
 * Why a request on this TLS socket may not proceed under the configured policy, or null when it
 * may. The handshake already enforces NoClientCert / RequestClientCert / RequireAndVerifyClientCert;
 * the server must call this for RequireAnyClientCert (a certificate must be present, any issuer),
 * VerifyClientCertIfGiven (no certificate, or one that verified against client_ca_file) and
 * client_allowed_sans (a certificate must be present, with an allowed SAN), and answer 403 when it
 * is not null.
 */
export function clientCertRefusal(tls: TlsSettings, socket: TLSSocket): string | null {
  let allowed: boolean;
  switch (tls.clientAuthType) {
    case 'NoClientCert':
    case 'RequestClientCert':
      allowed = true;
      break;
    case 'RequireAnyClientCert':
      allowed = hasPeerCertificate(socket);
      break;
    case 'VerifyClientCertIfGiven':
      allowed = !hasPeerCertificate(socket) || socket.authorized;
      break;
    case 'RequireAndVerifyClientCert':
      allowed = hasPeerCertificate(socket) && socket.authorized;
      break;
  }
  if (!allowed) return CLIENT_CERT_REQUIRED;
  if (tls.clientAllowedSans.length === 0) return null;
  // As exporter-toolkit (which checks in the handshake): without a certificate there is no SAN to match.
  if (!hasPeerCertificate(socket)) return CLIENT_CERT_REQUIRED;
  const sans = socket.getPeerX509Certificate()?.subjectAltName;
  if (sans === undefined) return CLIENT_SAN_NOT_ALLOWED;
  for (const san of subjectAltNames(sans)) if (tls.clientAllowedSans.includes(san)) return null;
  return CLIENT_SAN_NOT_ALLOWED;
}

/** Whether a request on this TLS socket may proceed: clientCertRefusal(…) === null. */
export function clientCertAllowed(tls: TlsSettings, socket: TLSSocket): boolean {
  return clientCertRefusal(tls, socket) === null;
}

function hasPeerCertificate(socket: TLSSocket): boolean {
  // Node returns {} (or null on a closed socket) when the client sent no certificate.
  const cert = socket.getPeerCertificate() as Partial<PeerCertificate> | null;
  return cert !== null && cert !== undefined && cert.raw !== undefined && cert.raw.length > 0;
}

/**
 * The DNS, e-mail, IP and URI names of a certificate, from Node's `subjectAltName` text
 * (`DNS:a, IP Address:0:0:0:0:0:0:0:1, email:"x\u002cy"`: comma-separated `Type:value`, a value
 * that needs it JSON-quoted), in the form Go's crypto/x509 gives them: IPs as `net.IP.String()`
 * prints them (`::1`, an IPv4-mapped address as `1.2.3.4`). Other kinds (DirName, othername, …)
 * are left out, as Go leaves them out. Unparseable text yields what was read before it.
 */
export function subjectAltNames(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      end = j + 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        break;
      }
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    if (type === 'DNS' || type === 'email' || type === 'URI') out.push(value);
    else if (type === 'IP Address') {
      const ip = goIpString(value);
      if (ip !== null) out.push(ip);
    }
    i = end + 2; // past ", "
  }
  return out;
}

/** An IP address as Go's net.IP.String() prints it, or null if it is not one. */
export function goIpString(text: string): string | null {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text;
  const words = ipv6Words(text);
  if (words === null) return null;
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    const [hi, lo] = [words[6] as number, words[7] as number];
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  // RFC 5952: the longest run of two or more zero words (the first of equals) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let s = 0; s < 8; ) {
    if (words[s] !== 0) {
      s++;
      continue;
    }
    let e = s;
    while (e < 8 && words[e] === 0) e++;
    if (e - s > bestLen) [best, bestLen] = [s, e - s];
    s = e;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The eight 16-bit words of an IPv6 address in hex notation (with or without "::"), or null. */
function ipv6Words(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return null;
    return groups.map((g) => parseInt(g, 16));
  };
  const head = parse(halves[0] as string);
  const tail = halves.length === 2 ? parse(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const zeros = 8 - head.length - tail.length;
  return zeros < 1 ? null : [...head, ...new Array<number>(zeros).fill(0), ...tail];
}
