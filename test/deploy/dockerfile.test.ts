/**
 * deploy/Dockerfile cannot be built here (no Docker engine), so its shape is checked as text —
 * two stages on the same Node.js, a runtime stage that only copies the installed package, a
 * numeric non-root user, an entry point where npm installs this package's bin — and its
 * HEALTHCHECK command is run as is against a real daemon, up and then stopped.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startDaemon } from '../helpers/daemon.js';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-deploy-dockerfile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions in order: comments dropped, backslash continuations joined. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    pending += (pending === '' ? '' : ' ') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const space = pending.indexOf(' ');
    out.push({ keyword: pending.slice(0, space).toUpperCase(), args: pending.slice(space + 1) });
    pending = '';
  }
  return out;
}

const all = instructions(readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8'));
const stageStarts = all.flatMap((ins, i) => (ins.keyword === 'FROM' ? [i] : []));
const buildStage = all.slice(stageStarts[0], stageStarts[1]);
const runtimeStage = all.slice(stageStarts[1]);
const args = new Map(all.slice(0, stageStarts[0]).filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; bin: Record<string, string>; files: string[]; engines: { node: string } };

function only(stage: Instruction[], keyword: string): string {
  const found = stage.filter((i) => i.keyword === keyword);
  expect(found.length, keyword).toBe(1);
  return found[0]!.args;
}

function image(from: string): string {
  return from.replace(/\$\{(\w+)\}/g, (_m, name: string) => args.get(name) ?? `<${name} unset>`);
}

describe('deploy/Dockerfile', () => {
  it('builds on node:20 with the toolchain and runs on the slim variant of the same image', () => {
    expect(stageStarts).toHaveLength(2);
    expect([image(buildStage[0]!.args), image(runtimeStage[0]!.args)]).toEqual(['node:20-bookworm AS build', 'node:20-bookworm-slim']);
    expect(pkg.engines.node).toBe('>=20.19');
  });

  it('packs the package (compiling the prebuilt addon) and installs the tarball (taking it, or failing) in the build stage', () => {
    const runs = buildStage.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs).toEqual([
      'npm ci --ignore-scripts --no-audit --no-fund',
      'npm pack --pack-destination /tmp && MULTIPROC_EXPORTER_REQUIRE_NATIVE=1 npm install --global --prefix /opt/multiproc-exporter --omit=dev --no-audit --no-fund /tmp/multiproc-exporter-*.tgz',
    ]);
    // What npm pack needs: the manifest, the compiler's configs, and the sources of every "files" entry (dist/ is built from src/, prebuilds/ from native/).
    const copied = buildStage.filter((i) => i.keyword === 'COPY').flatMap((i) => i.args.split(' ').slice(0, -1));
    expect(copied.sort()).toEqual(['bin', 'native', 'package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json']);
    for (const f of pkg.files) expect(copied.includes(f.split('/')[0]!) || f === 'dist' || f === 'prebuilds', f).toBe(true);
  });

  it('the runtime stage only copies the installed package, runs as a numeric non-root user, and starts its bin', () => {
    expect(runtimeStage.filter((i) => i.keyword === 'RUN')).toEqual([]);
    expect(only(runtimeStage, 'COPY')).toBe('--from=build /opt/multiproc-exporter /opt/multiproc-exporter');
    const [uid, gid] = only(runtimeStage, 'USER').split(':').map(Number);
    expect([uid, gid]).toEqual([10001, 10001]);
    const entry = JSON.parse(only(runtimeStage, 'ENTRYPOINT')) as string[];
    expect(entry).toEqual(['node', `/opt/multiproc-exporter/lib/node_modules/${pkg.name}/${pkg.bin['multiproc-exporter']!}`]);
    // The same directory as the Kubernetes example's sidecar reads.
    const deployment = parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'deployment.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: { name: string; args?: string[] }[] } } };
    };
    const sidecar = deployment.spec.template.spec.containers.find((c) => c.name === 'multiproc-exporter')!;
    expect(JSON.parse(only(runtimeStage, 'CMD')) as string[]).toEqual(['serve', '--dir=/run/metrics']);
    expect(sidecar.args!.slice(0, 2)).toEqual(['serve', '--dir=/run/metrics']);
  });

  it('exposes the default port, where the health check looks by default', () => {
    expect(only(runtimeStage, 'EXPOSE')).toBe('9798');
    expect(only(runtimeStage, 'ENV')).toBe('MULTIPROC_EXPORTER_HEALTHCHECK_URL=http://127.0.0.1:9798/liveness');
    const help = spawnSync(process.execPath, [join(ROOT, 'bin', 'multiproc-exporter'), 'serve', '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(help.stdout).toMatch(/--web\.listen-address <host:port>.*\[default: :9798\]/);
  });

  it('its HEALTHCHECK command, run as is with node, exits 0 while /liveness answers 200, else 1 (another status, or the daemon gone)', async () => {
    const healthcheck = only(runtimeStage, 'HEALTHCHECK');
    expect(healthcheck.startsWith('--interval=30s --timeout=5s --start-period=10s --retries=3 CMD [')).toBe(true);
    const command = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4)) as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    const dir = mkdtempSync(join(tmp, 'dir-'));
    const daemon = await startDaemon(['--dir', dir]);
    const run = (path = '/liveness'): number | null =>
      spawnSync(process.execPath, command.slice(1), { env: { ...process.env, MULTIPROC_EXPORTER_HEALTHCHECK_URL: `${daemon.url}${path}` }, timeout: 20_000 }).status;
    try {
      expect(run()).toBe(0);
      expect(run('/no-such-path')).toBe(1); // an answer that is not 2xx
    } finally {
      await daemon.stop();
    }
    expect(run()).toBe(1);
  });
});
