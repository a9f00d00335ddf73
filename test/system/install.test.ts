/**
 * The npm package as a user gets it: `npm pack` (its prepack builds the prebuilt addon) in a copy
 * of this checkout, then the tarball installed into an empty prefix with a PATH that holds only
 * node, npm and sh (no cc, c++, make or python3), and the installed `render` and `serve` run over
 * a real fixture:
 * - installed normally, the install script takes the prebuilt addon and compiles nothing, and
 *   the exporter reports `native="prebuilt"`;
 * - installed with --ignore-scripts, the prebuilt addon is still found at run time; without it (a
 *   platform no prebuilt fits) the install script tries to compile, cannot, only warns, and the
 *   exporter serves the same samples with plain reads (`native="none"`).
 *
 * Dependencies come from the npm cache `npm ci` filled (--prefer-offline); npm asks the registry
 * only for what the cache lacks. Packing runs tsc and the addon's compile: a build, bounded at
 * 240 s (~80 s alone on a loaded 2-core machine, ~140 s there under the whole suite); each
 * scenario after it is bounded at 60 s.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { parseExposition, sampleLines } from '../helpers/parse-exposition.js';
import { get, mergedLines, selfValue } from '../helpers/scrape.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'v025-counter_basic');
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
/** The only platform shipped (docs/install.md): this test runs on it. */
const PREBUILT = `prebuilds/${process.platform}-${process.arch}/multiproc_mmap.napi.glibc.node`;

const tmp = mkdtempSync(join(tmpdir(), 'mpe-install-'));
const running: Daemon[] = [];
afterAll(async () => {
  await Promise.all(running.map((d) => d.stop()));
  rmSync(tmp, { recursive: true, force: true });
});

/** The first executable `name` on this PATH. */
function which(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not on PATH`);
}

/** A directory holding only node, npm and sh: the PATH of a machine with no compiler. */
const BIN_DIR = join(tmp, 'bin');
mkdirSync(BIN_DIR);
for (const [name, target] of [
  ['node', process.execPath],
  ['npm', which('npm')],
  ['sh', '/bin/sh'],
] as const) {
  symlinkSync(target, join(BIN_DIR, name));
}

/** The environment npm and the exporter get: this PATH, HOME (the npm cache) and nothing from the npm running the tests. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: BIN_DIR, HOME: process.env.HOME ?? tmp, ...extra };
  for (const k of ['TMPDIR', 'npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']) if (process.env[k]) env[k] = process.env[k];
  return env;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 50_000): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout });
  if (r.error) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}\n${r.stdout}${r.stderr}`);
  return r;
}

function expectedLines(): string[] {
  return sampleLines(parseExposition(readFileSync(join(FIXTURE, 'expected.txt'), 'utf8')).samples);
}

/** The fixture's .db files (written by prometheus_client 0.25 in 3 processes) in a fresh directory. */
function fixtureDir(name: string): string {
  const dir = join(tmp, name);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => src === FIXTURE || src.endsWith('.db') });
  return dir;
}

