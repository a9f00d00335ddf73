#!/usr/bin/env node
// `npm run build:prebuilt` (run by `npm pack` and `npm publish` as "prepack"): builds the addon
// for this machine's platform from a clean copy of the sources and puts it where the package
// ships it, prebuilds/<platform>-<arch>/multiproc_mmap.napi.<libc>.node (native/addon.mjs), so
// that installing the package needs no compiler. prebuilds/ is build output, not committed.
//
// The build runs in native/build/prebuild/, never in native/build/Release/: the addon a checkout
// loads (and tests running meanwhile) is left alone. Any failure fails the pack.
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLoads, CompileError, compile, PACKAGE_ROOT, prebuiltPath } from './addon.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const tag = 'prebuild';

function die(message, details = '') {
  console.error([`${tag}: ${message}`, ...(details ? [details.trimEnd().replace(/^/gm, '    ')] : [])].join('\n'));
  process.exit(1);
}

const staging = path.join(here, 'build', 'prebuild');
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
for (const name of readdirSync(here)) {
  if (name === 'binding.gyp' || /\.(cc|h)$/.test(name)) cpSync(path.join(here, name), path.join(staging, name));
}

let built;
try {
  built = compile(staging);
} catch (err) {
  if (err instanceof CompileError) die(err.message, err.details);
  throw err;
}

const target = prebuiltPath();
// Only this platform's directory is replaced: prebuilds made on other machines stay.
rmSync(path.dirname(target), { recursive: true, force: true });
mkdirSync(path.dirname(target), { recursive: true });
cpSync(built.output, target);
try {
  checkLoads(target);
} catch (err) {
  die(`built it, but ${err.message}`);
}
rmSync(staging, { recursive: true, force: true });
// stderr: `npm pack --json` keeps stdout for its JSON.
console.error(`${tag}: ${path.relative(PACKAGE_ROOT, target)} (${built.how})`);
