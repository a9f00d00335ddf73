/**
 * A hostile neighbour for the truncation test: cuts metric files under the daemon's mappings and
 * grows them back, `cycles` times, then exits. Run as its own process:
 *
 *   node --import tsx test/helpers/truncator.ts <cycles> <file>...
 *
 * Cycle i works on file i mod n: truncate it (to 0 bytes, to the middle of an entry, or to one
 * page), leave it short for a moment, then restore its size and original bytes in place (same
 * inode, as a file being rewritten). Prints `{"cycles":N}` when done.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';

const cycles = Number(process.argv[2]);
const files = process.argv.slice(3);
if (!Number.isInteger(cycles) || cycles < 1 || files.length === 0) {
  process.stderr.write('usage: truncator.ts <cycles> <file>...\n');
  process.exit(2);
}
const originals = files.map((f) => readFileSync(f));

const pause = (i: number): Promise<void> =>
  new Promise((resolve) => (i % 2 === 0 ? setImmediate(resolve) : setTimeout(resolve, 1)));

for (let i = 0; i < cycles; i++) {
  const k = i % files.length;
  const original = originals[k]!;
  const fd = openSync(files[k]!, 'r+');
  const cut = [0, Math.floor(original.length / 3) + 3, 4096][i % 3]!;
  ftruncateSync(fd, cut);
  await pause(i);
  ftruncateSync(fd, original.length);
  writeSync(fd, original, 0, original.length, 0);
  closeSync(fd);
  await pause(i + 1);
}
process.stdout.write(JSON.stringify({ cycles }));