/** npm install of the tarball into an empty prefix; returns the installed package's directory and npm's output. */
function install(prefix: string, flags: string[], extraEnv: Record<string, string> = {}): { pkgDir: string; output: string } {
  mkdirSync(prefix);
  const r = run('npm', ['install', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', ...flags], tmp, bareEnv(extraEnv));
  const output = `${r.stdout}${r.stderr}`;
  expect(r.status, output).toBe(0);
  return { pkgDir: join(prefix, 'node_modules', PKG.name), output };
}

function render(prefix: string, dir: string): SpawnSyncReturns<string> {
  return run(join(prefix, 'node_modules', '.bin', 'multiproc-exporter'), ['render', '--dir', dir], tmp, bareEnv(), 30_000);
}

async function serve(prefix: string, dir: string): Promise<Daemon> {
  const bin = join(prefix, 'node_modules', '.bin', 'multiproc-exporter');
  const env: Record<string, string | undefined> = { ...Object.fromEntries(Object.keys(process.env).map((k) => [k, undefined])), ...bareEnv() };
  const d = await startDaemon(['--dir', dir], { bin, env, timeoutMs: 20_000 });
  running.push(d);
  return d;
}

let tarball = '';
let packedFiles: string[] = [];

beforeAll(() => {
  // A copy of what `npm pack` reads, so its prepare (tsc) and prepack (the addon) never rewrite
  // this checkout's dist/ while other test files run it.
  const stage = join(tmp, 'stage');
  mkdirSync(stage);
  for (const entry of ['package.json', 'package-lock.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'src']) cpSync(join(ROOT, entry), join(stage, entry), { recursive: true });
  const buildTree = join(ROOT, 'native', 'build');
  cpSync(join(ROOT, 'native'), join(stage, 'native'), { recursive: true, filter: (src) => src !== buildTree && !src.startsWith(buildTree + sep) });
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'));
  const out = join(tmp, 'out');
  mkdirSync(out);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') || k === 'npm_config_cache'));
  const r = run('npm', ['pack', '--json', '--pack-destination', out], stage, env, 230_000);
  expect(r.status, r.stderr).toBe(0);
  const [packed] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(out, packed!.filename);
  packedFiles = packed!.files.map((f) => f.path).sort();
}, 240_000);

describe('the npm package', () => {
  it('holds the prebuilt addon for this platform, the addon sources, dist/, the push .proto files and nothing of a build tree or the TypeScript sources', () => {
    expect(packedFiles.filter((f) => !f.startsWith('dist/'))).toEqual(
      [
        'README.md',
        'bin/multiproc-exporter',
        'native/addon.mjs',
        'native/binding.gyp',
        'native/build.mjs',
        'native/mmap.cc',
        'native/mmap_core.cc',
        'native/mmap_core.h',
        'package.json',
        'src/push/proto/README.md',
        'src/push/proto/opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
        'src/push/proto/opentelemetry/proto/common/v1/common.proto',
        'src/push/proto/opentelemetry/proto/metrics/v1/metrics.proto',
        'src/push/proto/opentelemetry/proto/resource/v1/resource.proto',
        'src/push/proto/prompb/remote.proto',
        'src/push/proto/prompb/types.proto',
        PREBUILT,
      ].sort(),
    );
    expect(packedFiles).toContain('dist/cli.js');
    expect(packedFiles).toContain('dist/native.js');
  });

  it('the PATH the installs get has no compiler, make or python', () => {
    const r = run(join(BIN_DIR, 'sh'), ['-c', 'for c in cc c++ gcc g++ clang make python3 python; do command -v "$c"; done; exit 0'], tmp, bareEnv());
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: '' });
  });
});

describe('installed without a compiler', () => {
  it('the install script takes the prebuilt addon (compiling nothing); render and serve use it', { timeout: 60_000 }, async () => {
    // REQUIRE_NATIVE: had it tried to compile, the install would fail.
    const prefix = join(tmp, 'prefix-prebuilt');
    const { pkgDir, output } = install(prefix, [], { MULTIPROC_EXPORTER_REQUIRE_NATIVE: '1' });
    expect(output).toContain(`\nmultiproc-exporter: using the prebuilt native addon ${PREBUILT} (${process.platform}-${process.arch} glibc; nothing to compile)\n`);
    expect(existsSync(join(pkgDir, 'native', 'build'))).toBe(false);

    const dir = fixtureDir('fixture-prebuilt');
    const r = render(prefix, dir);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' }); // no "native mmap addon unavailable" line
    expect(mergedLines(r.stdout)).toEqual(expectedLines());

    const d = await serve(prefix, dir);
    const start = d.logs.find((l) => l['msg'] === 'multiproc-exporter started')!;
    expect({ native: start['native'], nativeAddon: start['nativeAddon'] }).toEqual({ native: 'prebuilt', nativeAddon: join(pkgDir, PREBUILT) });
    const body = (await get(`${d.url}/metrics`)).body;
    expect(mergedLines(body)).toEqual(expectedLines());
    expect(selfValue(body, 'build_info', { native: 'prebuilt', nodejs_version: process.version, version: PKG.version })).toBe(1);
    expect(await d.stop()).toBe(0);
  });

  it('with --ignore-scripts the prebuilt addon is found at run time; without one, the build fails with a warning and plain reads serve the same samples', { timeout: 60_000 }, async () => {
    const prefix = join(tmp, 'prefix-none');
    const { pkgDir, output } = install(prefix, ['--ignore-scripts']);
    expect(output).not.toContain('multiproc-exporter: using the prebuilt');
    const dir = fixtureDir('fixture-none');
    const withPrebuilt = render(prefix, dir);
    expect({ status: withPrebuilt.status, stderr: withPrebuilt.stderr }).toEqual({ status: 0, stderr: '' });
    expect(mergedLines(withPrebuilt.stdout)).toEqual(expectedLines());

    // A platform no prebuilt fits: the install script compiles, which needs what PATH lacks.
    rmSync(join(pkgDir, 'prebuilds'), { recursive: true });
    const rebuild = run('npm', ['rebuild', '--prefix', prefix, PKG.name, '--foreground-scripts'], tmp, bareEnv());
    expect(rebuild.status, rebuild.stdout + rebuild.stderr).toBe(0);
    const log = rebuild.stdout + rebuild.stderr;
    expect(log).toContain(`\nmultiproc-exporter: no prebuilt native addon for ${process.platform}-${process.arch} glibc in this package: compiling it\n`);
    expect(log).toContain('\nmultiproc-exporter: WARNING: could not build the native mmap addon: node-gyp rebuild exited with 1 (needs python3, make and a C++17 compiler); last output:\n');
    expect(log).toContain('\nmultiproc-exporter: the exporter (reader) still works: it falls back to plain file reads.\n');

    const plain = render(prefix, dir);
    const compiled = join(pkgDir, 'native', 'build', 'Release', 'multiproc_mmap.node');
    expect({ status: plain.status, stderr: plain.stderr }).toEqual({
      status: 0,
      stderr:
        `multiproc-exporter: native mmap addon unavailable (native addon not built (${compiled} missing; run \`node native/build.mjs\`); ` +
        `and not prebuilt for ${process.platform}-${process.arch} glibc (${join(pkgDir, PREBUILT)} missing)); reading files with plain reads\n`,
    });
    expect(mergedLines(plain.stdout)).toEqual(expectedLines());

    const d = await serve(prefix, dir);
    const start = d.logs.find((l) => l['msg'] === 'multiproc-exporter started')!;
    expect({ native: start['native'], nativeAddon: start['nativeAddon'] }).toEqual({ native: 'none', nativeAddon: null });
    const body = (await get(`${d.url}/metrics`)).body;
    expect(mergedLines(body)).toEqual(expectedLines());
    expect(selfValue(body, 'build_info', { native: 'none', nodejs_version: process.version, version: PKG.version })).toBe(1);
    expect(await d.stop()).toBe(0);
  });
});
