/**
 * Reading the files the web config consists of (the config itself, certificates, keys, client
 * CAs) without ever blocking the daemon or filling its memory: only regular files are read (a
 * FIFO's `open` blocks until a writer comes, `/dev/zero` never ends), opened `O_NONBLOCK` so a path
 * swapped for a FIFO between the check and the open cannot block either, and at most
 * MAX_WEB_FILE_BYTES of them.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** The largest web config, certificate, key or CA bundle read (a system CA bundle is ~200 KiB). */
export const MAX_WEB_FILE_BYTES = 1024 * 1024;

/** Thrown for a path that is not a regular file or is too large; the message says which. */
export class NotReadable extends Error {
  override readonly name = 'NotReadable';
}

/**
 * The file's contents as UTF-8. Follows symlinks (Kubernetes mounts ConfigMaps and Secrets
 * through them). Throws NotReadable for anything but a regular file of at most `maxBytes`, and
 * the fs error (ENOENT, EACCES, …) when it cannot be opened.
 */
export function readRegularFile(path: string, maxBytes: number = MAX_WEB_FILE_BYTES): string {
  // stat never blocks and never opens: a device is refused before open could block or act on it.
  checkRegular(statSync(path), maxBytes);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    checkRegular(fstatSync(fd), maxBytes); // the path may have been replaced since the stat
    const buf = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) throw new NotReadable(`file is too large: it grew past the ${formatBytes(maxBytes)} limit while being read; refused`);
    }
    return buf.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

function checkRegular(st: Stats, maxBytes: number): void {
  if (st.isDirectory()) throw new NotReadable('is a directory, not a file');
  if (!st.isFile()) throw new NotReadable(`is ${kind(st)}, not a regular file; refused without reading it`);
  if (st.size > maxBytes) throw new NotReadable(`file is too large: ${st.size} bytes, over the ${formatBytes(maxBytes)} limit; refused without reading it`);
}

function kind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n}-byte`;
}
