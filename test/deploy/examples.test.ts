/**
 * The deployment examples in deploy/ are read as an operator would copy them: the Kubernetes
 * sidecar shares the pod's pid namespace and a tmpfs directory with the app at the path it is told
 * to read, and its probes answer on the real daemon started with the example's own arguments; the
 * systemd unit runs as the app's user on /run, and a real Python writer shows why that user matters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { peerAvailableUnderCi, peers } from '../helpers/peers.js';
import { get, selfValue, until } from '../helpers/scrape.js';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
const tmp = mkdtempSync(join(tmpdir(), 'mpe-deploy-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Probe {
  httpGet: { path: string; port: number | string };
}
interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value: string }[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: Record<string, unknown>;
}
interface PodSpec {
  shareProcessNamespace?: boolean;
  securityContext?: { runAsUser?: number; runAsGroup?: number };
  containers: Container[];
  volumes: { name: string; emptyDir?: { medium?: string; sizeLimit?: string } }[];
}
interface Deployment {
  kind: string;
  spec: { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } };
}

const deployment = parse(readFileSync(join(DEPLOY, 'kubernetes', 'deployment.yaml'), 'utf8')) as Deployment;
const pod = deployment.spec.template.spec;
const sidecar = pod.containers.find((c) => c.name === 'multiproc-exporter')!;
const app = pod.containers.find((c) => c.name !== 'multiproc-exporter')!;

/** `--name=value` of a container's args. */
function flag(c: Container, name: string): string | undefined {
  const arg = (c.args ?? []).find((a) => a.startsWith(`--${name}=`));
  return arg?.slice(name.length + 3);
}

function port(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

describe('kubernetes/deployment.yaml', () => {
  it('is a Deployment with the app and the exporter sidecar', () => {
    expect(deployment.kind).toBe('Deployment');
    expect(pod.containers.map((c) => c.name)).toEqual(['app', 'multiproc-exporter']);
  });

  it('shares the pod pid namespace, and one uid and gid for both containers (so the sidecar may read the workers /proc/<pid>/maps)', () => {
    expect(pod.shareProcessNamespace).toBe(true);
    expect(pod.securityContext?.runAsUser).toBe(10001);
    expect(pod.securityContext?.runAsGroup).toBe(10001);
    // No container overrides the pod's ids; the sidecar gets no capability (no CAP_SYS_PTRACE).
    expect(pod.containers.map((c) => c.securityContext ?? {})).toEqual([
      {},
      { readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    ]);
  });

  it('puts the metrics directory on a bounded tmpfs emptyDir', () => {
    expect(pod.volumes).toEqual([{ name: 'metrics', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }]);
  });

  it("the sidecar's --dir is the app's mount of that volume and its PROMETHEUS_MULTIPROC_DIR", () => {
    const appMount = app.volumeMounts!.find((m) => m.name === 'metrics')!;
    const sidecarMount = sidecar.volumeMounts!.find((m) => m.name === 'metrics')!;
    expect(appMount.mountPath).toBe('/run/metrics');
    expect(flag(sidecar, 'dir')).toBe(appMount.mountPath);
    expect(sidecarMount).toEqual({ name: 'metrics', mountPath: appMount.mountPath, readOnly: true });
    expect(app.env).toEqual([{ name: 'PROMETHEUS_MULTIPROC_DIR', value: appMount.mountPath }]);
  });

  it('probes the health port, and Prometheus is pointed at the metrics port', () => {
    const health = port(flag(sidecar, 'web.health-address')!);
    const metrics = port(flag(sidecar, 'web.listen-address')!);
    expect([metrics, health]).toEqual([9798, 9799]);
    expect(sidecar.ports).toEqual([
      { name: 'metrics', containerPort: metrics },
      { name: 'health', containerPort: health },
    ]);
    expect(sidecar.readinessProbe!.httpGet).toEqual({ path: '/readiness', port: health });
    expect(sidecar.livenessProbe!.httpGet).toEqual({ path: '/liveness', port: health });
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe(String(metrics));
  });

  it("the probes' paths answer 200 on the health listener of a daemon started with the sidecar's own arguments", async () => {
    const dir = mkdtempSync(join(tmp, 'k8s-'));
    // Only the directory and the addresses change (to a temporary one and loopback ports).
    const rewritten: string[] = [];
    const args = sidecar.args!.map((a) => {
      const m = /^--(dir|web\.listen-address|web\.health-address)=/.exec(a);
      if (m === null) return a;
      rewritten.push(m[1]!);
      return `--${m[1]}=${m[1] === 'dir' ? dir : '127.0.0.1:0'}`;
    });
    expect(args[0]).toBe('serve');
    expect(rewritten).toEqual(['dir', 'web.listen-address', 'web.health-address']);
    const d = await startDaemon(args.slice(1), { noListenFlag: true });
    try {
      expect(d.healthUrl).not.toBe(d.url);
      for (const probe of [sidecar.livenessProbe!, sidecar.readinessProbe!]) {
        const r = await until(`${probe.httpGet.path} 200`, async () => {
          const reply = await get(`${d.healthUrl}${probe.httpGet.path}`);
          return reply.status === 200 ? reply : undefined;
        });
        expect((JSON.parse(r.body) as { status: string }).status).toBe(probe.httpGet.path === '/liveness' ? 'ok' : 'ready');
      }
    } finally {
      await d.stop();
    }
  });
});

/** `Key=Value` lines of a unit file, by section; a repeated key keeps every value in order. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) {
      sections.set(section[1]!, (current = new Map<string, string[]>()));
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

describe('systemd/multiproc-exporter.service', () => {
  const unit = parseUnit(readFileSync(join(DEPLOY, 'systemd', 'multiproc-exporter.service'), 'utf8'));
  const service = unit.get('Service')!;

  it("runs as the app's user and group (not a DynamicUser), still hiding every other user's processes", () => {
    expect(service.get('DynamicUser')).toBeUndefined();
    expect(service.get('User')).toEqual(['myapp']);
    expect(service.get('Group')).toEqual(['myapp']);
    expect(service.get('ProtectProc')).toEqual(['invisible']);
    expect(service.get('RemoveIPC')).toBeUndefined();
    expect(service.get('SystemCallFilter')).toEqual(['@system-service', '~process_vm_readv process_vm_writev']);
    expect(service.get('CapabilityBoundingSet')).toEqual(['']);
  });

  it('reads a directory on /run (tmpfs), the only path it names, read-only', () => {
    const exec = service.get('ExecStart')!;
    expect(exec).toEqual(['/usr/local/bin/multiproc-exporter serve --dir /run/myapp/metrics']);
    expect(service.get('ReadOnlyPaths')).toEqual(['/run/myapp/metrics']);
    expect(service.get('ProtectSystem')).toEqual(['strict']);
  });
});

// ---- why the unit's User= matters: a real Python writer, seen by daemons under two users -----

const { python } = peers();
const IS_ROOT = process.getuid?.() === 0;
const APP = { uid: 10001, gid: 10001 };
/** What DynamicUser=yes gives the exporter: some other uid and gid. */
const OTHER = { uid: 10002, gid: 10002 };

/** A Python prometheus_client writer as APP: a counter and a livesum gauge, held until killed. */
function pythonWriter(dir: string): { child: ChildProcess; ready: Promise<void> } {
  const code = [
    'import sys',
    'from prometheus_client import Counter, Gauge',
    "Counter('jobs', 'Jobs.').inc(3)",
    "Gauge('in_flight', 'In flight.', multiprocess_mode='livesum').set(2)",
    "print('ready', flush=True)",
    'sys.stdin.read()',
  ].join('\n');
  const child = spawn(python.command, ['-c', code], { env: { ...process.env, PROMETHEUS_MULTIPROC_DIR: dir }, stdio: ['pipe', 'pipe', 'inherit'], ...APP });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`python writer exited ${code} before it was ready`)));
  });
  return { child, ready };
}

