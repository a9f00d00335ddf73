#!/usr/bin/env node
// Sanitizer builds of the native addon, for CI and by hand (needs clang and
// Debian's libclang-rt-<N>-dev; nothing is downloaded):
//
//   node native/sanitize.mjs fuzz [libFuzzer flags]   (npm run fuzz:native)
//     Builds the libFuzzer target native/fuzz/fuzz_mmap.cc against the addon's
//     core (mmap_core.cc) with ASan+UBSan and runs it over the seed corpus
//     native/fuzz/corpus (new inputs go to native/build/fuzz/corpus, crash
//     inputs to native/build/fuzz/). Exits non-zero on a crash.
//
//   node native/sanitize.mjs asan-test [vitest files]   (npm run test:native-asan)
//     Builds the whole addon with -fsanitize=address,undefined into
//     native/build/asan/ and runs test/native/addon.test.ts and test/native/ (which
//     spawn the real CLI) against it.
//
// How a sanitized addon runs inside an unsanitized node (Node 20, clang 14):
// - The addon links the shared ASan runtime (-shared-libasan) and node is
//   started with LD_PRELOAD=<libclang_rt.asan-x86_64.so>: ASan must be the
//   first library loaded, to intercept malloc/free for the whole process
//   (without it, dlopen fails: "undefined symbol: __asan_..."). The same
//   runtime carries UBSan's handlers. Child processes (vitest's workers, the
//   CLI the tests spawn, the tests' own child scripts) inherit LD_PRELOAD
//   and MULTIPROC_EXPORTER_NATIVE_ADDON, so they all load the sanitized
//   addon. esbuild (used by vitest) is a static Go binary: LD_PRELOAD does
//   not touch it.
// - detect_leaks=0: LeakSanitizer would report node's and V8's own
//   allocations left at exit (not the addon's; the fuzzer checks those).
// - handle_sigbus=0: the addon's SIGBUS guard passes a SIGBUS it does not own
//   to the previous handler; with ASan's there, the process would exit 1 with
//   a report instead of dying of SIGBUS, which the tests check.
// - -fno-sanitize-recover=all: the first UBSan finding aborts the process, so
//   a test (or the child it spawned) fails.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const tag = 'sanitize';
const SANITIZERS = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer', '-g', '-O1'];
const CORE = [path.join(here, 'mmap_core.cc')];

function die(message) {
  console.error(`${tag}: ${message}`);
  process.exit(2);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (r.error) die(`cannot run ${cmd}: ${r.error.message}`);
  return r.status ?? 128 + 1;
}

function clang() {
  const cxx = process.env.CXX_SANITIZE || 'clang++';
  const r = spawnSync(cxx, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) die(`${cxx} not found: install clang and libclang-rt-14-dev (Debian), or set CXX_SANITIZE`);
  return cxx;
}

/** Rebuild `out` from `sources` unless it is newer than all of them (and the header). */
function compile(cxx, sources, out, flags) {
  const inputs = [...sources, path.join(here, 'mmap_core.h')];
  if (existsSync(out) && inputs.every((s) => statSync(s).mtimeMs < statSync(out).mtimeMs)) return;
  mkdirSync(path.dirname(out), { recursive: true });
  console.error(`${tag}: building ${path.relative(root, out)}`);
  if (run(cxx, ['-std=c++17', '-Wall', '-Wextra', ...SANITIZERS, ...flags, ...sources, '-o', out]) !== 0) die(`build of ${out} failed`);
}

function fuzz(args) {
  const cxx = clang();
  const bin = path.join(here, 'build', 'fuzz', 'fuzz_mmap');
  compile(cxx, [path.join(here, 'fuzz', 'fuzz_mmap.cc'), ...CORE], bin, ['-fsanitize=fuzzer']);
  const work = path.join(here, 'build', 'fuzz', 'corpus');
  mkdirSync(work, { recursive: true });
  const seeds = path.join(here, 'fuzz', 'corpus');
  const flags = args.length > 0 ? args : ['-max_total_time=30'];
  console.error(`${tag}: fuzzing (${flags.join(' ')}) from ${readdirSync(seeds).length} seeds`);
  // First directory: where new inputs go; the seeds are only read.
  const status = run(bin, [work, seeds, `-artifact_prefix=${path.join(here, 'build', 'fuzz')}/`, '-print_final_stats=1', ...flags], {
    env: { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1', UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1' },
  });
  if (status !== 0) console.error(`${tag}: the fuzzer failed (exit ${status}); the input is in native/build/fuzz/ (crash-*)`);
  process.exit(status);
}

function asanTest(files) {
  const cxx = clang();
  const runtime = spawnSync(cxx, ['-print-file-name=libclang_rt.asan-x86_64.so'], { encoding: 'utf8' }).stdout.trim();
  if (!path.isAbsolute(runtime) || !existsSync(runtime)) die(`the shared ASan runtime was not found (${runtime}): install libclang-rt-14-dev`);
  const nodeHeaders = path.resolve(process.execPath, '../../include/node');
  if (!existsSync(path.join(nodeHeaders, 'node_api.h'))) die(`no Node headers at ${nodeHeaders}`);
  const addonApi = createRequire(import.meta.url)('node-addon-api').include_dir;
  const addon = path.join(here, 'build', 'asan', 'multiproc_mmap.node');
  compile(cxx, [path.join(here, 'mmap.cc'), ...CORE], addon, [
    '-shared',
    '-fPIC',
    '-shared-libasan',
    '-DNAPI_VERSION=8',
    '-DNAPI_CPP_EXCEPTIONS',
    `-I${nodeHeaders}`,
    `-I${path.resolve(root, addonApi)}`,
  ]);
  // The build is the sanitized one: it loads only with the ASan runtime preloaded.
  const probe = `require(${JSON.stringify(addon)}).maxLength()`;
  const bare = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  const preloaded = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: runtime, ASAN_OPTIONS: 'detect_leaks=0' } });
  if (bare.status === 0 || !/libclang_rt\.asan|__asan/.test(bare.stderr)) die(`${addon} loads without the ASan runtime: not a sanitized build`);
  if (preloaded.status !== 0) die(`${addon} does not load with LD_PRELOAD=${runtime}:\n${preloaded.stderr}`);
  const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const targets = files.length > 0 ? files : ['test/native/addon.test.ts', 'test/native/'];
  console.error(`${tag}: running ${targets.join(' ')} against ${path.relative(root, addon)} (LD_PRELOAD=${runtime})`);
  const status = run(process.execPath, [vitest, 'run', ...targets], {
    cwd: root,
    env: {
      ...process.env,
      LD_PRELOAD: runtime,
      ASAN_OPTIONS: 'detect_leaks=0:handle_sigbus=0:abort_on_error=0',
      UBSAN_OPTIONS: 'print_stacktrace=1',
      MULTIPROC_EXPORTER_NATIVE_ADDON: addon,
    },
  });
  process.exit(status);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'fuzz') fuzz(rest);
else if (command === 'asan-test') asanTest(rest);
else die('usage: node native/sanitize.mjs fuzz [libFuzzer flags] | asan-test [vitest files]');
