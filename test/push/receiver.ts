/**
 * A scriptable push receiver for the tests: an HTTP(S) server on 127.0.0.1 that records every
 * request (headers and body) and answers as the test says.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly at: number;
}

export type Answer = (req: ReceivedRequest, res: ServerResponse) => void;

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  answer: Answer;
  close(): Promise<void>;
}

export const ok: Answer = (_req, res) => {
  res.writeHead(200);
  res.end();
};

/** Listen on `port` (0: any free one); `tls` makes it HTTPS. */
export function startReceiver(answer: Answer = ok, port = 0, tls?: ServerOptions): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const receiver = { requests, answer } as { requests: ReceivedRequest[]; answer: Answer; url: string; port: number; close: () => Promise<void> };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
      requests.push(r);
      receiver.answer(r, res);
    });
  };
  const server: Server = tls === undefined ? createHttpServer(handler) : (createHttpsServer(tls, handler) as unknown as Server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const p = (server.address() as AddressInfo).port;
      receiver.port = p;
      receiver.url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${p}/api/v1/write`;
      receiver.close = () =>
        new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
      resolve(receiver);
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` every 20 ms until it is true, at most `limitMs`. */
export async function until(check: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
