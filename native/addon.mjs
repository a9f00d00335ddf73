// The native addon's files and how one is made, shared by native/build.mjs (the npm "install"
// script) and native/prebuild.mjs (`npm run build:prebuilt`, run by `npm pack`):
//
//   native/build/Release/multiproc_mmap.node                     compiled here (node-gyp)
//   prebuilds/<platform>-<arch>/multiproc_mmap.napi.<libc>.node  shipped in the npm package
//
// The prebuilt name follows the prebuildify convention (tags: napi = one binary for every
// Node.js with N-API 8, i.e. 20, 22, 24; glibc or musl on Linux). src/native.ts loads either:
// the compiled one first, then the prebuilt one.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PACKAGE_ROOT = path.resolve(here, '..');
export const ADDON_NAME = 'multiproc_mmap';
/** What the addon exports (the same list as EXPORTS in src/native.ts). */
export const EXPORTS = ['mmap', 'munmap', 'msync', 'madvise', 'flock', 'fileSize', 'pageSize', 'faultCount', 'maxLength'];

/** Where node-gyp puts the addon when it builds in `dir` (binding.gyp's directory). */
export function compiledPath(dir = here) {
  return path.join(dir, 'build', 'Release', `${ADDON_NAME}.node`);
}

/** 'glibc' or 'musl' on Linux (Node's report names the glibc it runs on; musl has none), else null. */
export function hostLibc() {
  if (process.platform !== 'linux') return null;
  return process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** The prebuilt addon for this platform: prebuilds/linux-x64/multiproc_mmap.napi.glibc.node. */
export function prebuiltPath(root = PACKAGE_ROOT) {
  const libc = hostLibc();
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `${ADDON_NAME}.napi${libc ? `.${libc}` : ''}.node`);
}

/** Loads `file` into this process and checks its exports; throws an Error saying what is wrong. */
export function checkLoads(file) {
  let addon;
  try {
    addon = createRequire(import.meta.url)(file);
  } catch (err) {
    throw new Error(`${file} does not load: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const missing = EXPORTS.filter((name) => typeof addon[name] !== 'function');
  if (missing.length > 0) throw new Error(`${file} lacks ${missing.join(', ')}`);
}

/** A failed build: what went wrong, and the tail of node-gyp's output. */
export class CompileError extends Error {
  constructor(what, details = '') {
    super(what);
    this.details = details;
  }
}

/** node-gyp.js candidates, best first: the one npm runs scripts with, then the one next to npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // npm_execpath = <npm>/bin/npm-cli.js -> <npm>/node_modules/node-gyp/bin/node-gyp.js
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'));
  }
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a (dev)dependency: fine
  }
  // Run by hand (no npm env): the npm shipped with this Node.
  const prefix = path.resolve(process.execPath, '../..');
  candidates.push(
    path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'), // Windows layout
  );
  return { found: candidates.find((c) => existsSync(c)), candidates };
}

function nodeGypVersion(gypJs) {
  try {
    return JSON.parse(readFileSync(path.resolve(path.dirname(gypJs), '../package.json'), 'utf8')).version;
  } catch {
    return 'unknown version';
  }
}

/**
 * PATH for node-gyp: binding.gyp runs `node -p ...` (any node will do), so this node's directory
 * is appended when no node is on PATH. Only then: it may hold a compiler (/usr/bin) that PATH
 * left out on purpose.
 */
function pathWithNode() {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const hasNode = dirs.some((d) => {
    try {
      accessSync(path.join(d, 'node'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return (hasNode ? dirs : [...dirs, path.dirname(process.execPath)]).join(path.delimiter);
}

/**
 * `node-gyp rebuild` in `dir` (a directory holding binding.gyp and the sources), offline: the
 * node-gyp bundled with npm and the headers of the running Node (<prefix>/include/node), so
 * nothing is downloaded. Returns the built file and how it was built; throws a CompileError.
 */
export function compile(dir = here) {
  if (process.platform === 'win32') throw new CompileError('Windows is not supported (the addon uses POSIX mmap/flock)');
  const { found: nodeGyp, candidates } = findNodeGyp();
  if (!nodeGyp) throw new CompileError('node-gyp not found (it ships with npm); looked in:', candidates.join('\n'));

  // Passing --nodedir explicitly also overrides any nodedir from an npmrc.
  const nodedir = path.resolve(process.execPath, '../..');
  const headers = path.join(nodedir, 'include', 'node');
  const args = [nodeGyp, 'rebuild'];
  let headerNote = `headers ${headers}`;
  if (existsSync(path.join(headers, 'node_api.h'))) {
    args.push(`--nodedir=${nodedir}`);
  } else {
    console.error(
      `multiproc-exporter: note: ${path.join(headers, 'node_api.h')} does not exist (this Node install has no headers, ` +
        'e.g. a distro package without its -dev package); node-gyp will try to download them, which needs network.',
    );
    headerNote = 'downloaded headers';
  }

  const result = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', timeout: 5 * 60_000, env: { ...process.env, PATH: pathWithNode() } });
  const log = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const tail = log
    .trimEnd()
    .split('\n')
    .filter((line) => !line.startsWith('gyp info'))
    .slice(-30)
    .join('\n');
  if (result.error) throw new CompileError(`could not run node-gyp (${nodeGyp}): ${result.error.message}`, tail);
  if (result.status !== 0) {
    const needs = args.some((a) => a.startsWith('--nodedir='))
      ? 'needs python3, make and a C++17 compiler'
      : 'also needs Node headers: install them or allow the download';
    throw new CompileError(`node-gyp rebuild exited with ${result.status ?? result.signal} (${needs}); last output:`, tail);
  }
  const output = compiledPath(dir);
  if (!existsSync(output)) throw new CompileError(`node-gyp succeeded but ${output} is missing`, tail);
  return { output, how: `node-gyp ${nodeGypVersion(nodeGyp)}, ${headerNote}` };
}