async function metrics(d: Daemon): Promise<string> {
  return (await get(`${d.url}/metrics`)).body;
}

/** The merged `in_flight` sample line, or undefined when it is not served. */
function inFlight(body: string): string | undefined {
  return body.split('\n').find((l) => l.startsWith('in_flight '));
}

describe("the exporter's user decides whether a Python writer's death is seen", () => {
  peerAvailableUnderCi(python);
  it('the test runs as root (to run the writer and the daemons as other users) when CI=true', () => {
    expect(IS_ROOT || process.env['CI'] !== 'true').toBe(true);
  });

  it.skipIf(!python.available || !IS_ROOT)("as the app's uid and gid its files are live and its livesum leaves at its death; as another user they stay unknown and counted", async () => {
    const dir = mkdtempSync(join(tmp, 'uid-'));
    chmodSync(tmp, 0o755);
    chmodSync(dir, 0o777);
    const writer = pythonWriter(dir);
    await writer.ready;
    const same = await startDaemon(['--dir', dir], APP);
    const other = await startDaemon(['--dir', dir], OTHER);
    try {
      // Both read the files (0644); only the app's user may read the writer's /proc/<pid>/maps.
      const sameBody = await until('writer live for the same user', async () => {
        const b = await metrics(same);
        return selfValue(b, 'writer_files', { state: 'live' }) === 2 ? b : undefined;
      });
      expect(inFlight(sameBody)).toBe('in_flight 2');
      const otherBody = await metrics(other);
      expect(selfValue(otherBody, 'writer_files', { state: 'live' })).toBe(0);
      expect(selfValue(otherBody, 'writer_files', { state: 'unknown' })).toBe(2);
      expect(inFlight(otherBody)).toBe('in_flight 2');

      writer.child.kill('SIGKILL');
      await until('the same-user daemon drops the dead livesum', async () => (inFlight(await metrics(same)) === undefined ? true : undefined), 20_000);
      const afterDeath = await metrics(same);
      expect(afterDeath.split('\n').filter((l) => l.startsWith('jobs_total '))).toEqual(['jobs_total 3']);
      // Beyond the once-a-second walk over /proc: the other user still counts the dead writer's gauge.
      await new Promise((r) => setTimeout(r, 1500));
      const otherAfter = await metrics(other);
      expect(inFlight(otherAfter)).toBe('in_flight 2');
      expect(selfValue(otherAfter, 'writer_files', { state: 'unknown' })).toBe(2);
    } finally {
      writer.child.kill('SIGKILL');
      await Promise.all([same.stop(), other.stop()]);
    }
  });
});
