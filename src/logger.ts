/**
 * The daemon's logger: pino, JSON lines by default or logfmt, to stderr or an appended file.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger };

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Append to this file; default stderr. */
  readonly file: string | undefined;
}

export interface OwnedLogger {
  readonly logger: Logger;
  /** Flush and close the destination (a file); safe to call once at exit. */
  close(): Promise<void>;
}

export function createLogger(options: LoggerOptions): OwnedLogger {
  let file: WriteStream | undefined;
  let sink: { write(line: string): void };
  if (options.file !== undefined) {
    file = createWriteStream(options.file, { flags: 'a' });
    // An unwritable log file must not take the daemon down: report it once on stderr.
    file.on('error', (err) => process.stderr.write(`multiproc-exporter: cannot write log file ${options.file}: ${err.message}\n`));
    sink = file;
  } else {
    sink = process.stderr;
  }
  const destination = options.format === 'logfmt' ? { write: (line: string) => sink.write(toLogfmt(line)) } : sink;
  const logger = pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    logger,
    close: () =>
      new Promise((resolve) => {
        if (file === undefined) resolve();
        else file.end(() => resolve());
      }),
  };
}

/** One pino JSON line → `time=… level=info msg="…" key=value …`. */
export function toLogfmt(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const parts: string[] = [];
  const { time, level, msg, ...rest } = record;
  if (time !== undefined) parts.push(`time=${logfmtValue(time)}`);
  if (level !== undefined) parts.push(`level=${logfmtValue(level)}`);
  if (msg !== undefined) parts.push(`msg=${logfmtValue(msg)}`);
  for (const [k, v] of Object.entries(rest)) parts.push(`${k}=${logfmtValue(v)}`);
  return `${parts.join(' ')}\n`;
}

function logfmtValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /^[^\s"=\\]+$/.test(s) ? s : JSON.stringify(s);
}
