import { execFileSync, spawnSync } from 'node:child_process';
import { constants as bufferConstants } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, nativeAddon, nativeLoadError, type NativeBinding } from '../../src/native.js';

const isCI = process.env.CI === 'true' || process.env.CI === '1';

const native = loadNative();
const skipReason = native ? null : nativeLoadError();
/** The file loaded (the compiled one here, or MULTIPROC_EXPORTER_NATIVE_ADDON): child processes load it directly. */
const ADDON_PATH = nativeAddon()?.path ?? '';
if (!native && !isCI) console.warn(`native addon tests skipped: ${skipReason}`);

/** The addon; in CI (where it is required) a missing addon fails each test. */
function addon(): NativeBinding {
  if (!native) throw new Error(`native addon required (CI=true) but not loadable: ${skipReason}`);
  return native;
}

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'multiproc-native-'));
afterAll(() => fs.rmSync(tmpDir, { recursive: true, force: true }));
let fileCounter = 0;

/** What `fn` throws, as { name, message } (exact comparisons of both). */
function thrown(fn: () => unknown): { name: string; message: string } | 'no throw' {
  try {
    fn();
  } catch (e) {
    return { name: (e as Error).name, message: (e as Error).message };
  }
  return 'no throw';
}

/** A fresh temp file of `size` bytes (zeros), opened read-write. */
function tempFile(size: number): { file: string; fd: number } {
  const file = path.join(tmpDir, `f${fileCounter++}.db`);
  const fd = fs.openSync(file, 'w+');
  fs.ftruncateSync(fd, size);
  return { file, fd };
}

