#!/usr/bin/env node
// The package's npm "install" script; can be re-run by hand: `node native/build.mjs`.
//
// Installed from the npm package, which ships prebuilt addons (prebuilds/, made by
// native/prebuild.mjs when the package is packed): if the one for this platform loads, nothing
// is compiled and no compiler is needed. Otherwise it builds native/build/Release/
// multiproc_mmap.node from the sources with the node-gyp bundled with npm and the headers of the
// running Node, offline (native/addon.mjs). It always compiles in a checkout (src/cli.ts exists: the
// addon is built from the sources you may be editing), with `--from-source`, or with
// `npm install --build-from-source` (npm_config_build_from_source).
//
// A failed build only warns (exit 0), because the reader falls back to plain reads; set
// MULTIPROC_EXPORTER_REQUIRE_NATIVE=1 (CI does) to make a failed build fail the install.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { checkLoads, CompileError, compile, hostLibc, PACKAGE_ROOT, prebuiltPath } from './addon.mjs';

const required = process.env.MULTIPROC_EXPORTER_REQUIRE_NATIVE === '1';
const tag = 'multiproc-exporter';
const relative = (file) => path.relative(process.cwd(), file) || file;

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

// The TypeScript sources mark a checkout (the package ships only src/push/proto of src/).
const checkout = existsSync(path.join(PACKAGE_ROOT, 'src', 'cli.ts'));
const fromSource = process.argv.includes('--from-source') || /^(true|1)$/.test(process.env.npm_config_build_from_source ?? '');
if (!checkout && !fromSource) {
  const prebuilt = prebuiltPath();
  const platform = [`${process.platform}-${process.arch}`, hostLibc()].filter(Boolean).join(' ');
  if (existsSync(prebuilt)) {
    try {
      checkLoads(prebuilt);
      console.log(`${tag}: using the prebuilt native addon ${relative(prebuilt)} (${platform}; nothing to compile)`);
      process.exit(0);
    } catch (err) {
      console.error(`${tag}: the prebuilt native addon for ${platform} cannot be used here (${err.message}): compiling it`);
    }
  } else {
    console.error(`${tag}: no prebuilt native addon for ${platform} in this package: compiling it`);
  }
}

let built;
try {
  built = compile();
} catch (err) {
  if (err instanceof CompileError) fail(err.message, err.details);
  throw err;
}
// Load it once so an ABI/link problem shows up now rather than at runtime.
try {
  checkLoads(built.output);
} catch (err) {
  fail(`built it, but ${err.message}`);
}
console.log(`${tag}: built native addon ${relative(built.output)} (${built.how})`);
