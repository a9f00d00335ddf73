/**
 * Clients that hold a connection or overload the request line, against the real daemon binary:
 * a TCP client that connects to the TLS port and never starts the handshake is closed after
 * --web.header-timeout (not node's default 120 s), and so is one that completes it and sends
 * nothing; more than 100 request header fields or more than 16 KiB of them are answered 431 with
 * a body naming the limit (not silently dropped headers, not a bare 400); an HTTP/1.1 request
 * without Host is a 400 that says so.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../helpers/certs.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';

const tmp = mkdtempSync(join(tmpdir(), 'mpe-hostile-clients-'));
const certs = makeCerts(join(tmp, 'certs'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

async function daemon(args: string[]): Promise<Daemon & { port: number }> {
  const d = await startDaemon(['--dir', tmp, ...args]);
  running.push(d);
  return Object.assign(d, { port: Number(new URL(d.url).port) });
}

/** Milliseconds from `ready` until the server closed the socket (or `giveUpMs`, then null), and what it sent. */
function timeToClose(socket: Socket, readyEvent: string, giveUpMs: number): Promise<{ ms: number | null; received: string }> {
  return new Promise((resolve) => {
    let received = '';
    let started = Date.now();
    socket.once(readyEvent, () => (started = Date.now()));
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    socket.on('error', () => undefined); // a reset is a close too
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ms: null, received });
    }, giveUpMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - started, received });
    });
  });
}

/** One raw HTTP/1.x exchange on a fresh connection: everything the server sent until it closed or 5 s passed. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.end(request));
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (reply += c));
    socket.setTimeout(5_000, () => socket.destroy());
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
  });
}

const statusAndBody = (reply: string): [string, string] => [reply.split('\r\n', 1)[0] ?? '', reply.slice(reply.indexOf('\r\n\r\n') + 4)];

describe('TLS handshake timeout', () => {
  it('a TCP client that never starts the handshake is closed after --web.header-timeout (1s), within 2 s; HTTPS keeps working', async () => {
    const file = join(tmp, 'tls.yml');
    writeFileSync(file, `tls_server_config:\n  cert_file: ${certs.path('server.crt')}\n  key_file: ${certs.path('server.key')}\n`);
    const d = await daemon(['--web.config.file', file, '--web.header-timeout', '1s', '--web.request-timeout', '2s']);
    const silent = await timeToClose(netConnect(d.port, '127.0.0.1'), 'connect', 6_000);
    expect(silent.received).toBe('');
    expect(silent.ms).not.toBeNull();
    expect(silent.ms!).toBeGreaterThanOrEqual(900);
    expect(silent.ms!).toBeLessThanOrEqual(2_000);

    // Handshake done, then nothing: the header timeout (408) closes it.
    const idle = await timeToClose(tlsConnect({ port: d.port, host: '127.0.0.1', ca: certs.ca }), 'secureConnect', 6_000);
    expect(idle.ms).not.toBeNull();
    expect(idle.ms!).toBeLessThanOrEqual(2_000);

    const ok = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ port: d.port, host: '127.0.0.1', ca: certs.ca }, () => s.end('GET /liveness HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let reply = '';
      s.setEncoding('latin1');
      s.on('data', (c: string) => (reply += c));
      s.on('close', () => resolve(reply));
      s.on('error', reject);
    });
    expect(statusAndBody(ok)).toEqual(['HTTP/1.1 200 OK', '{"status":"ok"}\n']);
  });
});

describe('request header limits', () => {
  const headers = (n: number, host = true): string => `${host ? 'Host: x\r\n' : ''}${Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('')}`;

  it('100 header fields are served; 101 (or Host after 100 others) are 431 naming the limit', async () => {
    const d = await daemon([]);
    // Host, 98 others and Connection: 100.
    expect(statusAndBody(await raw(d.port, `GET /liveness HTTP/1.1\r\n${headers(98)}Connection: close\r\n\r\n`))).toEqual(['HTTP/1.1 200 OK', '{"status":"ok"}\n']);
    const tooMany = ['HTTP/1.1 431 Request Header Fields Too Large', '431 request header fields too large: more than 100 header fields (the limit of this server)\n'];
    expect(statusAndBody(await raw(d.port, `GET /liveness HTTP/1.1\r\n${headers(98)}Connection: close\r\nX-Extra: 1\r\n\r\n`))).toEqual(tooMany);
    expect(statusAndBody(await raw(d.port, `GET /metrics HTTP/1.1\r\n${headers(150, false)}Host: x\r\nConnection: close\r\n\r\n`))).toEqual(tooMany);
  });

  it('more than 16 KiB of header names and values is 431 naming the limit; no Host on HTTP/1.1 is 400 saying so; HTTP/1.0 needs none', async () => {
    const d = await daemon([]);
    const big = await raw(d.port, `GET /liveness HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
    expect(statusAndBody(big)).toEqual(['HTTP/1.1 431 Request Header Fields Too Large', '431 request header fields too large: more than 16384 bytes of header names and values (the limit of this server)\n']);
    expect(statusAndBody(await raw(d.port, 'GET /liveness HTTP/1.1\r\nConnection: close\r\n\r\n'))).toEqual(['HTTP/1.1 400 Bad Request', '400 bad request: no Host header (HTTP/1.1 requires one)\n']);
    expect(statusAndBody(await raw(d.port, 'GET /liveness HTTP/1.0\r\n\r\n'))).toEqual(['HTTP/1.1 200 OK', '{"status":"ok"}\n']);
    expect(statusAndBody(await raw(d.port, 'NOT HTTP\r\n\r\n'))).toEqual(['HTTP/1.1 400 Bad Request', '400 bad request: not a valid HTTP/1.1 request\n']);
  });
});
