/**
 * PEM checks for the server certificate, its key and the client CA bundle, so that a wrong file is
 * a startup error naming it and saying what is wrong (unreadable or empty, no certificate in it,
 * cert and key swapped, an encrypted key, a key that does not match the certificate) instead of a
 * failed handshake at scrape time. Each check reports through a `Fail` that already knows where.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { describeFsError, errorMessage } from './config-file.js';
import { readRegularFile } from './regular-file.js';

/** A failure at a place already known: the message is all that is left to say. */
export type Fail = (message: string) => never;

/** A PEM file's text: a regular file of at most 1 MiB (regular-file.ts), not blank. */
export function readPem(file: string, fail: Fail): string {
  let text: string;
  try {
    text = readRegularFile(file);
  } catch (err) {
    fail(`${file}: cannot read: ${describeFsError(err)}`);
  }
  if (text.trim() === '') fail(`${file}: file is empty`);
  return text;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export function parseCertificates(pem: string, fail: Fail): X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    const hint = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem) ? ' (it holds a private key; are the cert and key swapped?)' : '';
    fail(`no PEM certificate found${hint}`);
  }
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      return fail(`certificate #${i + 1} is not a valid X.509 certificate: ${errorMessage(err)}`);
    }
  });
}

export function validateKeyPair(certPem: string, keyPem: string, certFail: Fail, keyFail: Fail): void {
  const certs = parseCertificates(certPem, certFail);
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(keyPem)) {
    keyFail('encrypted private keys are not supported; decrypt it (openssl pkey -in key.enc -out key.pem)');
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(keyPem)) {
    const hint = /-----BEGIN CERTIFICATE-----/.test(keyPem) ? ' (it holds a certificate; are the cert and key swapped?)' : '';
    keyFail(`no PEM private key found${hint}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (err) {
    keyFail(`not a valid private key: ${errorMessage(err)}`);
  }
  const leaf = certs[0] as X509Certificate;
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(key);
  } catch {
    matches = false;
  }
  if (!matches) {
    keyFail(`private key does not match the certificate (subject ${JSON.stringify(leaf.subject.replace(/\n/g, ', '))})`);
  }
}
