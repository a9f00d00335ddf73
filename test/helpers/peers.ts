/**
 * The real peers the tests run against (Debian packages, installed by .ci/run). Under CI=true a
 * missing peer is a failure (see `peerAvailableUnderCi`); locally its tests skip with a reason.
 */
import { spawnSync } from 'node:child_process';
import { it, expect } from 'vitest';

export const IN_CI = process.env['CI'] === 'true';

export interface Peer {
  readonly name: string;
  readonly debianPackage: string;
  readonly available: boolean;
  readonly command: string;
}

function probe(name: string, debianPackage: string, command: string, args: string[]): Peer {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 20_000 });
  const available = r.status === 0;
  if (!available && !IN_CI) {
    console.warn(`${name} tests skipped: \`${command} ${args.join(' ')}\` failed; install Debian's ${debianPackage}`);
  }
  return { name, debianPackage, available, command };
}

let cache: Record<string, Peer> | undefined;

export function peers(): { promtool: Peer; python: Peer; ruby: Peer; chromium: Peer } {
  cache ??= {
    promtool: probe('promtool', 'prometheus', '/usr/bin/promtool', ['--version']),
    // Debian's interpreter, not a pyenv shim: the package lives in its dist-packages.
    python: probe('python prometheus_client', 'python3-prometheus-client', '/usr/bin/python3', ['-c', 'import prometheus_client']),
    ruby: probe('ruby prometheus-client-mmap', 'ruby-prometheus-client-mmap', '/usr/bin/ruby', ['-e', 'require "prometheus/client"']),
    // Headless, driven by playwright-core (which never downloads a browser of its own here).
    chromium: probe('chromium', 'chromium', '/usr/bin/chromium', ['--version']),
  };
  return cache as { promtool: Peer; python: Peer; ruby: Peer; chromium: Peer };
}

/** A test that fails under CI when the peer is missing (so a skip can never hide it there). */
export function peerAvailableUnderCi(peer: Peer): void {
  it(`${peer.name} (${peer.debianPackage}) is installed when CI=true`, () => {
    expect(peer.available || !IN_CI).toBe(true);
  });
}
