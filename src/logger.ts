/**
 * The daemon's logger: pino, JSON lines by default or logfmt, to stderr or an appended file.
 * A log file that cannot be opened is a configuration error (exit 2); one that fails later is
 * given up for stderr, counted (`writeErrors`). Control characters in logged text are escaped
 * so that a file name with an ESC byte cannot drive the operator's terminal.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { ConfigError, type LogFormat, type LogLevel } from './config.js';

export type { Logger };

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Append to this file; default stderr. */
  readonly file: string | undefined;
}

export interface OwnedLogger {
  readonly logger: Logger;
  /** Lines that could not be written to the log file (each then went to stderr). */
  writeErrors(): number;
  /** Close the destination (a file); safe to call once at exit. */
  close(): Promise<void>;
}

/** A sink that writes each line synchronously: nothing is lost at exit and errors are seen at once. */
interface Sink {
  write(line: string): void;
}

export function createLogger(options: LoggerOptions): OwnedLogger {
  let fd: number | null = null;
  let writeErrors = 0;
  if (options.file !== undefined) {
    try {
      fd = openSync(options.file, 'a');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ConfigError(`--log.file ${JSON.stringify(options.file)}: cannot open for appending: ${err.code === 'EISDIR' ? 'it is a directory' : err.message}`);
    }
  }
  const stderr: Sink = { write: (line) => process.stderr.write(line) };
  const file = options.file;
  const sink: Sink =
    fd === null
      ? stderr
      : {
          write(line) {
            if (fd !== null) {
              try {
                writeSync(fd, line);
                return;
              } catch (e) {
                writeErrors++;
                // Give the file up (it stays given up): the lines go to stderr, the count to a self metric.
                process.stderr.write(`multiproc-exporter: cannot write log file ${file}: ${(e as Error).message}; logging to stderr from now on\n`);
                try {
                  closeSync(fd);
                } catch {
                  // already unusable
                }
                fd = null;
              }
            } else {
              writeErrors++;
            }
            process.stderr.write(line);
          },
        };
  const destination: Sink = options.format === 'logfmt' ? { write: (line) => sink.write(toLogfmt(line)) } : { write: (line) => sink.write(escapeControls(line)) };
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
    writeErrors: () => writeErrors,
    close: () => {
      if (fd !== null) {
        closeSync(fd);
        fd = null;
      }
      return Promise.resolve();
    },
  };
}

// C0 controls are escaped by JSON itself; DEL and the C1 controls (U+0080–U+009F, e.g. U+009B,
// an 8-bit CSI) are not, and some terminals act on them.
const UNESCAPED_CONTROLS = /[\u007f-\u009f]/g;

/** A JSON line with DEL and C1 controls written as `\u00XX` escapes (still the same JSON). */
export function escapeControls(jsonLine: string): string {
  UNESCAPED_CONTROLS.lastIndex = 0;
  if (!UNESCAPED_CONTROLS.test(jsonLine)) return jsonLine;
  return jsonLine.replace(UNESCAPED_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One pino JSON line → `time=… level=info msg="…" key=value …`. */
export function toLogfmt(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return escapeControls(JSON.stringify(jsonLine)) + '\n';
  }
  const parts: string[] = [];
  const { time, level, msg, ...rest } = record;
  if (time !== undefined) parts.push(`time=${logfmtValue(time)}`);
  if (level !== undefined) parts.push(`level=${logfmtValue(level)}`);
  if (msg !== undefined) parts.push(`msg=${logfmtValue(msg)}`);
  for (const [k, v] of Object.entries(rest)) parts.push(`${logfmtKey(k)}=${logfmtValue(v)}`);
  return `${parts.join(' ')}\n`;
}

// Bare values: printable ASCII other than space, quote, `=` and backslash; anything else is quoted.
const BARE_VALUE = /^[!#-<>-[\]-~]+$/;

function logfmtValue(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return BARE_VALUE.test(s) ? s : escapeControls(JSON.stringify(s));
}

function logfmtKey(k: string): string {
  return BARE_VALUE.test(k) ? k : escapeControls(JSON.stringify(k));
}
