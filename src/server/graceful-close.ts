/**
 * Shutdown that keeps its promise: stop accepting connections, let every response in flight
 * finish and reach the client (its bytes flushed, however slowly the client reads, within the
 * grace), close idle keep-alive connections, and only at the deadline cut what is left.
 *
 * node's own `server.close()` is not enough: since Node 19 it also closes "idle" connections at
 * once, and a connection whose response has been handed to the socket but not yet flushed counts
 * as idle — a large scrape read slowly was cut ~100 ms after SIGTERM.
 */
import type { Server } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/** How often connections are looked at during a shutdown, ms. */
const POLL_MS = 25;

export class GracefulClose {
  private readonly sockets = new Set<Socket>();
  /** Requests whose response has not finished yet, per socket. */
  private readonly busy = new Map<Socket, number>();
  private closing = false;

  constructor(private readonly server: Server) {
    const track = (socket: Socket): void => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.busy.delete(socket);
      });
    };
    // Under TLS the requests (and their bytes) are on the TLS sockets, not on the TCP ones below.
    if ('setSecureContext' in server) server.on('secureConnection', track);
    else server.on('connection', track);
    server.on('request', (req, res) => {
      const socket = req.socket;
      this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
      if (this.closing) res.setHeader('Connection', 'close');
      res.once('close', () => {
        const n = (this.busy.get(socket) ?? 1) - 1;
        if (n <= 0) this.busy.delete(socket);
        else this.busy.set(socket, n);
      });
    });
  }

  /** Whether a shutdown has begun (readiness says so). */
  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Refuse new connections, end each connection once it has no request in flight and nothing
   * left to flush, and destroy what remains after `graceMs`. Resolves when every connection is
   * gone; `cut` is how many had to be destroyed.
   */
  close(graceMs: number): Promise<{ cut: number }> {
    this.closing = true;
    // net's close: stop accepting, without node:http's immediate cut of "idle" connections.
    NetServer.prototype.close.call(this.server);
    const deadline = Date.now() + graceMs;
    return new Promise((resolve) => {
      const tick = (): void => {
        for (const socket of this.sockets) {
          if (socket.destroyed || socket.writableEnded) continue;
          if (!this.busy.has(socket) && socket.writableLength === 0) socket.end();
        }
        if (this.sockets.size === 0) return resolve({ cut: 0 });
        if (Date.now() >= deadline) {
          const cut = this.sockets.size;
          for (const socket of this.sockets) socket.destroy();
          return resolve({ cut });
        }
        setTimeout(tick, POLL_MS);
      };
      tick();
    });
  }
}