describe('loadNative()', () => {
  it('returns null with a reason when MULTIPROC_EXPORTER_NO_NATIVE=1', () => {
    const saved = process.env.MULTIPROC_EXPORTER_NO_NATIVE;
    process.env.MULTIPROC_EXPORTER_NO_NATIVE = '1';
    try {
      expect(loadNative()).toBeNull();
      expect(nativeLoadError()).toBe('disabled by MULTIPROC_EXPORTER_NO_NATIVE');
    } finally {
      if (saved === undefined) delete process.env.MULTIPROC_EXPORTER_NO_NATIVE;
      else process.env.MULTIPROC_EXPORTER_NO_NATIVE = saved;
    }
    // Back to the real state; the binding object is loaded once.
    expect(loadNative()).toBe(native);
    expect(nativeLoadError()).toBe(skipReason);
  });

  it.runIf(isCI)('the addon is built and loadable (required when CI=true)', () => {
    expect(nativeLoadError()).toBeNull();
    expect(native).not.toBeNull();
  });

  it.runIf(isCI)('in a checkout the compiled addon is loaded, before any prebuilt one (or the file MULTIPROC_EXPORTER_NATIVE_ADDON names)', () => {
    const explicit = process.env.MULTIPROC_EXPORTER_NATIVE_ADDON;
    const compiled = path.join(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'multiproc_mmap.node');
    expect(nativeAddon()).toEqual({ source: 'compiled', path: explicit || compiled });
  });

  it('MULTIPROC_EXPORTER_NATIVE_ADDON is the only file tried: a missing one is the reason, nothing else is loaded', () => {
    const missing = path.join(tmpDir, 'no-such-addon.node');
    const dist = path.join(import.meta.dirname, '..', '..', 'dist', 'native.js');
    const child = `const n = await import(${JSON.stringify(dist)}); console.log(JSON.stringify([n.loadNative(), n.nativeAddon(), n.nativeLoadError()]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, MULTIPROC_EXPORTER_NATIVE_ADDON: missing }, encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([null, null, `native addon MULTIPROC_EXPORTER_NATIVE_ADDON=${missing} does not exist`]);
  });
});

describe.skipIf(!native && !isCI)('native addon', () => {
  it('pageSize() is a power of two >= 4096', () => {
    const ps = addon().pageSize();
    expect(ps).toBeGreaterThanOrEqual(4096);
    expect(ps & (ps - 1)).toBe(0);
  });

  it('fileSize() matches fs.fstatSync and throws EBADF on a closed fd', () => {
    const { fd } = tempFile(12345);
    expect(addon().fileSize(fd)).toBe(12345);
    expect(addon().fileSize(fd)).toBe(fs.fstatSync(fd).size);
    fs.closeSync(fd);
    expect(() => addon().fileSize(fd)).toThrow(`fstat failed: EBADF (fd ${fd})`);
  });

  it('a read-only map sees bytes written with fs.writeSync, before and after mapping', () => {
    const n = addon();
    const { fd } = tempFile(4096);
    fs.writeSync(fd, Buffer.from('hello mmap'), 0, 10, 0);
    const buf = n.mmap(fd, 4096, false);
    expect(buf).toBeInstanceOf(ArrayBuffer);
    expect(buf.byteLength).toBe(4096);
    expect(Buffer.from(buf, 0, 10).toString('latin1')).toBe('hello mmap');
    // Shared mapping: later writes through the fd are visible without remapping.
    fs.writeSync(fd, Buffer.from([1, 2, 3]), 0, 3, 4000);
    expect([...new Uint8Array(buf, 4000, 4)]).toEqual([1, 2, 3, 0]);
    n.munmap(buf);
    fs.closeSync(fd);
  });

  it('writes through a writable map are read back with fs.readFileSync', () => {
    const n = addon();
    const { file, fd } = tempFile(8192);
    const buf = n.mmap(fd, 8192, true);
    new DataView(buf).setFloat64(8, 42.5, true);
    new Uint8Array(buf).set([0xde, 0xad, 0xbe, 0xef], 8188);
    n.msync(buf, true);
    n.msync(buf, false);
    const disk = fs.readFileSync(file);
    expect(disk.length).toBe(8192);
    expect(disk.readDoubleLE(8)).toBe(42.5);
    expect([...disk.subarray(8188)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    n.munmap(buf);
    fs.closeSync(fd);
  });

  it('growth: after ftruncate a new map of fileSize() bytes sees the new region', () => {
    const n = addon();
    const ps = n.pageSize();
    const { fd } = tempFile(ps);
    const small = n.mmap(fd, n.fileSize(fd), true);
    expect(small.byteLength).toBe(ps);
    new Uint8Array(small)[0] = 7;
    fs.ftruncateSync(fd, 3 * ps);
    expect(n.fileSize(fd)).toBe(3 * ps);
    fs.writeSync(fd, Buffer.from([9]), 0, 1, 3 * ps - 1);
    const big = n.mmap(fd, n.fileSize(fd), true);
    expect(big.byteLength).toBe(3 * ps);
    const view = new Uint8Array(big);
    expect(view[0]).toBe(7);
    expect(view[3 * ps - 1]).toBe(9);
    n.munmap(small);
    expect(view[0]).toBe(7); // the other mapping is unaffected
    n.munmap(big);
    fs.closeSync(fd);
  });

  it('madvise() accepts every advice and rejects unknown ones', () => {
    const n = addon();
    const { fd } = tempFile(4096);
    const buf = n.mmap(fd, 4096, false);
    for (const advice of ['normal', 'random', 'sequential', 'willneed', 'dontneed'] as const) {
      expect(() => n.madvise(buf, advice)).not.toThrow();
    }
    expect(() => n.madvise(buf, 'bogus' as 'normal')).toThrow(TypeError);
    expect(() => n.madvise(buf, 'bogus' as 'normal')).toThrow("madvise: unknown advice 'bogus'");
    n.munmap(buf);
    fs.closeSync(fd);
  });

  it('munmap() detaches every view, is idempotent, and later calls cannot touch the memory', () => {
    const n = addon();
    const { file, fd } = tempFile(4096);
    const buf = n.mmap(fd, 4096, true);
    const f64 = new Float64Array(buf);
    f64[0] = 1.5;
    expect(f64.length).toBe(512);
    n.munmap(buf);
    expect(buf.byteLength).toBe(0);
    expect(f64.length).toBe(0);
    expect(f64.byteLength).toBe(0);
    expect(f64[0]).toBeUndefined(); // no segfault: the view is empty
    expect(() => n.munmap(buf)).not.toThrow();
    expect(() => n.msync(buf, true)).toThrow('msync: buffer has been unmapped');
    expect(() => n.madvise(buf, 'normal')).toThrow('madvise: buffer has been unmapped');
    // The data reached the file before unmapping.
    expect(fs.readFileSync(file).readDoubleLE(0)).toBe(1.5);
    fs.closeSync(fd);
  });

  it('munmap()/msync() of an ArrayBuffer not from mmap() throw TypeError', () => {
    const n = addon();
    expect(() => n.munmap(new ArrayBuffer(16))).toThrow(TypeError);
    expect(() => n.munmap(new ArrayBuffer(16))).toThrow('munmap: ArrayBuffer was not created by mmap()');
    expect(() => n.msync(new ArrayBuffer(16), true)).toThrow(TypeError);
    expect(() => n.munmap(new Uint8Array(4) as unknown as ArrayBuffer)).toThrow('munmap: expected an ArrayBuffer');
  });

  it('mmap() errors: length 0, read-only fd mapped writable, bad fd', () => {
    const n = addon();
    const { file, fd } = tempFile(4096);
    expect(() => n.mmap(fd, 0, false)).toThrow(RangeError);
    expect(() => n.mmap(fd, 0, false)).toThrow(`mmap: length must be > 0 (fd ${fd}, length 0)`);
    expect(() => n.mmap(fd, -1, false)).toThrow('mmap: length must be a non-negative integer');
    const ro = fs.openSync(file, 'r');
    let err: unknown;
    try {
      n.mmap(ro, 4096, true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(`mmap failed: EACCES (fd ${ro}, length 4096)`);
    expect(err).toMatchObject({ code: 'EACCES', syscall: 'mmap', errno: -os.constants.errno.EACCES });
    fs.closeSync(ro);
    fs.closeSync(fd);
    expect(() => n.mmap(fd, 4096, false)).toThrow(`mmap failed: EBADF (fd ${fd}, length 4096)`);
  });

  it('a read-only mapping of a file shrunk by someone else reads zeros instead of raising SIGBUS', () => {
    // In a child process, so that a failing guard kills the child, not the test runner.
    const child = [
      "import { createRequire } from 'node:module';",
      "import fs from 'node:fs';",
      'const n = createRequire(import.meta.url)(process.env.ADDON_PATH);',
      'const ps = n.pageSize();',
      "const fd = fs.openSync(process.env.FILE, 'r');",
      'const buf = n.mmap(fd, 3 * ps, false);',
      'const bytes = new Uint8Array(buf);',
      'const out = { before: [bytes[0], bytes[ps], bytes[2 * ps]], faults0: n.faultCount() };',
      'fs.truncateSync(process.env.FILE, ps);', // pages 1 and 2 are now past the end
      'out.kept = bytes[0];',
      'out.faultsAfterKeptPage = n.faultCount();',
      'out.page1 = [bytes[ps], bytes[ps + 7]];', // one fault: the second read hits the zero page
      'out.faultsAfterPage1 = n.faultCount();',
      'out.page2 = new Float64Array(buf, 2 * ps, 1)[0];',
      'out.faultsAfterPage2 = n.faultCount();',
      'n.munmap(buf);',
      'process.stdout.write(JSON.stringify(out));',
    ].join('\n');
    const { file, fd } = tempFile(0);
    const ps = addon().pageSize();
    fs.writeSync(fd, Buffer.alloc(3 * ps, 0xab));
    fs.closeSync(fd);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, ADDON_PATH, FILE: file }, encoding: 'utf8' });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      before: [0xab, 0xab, 0xab],
      faults0: 0,
      kept: 0xab,
      faultsAfterKeptPage: 0,
      page1: [0, 0],
      faultsAfterPage1: 1,
      page2: 0,
      faultsAfterPage2: 2,
    });
  });

  it('a SIGBUS outside the read-only mappings still kills the process (writable mapping of a shrunk file)', () => {
    const child = [
      "import { createRequire } from 'node:module';",
      "import fs from 'node:fs';",
      'const n = createRequire(import.meta.url)(process.env.ADDON_PATH);',
      'const ps = n.pageSize();',
      "const ro = n.mmap(fs.openSync(process.env.FILE, 'r'), ps, false);", // installs the handler
      "const fd = fs.openSync(process.env.FILE, 'r+');",
      'const buf = n.mmap(fd, 2 * ps, true);',
      'fs.ftruncateSync(fd, ps);',
      'process.stdout.write(String(new Uint8Array(buf)[ps]));',
    ].join('\n');
    const { file, fd } = tempFile(2 * addon().pageSize());
    fs.closeSync(fd);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, ADDON_PATH, FILE: file }, encoding: 'utf8' });
    expect({ status: r.status, signal: r.signal, stdout: r.stdout }).toEqual({ status: null, signal: 'SIGBUS', stdout: '' });
  });

  it('maxLength() is what a buffer can hold in this Node.js (buffer.constants.MAX_LENGTH)', () => {
    expect(addon().maxLength()).toBe(Math.min(bufferConstants.MAX_LENGTH, Number.MAX_SAFE_INTEGER));
  });

  it('every length or fd that is not a non-negative integer in range is a TypeError naming the value', () => {
    const n = addon();
    const { fd } = tempFile(4096);
    const lengths: [unknown, string][] = [
      [-1, 'is -1'],
      [-0.5, 'is -0.5'],
      [NaN, 'is NaN'],
      [1.5, 'is 1.5'],
      [Infinity, 'is Infinity'],
      [-Infinity, 'is -Infinity'],
      [2 ** 53, 'is 9007199254740992, more than 9007199254740991'],
      [1e300, 'is 1e+300, more than 9007199254740991'],
      ['4096', 'is not a number'],
      [undefined, 'is not a number'],
      [4096n, 'is not a number'],
      [{ valueOf: () => 4096 }, 'is not a number'],
    ];
    for (const [length, why] of lengths) {
      expect(thrown(() => n.mmap(fd, length as number, false))).toEqual({ name: 'TypeError', message: `mmap: length must be a non-negative integer (${why})` });
    }
    const fds: [unknown, string][] = [
      [-1, 'is -1'],
      [NaN, 'is NaN'],
      [2 ** 31, 'is 2147483648, more than 2147483647'],
      [null, 'is not a number'],
    ];
    for (const [bad, why] of fds) {
      expect(thrown(() => n.mmap(bad as number, 4096, false))).toEqual({ name: 'TypeError', message: `mmap: fd must be a non-negative integer (${why})` });
      expect(thrown(() => n.fileSize(bad as number))).toEqual({ name: 'TypeError', message: `fileSize: fd must be a non-negative integer (${why})` });
      expect(thrown(() => n.flock(bad as number, 'sh', true))).toEqual({ name: 'TypeError', message: `flock: fd must be a non-negative integer (${why})` });
    }
    fs.closeSync(fd);
  });

  it('a length past maxLength() is a RangeError, however often: nothing stays mapped, nothing is freed twice', () => {
    // In a child process: before the check, Node ran the finalizer of a refused buffer and the
    // addon freed it again (free(): double free, SIGABRT): a regression kills the child only.
    const child = [
      "import { createRequire } from 'node:module';",
      "import fs from 'node:fs';",
      'const n = createRequire(import.meta.url)(process.env.ADDON_PATH);',
      "const fd = fs.openSync(process.env.FILE, 'r');",
      'const maps = () => fs.readFileSync("/proc/self/maps", "utf8").split("\\n").filter((l) => l.endsWith(process.env.FILE)).length;',
      'const fds = () => fs.readdirSync("/proc/self/fd").length;',
      'const out = { max: n.maxLength(), errors: {}, maps0: maps(), fds0: fds() };',
      'for (const length of JSON.parse(process.env.LENGTHS)) {',
      '  for (let i = 0; i < 200; i++) {',
      '    try { n.mmap(fd, length, false); out.errors[length] = "mapped"; } catch (e) { out.errors[length] = `${e.name}: ${e.message}`; }',
      '  }',
      '}',
      'out.mapsAfter = maps();',
      'out.fdsAfter = fds();',
      'const ok = n.mmap(fd, Number(process.env.OK_LENGTH), false);',
      'out.okLength = ok.byteLength;',
      'out.okLast = new Uint8Array(ok)[ok.byteLength - 1];',
      'out.okMaps = maps();',
      'n.munmap(ok);',
      'out.mapsEnd = maps();',
      'process.stdout.write(JSON.stringify(out));',
    ].join('\n');
    const { file, fd } = tempFile(5 * 2 ** 30); // sparse
    fs.writeSync(fd, Buffer.from([0x5a]), 0, 1, 2 ** 32 - 1); // the last byte of the first 4 GiB
    fs.closeSync(fd);
    const max = addon().maxLength();
    const lengths = [max + 1, max + 2 ** 30, Number.MAX_SAFE_INTEGER].filter((l) => l > max && l <= Number.MAX_SAFE_INTEGER);
    const okLength = Math.min(max, 2 ** 32);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], {
      env: { ...process.env, ADDON_PATH, FILE: file, LENGTHS: JSON.stringify(lengths), OK_LENGTH: String(okLength) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      max,
      errors: Object.fromEntries(
        lengths.map((l) => [String(l), expect.stringMatching(new RegExp(`^RangeError: mmap: length is more than the ${max} bytes a buffer can hold in this Node\\.js \\(fd \\d+, length ${l}\\)$`))]),
      ),
      maps0: 0,
      fds0: out['fds0'],
      mapsAfter: 0,
      fdsAfter: out['fds0'],
      okLength,
      okLast: okLength === 2 ** 32 ? 0x5a : 0,
      okMaps: 1,
      mapsEnd: 0,
    });
  });

  it('a mapping dropped without munmap() is unmapped by its GC finalizer, exactly once', () => {
    const child = [
      "import { createRequire } from 'node:module';",
      "import fs from 'node:fs';",
      'const n = createRequire(import.meta.url)(process.env.ADDON_PATH);',
      "const fd = fs.openSync(process.env.FILE, 'r');",
      'const maps = () => fs.readFileSync("/proc/self/maps", "utf8").split("\\n").filter((l) => l.endsWith(process.env.FILE)).length;',
      'let held = [];',
      'for (let i = 0; i < 100; i++) held.push(n.mmap(fd, 8192, false));',
      'n.munmap(held[0]);', // explicitly unmapped: its finalizer must not unmap again
      'const out = { live: maps() };',
      'held = null;',
      'for (let i = 0; i < 20 && maps() > 0; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }',
      'out.afterGc = maps();',
      'const again = n.mmap(fd, 8192, false);', // the address range may be reused: still fine
      'out.again = [again.byteLength, maps()];',
      'process.stdout.write(JSON.stringify(out));',
    ].join('\n');
    const { file, fd } = tempFile(8192);
    fs.closeSync(fd);
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child], { env: { ...process.env, ADDON_PATH, FILE: file }, encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ live: 99, afterGc: 0, again: [8192, 1] });
  });

  it('flock(): a child process cannot take ex while the parent holds it, and can after unlock', () => {
    const n = addon();
    const { file, fd } = tempFile(16);
    const child = [
      "import { createRequire } from 'node:module';",
      "import fs from 'node:fs';",
      'const native = createRequire(import.meta.url)(process.env.ADDON_PATH);',
      "const fd = fs.openSync(process.env.LOCK_FILE, 'r+');",
      "process.stdout.write(String(native.flock(fd, 'ex', true)));",
    ].join('\n');
    const tryInChild = (): string =>
      execFileSync(process.execPath, ['--input-type=module', '-e', child], {
        env: { ...process.env, ADDON_PATH, LOCK_FILE: file },
        encoding: 'utf8',
      });

    expect(n.flock(fd, 'ex', true)).toBe(true);
    expect(tryInChild()).toBe('false');
    expect(n.flock(fd, 'un', false)).toBe(true);
    expect(tryInChild()).toBe('true'); // child's lock dies with the child
    // Shared locks coexist.
    expect(n.flock(fd, 'sh', false)).toBe(true);
    expect(n.flock(fd, 'un', false)).toBe(true);
    expect(() => n.flock(fd, 'xx' as 'ex', false)).toThrow("flock: op must be 'sh', 'ex' or 'un'");
    fs.closeSync(fd);
    expect(() => n.flock(fd, 'ex', true)).toThrow(`flock failed: EBADF (fd ${fd}, op ex)`);
  });
});
