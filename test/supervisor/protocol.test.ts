/** src/supervisor/protocol.ts parseDaemonMessage: what the supervisor accepts on the IPC channel. */
import { describe, expect, it } from 'vitest';
import { parseDaemonMessage } from '../../src/supervisor/protocol.js';

/** As Node's IPC channel delivers it (JSON: an undefined host is left out). */
const overChannel = (m: unknown): unknown => JSON.parse(JSON.stringify(m));

describe('parseDaemonMessage', () => {
  it('reads the started message with its addresses as {host, port}', () => {
    const m = { type: 'multiproc-exporter:started', listen: { host: '127.0.0.1', port: 41234 }, health: { host: '::1', port: 9799 }, tls: true, telemetryPath: '/m' };
    expect(parseDaemonMessage(overChannel(m))).toEqual(m);
  });

  it('reads an address on every interface (no host) back with host undefined', () => {
    const m = { type: 'multiproc-exporter:started', listen: { host: undefined, port: 9798 }, health: { host: undefined, port: 9798 }, tls: false, telemetryPath: '/metrics' };
    const parsed = parseDaemonMessage(overChannel(m));
    expect(parsed).toStrictEqual(m);
  });

  it('reads the start-failed message', () => {
    expect(parseDaemonMessage({ type: 'multiproc-exporter:start-failed', message: 'bad flag' })).toEqual({ type: 'multiproc-exporter:start-failed', message: 'bad flag' });
  });

  it.each([
    ['an address as a string', { listen: '127.0.0.1:9798' }],
    ['a port that is not a whole number', { listen: { host: '127.0.0.1', port: 1.5 } }],
    ['a port above 65535', { health: { port: 65536 } }],
    ['a host that is not a string', { listen: { host: 7, port: 1 } }],
    ['no health address', { health: undefined }],
    ['tls not a boolean', { tls: 'yes' }],
  ])('ignores a started message with %s', (_, change) => {
    const m = { type: 'multiproc-exporter:started', listen: { host: '127.0.0.1', port: 1 }, health: { host: '127.0.0.1', port: 1 }, tls: false, telemetryPath: '/metrics', ...change };
    expect(parseDaemonMessage(overChannel(m))).toBe(null);
  });

  it('ignores anything else on the channel', () => {
    expect([null, 'x', 3, {}, { type: 'other' }, { type: 'multiproc-exporter:start-failed' }].map(parseDaemonMessage)).toEqual([null, null, null, null, null, null]);
  });
});
