/** src/supervisor/supervised-exporter.ts urlHost: the exporter's URL host for the daemon's bound address. */
import { describe, expect, it } from 'vitest';
import { urlHost } from '../../src/supervisor/supervised-exporter.js';

describe('urlHost', () => {
  it('reaches a wildcard address (every interface, 0.0.0.0, ::) on 127.0.0.1', () => {
    expect([urlHost({ host: undefined, port: 9798 }), urlHost({ host: '0.0.0.0', port: 1 }), urlHost({ host: '::', port: 2 })]).toEqual(['127.0.0.1:9798', '127.0.0.1:1', '127.0.0.1:2']);
  });

  it('keeps a specific host, an IPv6 one in brackets', () => {
    expect([urlHost({ host: '127.0.0.2', port: 80 }), urlHost({ host: '::1', port: 9798 }), urlHost({ host: 'localhost', port: 3 })]).toEqual(['127.0.0.2:80', '[::1]:9798', 'localhost:3']);
  });
});
