#!/usr/bin/env node
// Builds native/build/Release/multiproc_mmap.node. Runs as the package's npm
// "install" script, and can be re-run by hand: `node native/build.mjs`.
//
// Works offline and without any npmrc: it uses the node-gyp bundled with npm
// and the headers of the running Node's own install (<prefix>/include/node),
// so nothing is downloaded. A failed build only warns (exit 0), because the
// reader falls back to plain reads; set MULTIPROC_EXPORTER_REQUIRE_NATIVE=1
// (CI does) to make a failed build fail the install.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const output = path.join(here, 'build', 'Release', 'multiproc_mmap.node');
const required = process.env.MULTIPROC_EXPORTER_REQUIRE_NATIVE === '1';
const tag = 'multiproc-exporter';

function fail(what, details = '') {
  const lines = [
    `${tag}: WARNING: could not build the native mmap addon: ${what}`,
    ...(details ? [details.trimEnd().replace(/^/gm, '    ')] : []),
    `${tag}: the exporter (reader) still works: it falls back to plain file reads.`,
    `${tag}: the Node writer (multiproc-exporter/writer) needs the addon and will not work.`,
    `${tag}: to retry: \`npm rebuild multiproc-exporter\` (as a dependency) or \`node native/build.mjs\` (in this package).`,
  ];
  if (required) lines.push(`${tag}: MULTIPROC_EXPORTER_REQUIRE_NATIVE=1 is set: failing.`);
  console.error(lines.join('\n'));
  process.exit(required ? 1 : 0);
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

if (process.platform === 'win32') fail('Windows is not supported (the addon uses POSIX mmap/flock)');

const { found: nodeGyp, candidates } = findNodeGyp();
if (!nodeGyp) {
  fail('node-gyp not found (it ships with npm); looked in:', candidates.join('\n'));
}

// Headers of the running Node: <prefix>/include/node/node_api.h. Passing
// --nodedir explicitly also overrides any nodedir from an npmrc.
const nodedir = path.resolve(process.execPath, '../..');
const headers = path.join(nodedir, 'include', 'node');
const args = [nodeGyp, 'rebuild'];
let headerNote = `headers ${headers}`;
if (existsSync(path.join(headers, 'node_api.h'))) {
  args.push(`--nodedir=${nodedir}`);
} else {
  console.error(
    `${tag}: note: ${path.join(headers, 'node_api.h')} does not exist (this Node install has no headers, ` +
      'e.g. a distro package without its -dev package); node-gyp will try to download them, which needs network.',
  );
  headerNote = 'downloaded headers';
}

const result = spawnSync(process.execPath, args, {
  cwd: here,
  encoding: 'utf8',
  timeout: 5 * 60_000,
  env: {
    ...process.env,
    // binding.gyp runs `node -p ...`: make sure it is this node, even when not on PATH.
    PATH: [path.dirname(process.execPath), process.env.PATH].filter(Boolean).join(path.delimiter),
  },
});
const log = `${result.stdout ?? ''}${result.stderr ?? ''}`;
const tail = log
  .trimEnd()
  .split('\n')
  .filter((line) => !line.startsWith('gyp info'))
  .slice(-30)
  .join('\n');
if (result.error) fail(`could not run node-gyp (${nodeGyp}): ${result.error.message}`, tail);
if (result.status !== 0) {
  const needs = args.some((a) => a.startsWith('--nodedir='))
    ? 'needs python3, make and a C++17 compiler'
    : 'also needs Node headers: install them or allow the download';
  fail(`node-gyp rebuild exited with ${result.status ?? result.signal} (${needs}); last output:`, tail);
}
if (!existsSync(output)) fail(`node-gyp succeeded but ${output} is missing`, tail);

// Load it once so an ABI/link problem shows up now rather than at runtime.
try {
  const addon = createRequire(import.meta.url)(output);
  if (typeof addon.mmap !== 'function') throw new Error('mmap export missing');
} catch (err) {
  fail(`built ${output} but it does not load: ${err instanceof Error ? err.message : String(err)}`);
}

console.log(
  `${tag}: built native addon ${path.relative(process.cwd(), output) || output} ` +
    `(node-gyp ${nodeGypVersion(nodeGyp)}, ${headerNote})`,
);
