/**
 * One daemon process: `node bin/multiproc-exporter serve …` spawned as the leader of its own
 * process group, with an IPC channel for its start message (protocol.ts) and its logs inherited,
 * ignored or handed over line by line. Signals go to the whole group, never to the leader alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { parseDaemonMessage, type StartedMessage } from './protocol.js';

export type LogSource = 'daemon' | 'supervisor';

/**
 * `inherit`: the daemon writes to this process's stdout/stderr (and keeps doing so if this
 * process dies); `ignore`: no logs; a function: called with each line (without its newline).
 */
export type LogTarget = 'inherit' | 'ignore' | ((line: string, source: LogSource) => void);

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The daemon exited, failed or timed out before it served. */
export class DaemonStartError extends Error {
  constructor(
    message: string,
    /** How it ended (null: it was still running when the start timed out, and was killed). */
    readonly exit: ProcessExit | null,
    /** The daemon's own message, e.g. the configuration error it printed before exit code 2. */
    readonly daemonMessage: string | undefined,
  ) {
    super(message);
    this.name = 'DaemonStartError';
  }
}

export interface DaemonProcessOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly log: LogTarget;
  /** `ready` rejects (and the group is killed) if the daemon has not reported serving by then. */
  readonly startTimeoutMs: number;
}

/** A SIGKILLed group vanishes at once unless a member is stuck in the kernel: do not wait forever. */
const KILLED_GROUP_WAIT_MS = 5_000;
/** `exited` waits for the logs and the channel to close, but not longer than this after the exit. */
const CLOSE_AFTER_EXIT_MS = 500;
const TAIL_LINES = 20;

export function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code ?? 'unknown'}`;
}

export class DaemonProcess {
  /** Also the process group id. */
  readonly pid: number;
  /** Resolves with the daemon's bound addresses once it serves. */
  readonly ready: Promise<StartedMessage>;
  /** Resolves once the leader has exited and its output and channel are closed. */
  readonly exited: Promise<ProcessExit>;
  /** `Date.now()` when it reported serving. */
  readyAt: number | undefined;
  /** Why it never served (set when `ready` rejects). */
  startError: DaemonStartError | undefined;

  private exit: ProcessExit | null = null;
  private groupGone = false;
  private terminating = false;

  /** Spawns the daemon; rejects only if the process could not be created at all. */
  static spawn(options: DaemonProcessOptions): Promise<DaemonProcess> {
    const output = options.log === 'inherit' ? 'inherit' : options.log === 'ignore' ? 'ignore' : 'pipe';
    const child = spawn(options.command, options.args, { detached: true, env: options.env, stdio: ['ignore', output, output, 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.off('error', reject);
        resolve(new DaemonProcess(child, options));
      });
    });
  }

  private constructor(
    private readonly child: ChildProcess,
    options: DaemonProcessOptions,
  ) {
    this.pid = child.pid!;
    const tail: string[] = [];
    const log = options.log;
    if (typeof log === 'function') {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream === null) continue;
        forEachLine(stream, (line) => {
          tail.push(line);
          if (tail.length > TAIL_LINES) tail.shift();
          log(line, 'daemon');
        });
      }
    }

    let daemonMessage: string | undefined;
    let resolveReady: (m: StartedMessage) => void = () => {};
    let rejectReady: (e: DaemonStartError) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    const startTimer = setTimeout(() => {
      this.startError = new DaemonStartError(`did not report serving within ${options.startTimeoutMs} ms; killed`, null, undefined);
      rejectReady(this.startError);
      this.signalGroup('SIGKILL');
    }, options.startTimeoutMs);

    child.on('message', (raw) => {
      const m = parseDaemonMessage(raw);
      if (m?.type === 'multiproc-exporter:started' && this.startError === undefined) {
        clearTimeout(startTimer);
        this.readyAt ??= Date.now();
        resolveReady(m);
      } else if (m?.type === 'multiproc-exporter:start-failed') {
        daemonMessage = m.message;
      }
    });
    child.on('error', () => {}); // a failed kill() or send(): the exit is what counts

    this.exited = new Promise((resolve) => {
      let fallback: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(fallback);
        clearTimeout(startTimer);
        const exit = this.exit!;
        if (this.readyAt === undefined && this.startError === undefined) {
          const why =
            daemonMessage ??
            (tail.length > 0 ? tail.join('\n') : log === 'inherit' ? 'its log is on stderr' : log === 'ignore' ? "its log was ignored (log: 'ignore')" : 'it printed nothing');
          this.startError = new DaemonStartError(`exited with ${describeExit(exit)} before serving: ${why}`, exit, daemonMessage);
          rejectReady(this.startError);
        }
        resolve(exit);
      };
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        if (!this.terminating) this.signalGroup('SIGKILL'); // anything the leader left behind
        fallback = setTimeout(done, CLOSE_AFTER_EXIT_MS);
      });
      child.once('close', (code, signal) => {
        this.exit ??= { code, signal };
        done();
      });
    });
    this.ready.catch(() => {}); // the owner awaits it when it cares
  }

  /** The leader has not exited yet. */
  get running(): boolean {
    return this.exit === null;
  }

  /** Sends `signal` to the whole process group; false if the group is gone. */
  signalGroup(signal: NodeJS.Signals | 0): boolean {
    if (this.groupGone) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ESRCH' && code !== 'EPERM') throw e;
      // Once empty, the group id may be reused by an unrelated process: never signal it again.
      if (this.exit !== null) this.groupGone = true;
      return false;
    }
  }

  /**
   * SIGTERM to the group, SIGKILL to whatever of it is left after `graceMs`; resolves with the
   * leader's exit once no process of the group is left.
   */
  async terminate(graceMs: number): Promise<ProcessExit> {
    this.terminating = true;
    const deadline = Date.now() + graceMs;
    let killed = false;
    const kill = (): void => {
      killed = true;
      this.signalGroup('SIGKILL');
    };
    this.signalGroup('SIGTERM');
    const timer = setTimeout(kill, graceMs);
    const exit = await this.exited;
    while (this.signalGroup(0)) {
      if (!killed && Date.now() >= deadline) kill();
      if (killed && Date.now() >= deadline + KILLED_GROUP_WAIT_MS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    clearTimeout(timer);
    return exit;
  }

  /** For `process.on('exit')`, where nothing can be awaited: SIGKILL the group now. */
  killGroupNow(): void {
    this.terminating = true;
    this.signalGroup('SIGKILL');
  }
}

function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (partial !== '') onLine(partial);
    partial = '';
  });
}
