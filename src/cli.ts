/**
 * Command line: `render` (one merge printed to stdout). The daemon (`serve`) and `demo` build on it.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Collector } from './collector.js';
import { ConfigError, OPTIONS, optionHelp, REPEATABLE_OPTIONS, resolveConfig, type Flags } from './config.js';
import { startDaemon } from './daemon.js';
import { runDemo } from './demo/demo.js';
import { runCommand } from './run-command.js';
import { checkDirectory } from './check/report.js';
import { formatReport } from './check/print.js';
import { DirectoryError } from './reader/directory.js';
import { LIVENESS_MODES, type LivenessMode } from './reader/liveness.js';
import { ExpositionGate } from './exposition/gate.js';
import { FORMATS, render, type Format } from './exposition/index.js';
import { nativeLoadError, loadNative } from './native.js';
import { tellSupervisor } from './supervisor/protocol.js';
import { VERSION } from './version.js';

const EXIT_USAGE = 2;

function renderCommand(opts: { dir: string; format: Format; liveness: LivenessMode }): void {
  if (loadNative() === null) {
    process.stderr.write(`multiproc-exporter: native mmap addon unavailable (${nativeLoadError()}); reading files with plain reads\n`);
  }
  const collector = new Collector(opts.dir, { liveness: opts.liveness });
  let collection;
  try {
    collection = collector.collect();
  } catch (e) {
    if (e instanceof DirectoryError) {
      process.stderr.write(`multiproc-exporter: ${e.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    throw e;
  } finally {
    collector.close();
  }
  for (const s of collection.skipped) process.stderr.write(`skipped [${s.reason}] ${s.message}\n`);
  for (const p of collection.problems) process.stderr.write(`partly skipped: ${opts.dir}/${p.fileName}: ${p.message}\n`);
  const gate = new ExpositionGate();
  const families = gate.admit(collection.families);
  for (const r of gate.rejections) process.stderr.write(`left out [${r.reason}] ${r.message}\n`);
  process.stdout.write(render(opts.format, families));
}

function checkCommand(opts: { dir: string; json?: boolean; liveness: LivenessMode }): void {
  const report = checkDirectory(opts.dir, opts.liveness);
  process.stdout.write(opts.json === true ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  if (report.error !== undefined && opts.json !== true) process.stderr.write(`multiproc-exporter: ${report.error}\n`);
  process.exitCode = report.exitCode;
}

/** After SIGTERM/SIGINT the process exits within this time, whatever is still running. */
const EXIT_DEADLINE_MS = 9_500;

/**
 * SIGUSR1 would open Node's inspector (unauthenticated code execution on 127.0.0.1:9229): a
 * listener keeps Node from doing so; production daemons have no debugger.
 */
function ignoreInspectorSignal(): void {
  process.on('SIGUSR1', () => process.stderr.write('multiproc-exporter: SIGUSR1 ignored (no inspector in the daemon)\n'));
}

async function serveCommand(flags: Flags): Promise<void> {
  // SIGHUP re-reads the web config. Handled from the start: its default action would kill the
  // daemon, and one sent right after the start line (before startDaemon returns) is kept for then.
  // eslint-disable-next-line prefer-const -- set once the daemon runs; the SIGHUP handler below reads it before
  let reload: ((reason: string) => void) | undefined;
  let hupPending = false;
  process.on('SIGHUP', () => (reload === undefined ? (hupPending = true) : reload('SIGHUP')));
  ignoreInspectorSignal();
  let daemon;
  let config;
  try {
    config = resolveConfig(flags, process.env);
    daemon = await startDaemon(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`multiproc-exporter: ${e.message}\n`);
      tellSupervisor({ type: 'multiproc-exporter:start-failed', message: e.message }, () => process.exit(EXIT_USAGE));
      return;
    }
    throw e;
  }
  const running = daemon;
  const onShutdown = (reason: string): void => {
    setTimeout(() => process.exit(0), EXIT_DEADLINE_MS).unref();
    running.stop(reason).then(
      () => process.exit(0),
      (err: unknown) => {
        running.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onShutdown);
  process.once('SIGINT', onShutdown);
  tellSupervisor({
    type: 'multiproc-exporter:started',
    listen: running.addresses[0]!,
    health: running.addresses[1] ?? running.addresses[0]!,
    tls: running.tls,
    telemetryPath: config.telemetryPath,
  });
  // Spawned with an IPC channel (startExporter): its closing means the supervisor is gone, even
  // when it was SIGKILLed and could not stop us, so stop rather than live on as an orphan.
  if (process.send !== undefined) {
    if (process.connected) process.once('disconnect', () => onShutdown('supervisor gone (IPC channel closed)'));
    else onShutdown('supervisor gone (IPC channel closed)');
  }
  reload = (reason) => void running.reload(reason);
  if (hupPending) reload('SIGHUP');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function buildProgram(): Command {
  const program = new Command('multiproc-exporter')
    .description('Serve the metrics that many worker processes write to per-process .db files, merged as one.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    });
  const serve = program
    .command('serve', { isDefault: true })
    .description('serve the merged metrics of a directory over HTTP (the default command)');
  for (const o of OPTIONS) {
    const option = new Option(o.flag, optionHelp(o));
    if (REPEATABLE_OPTIONS.has(o.key)) option.argParser(collect);
    serve.addOption(option);
  }
  serve.action((flags: Flags) => serveCommand(flags));

  const run = program
    .command('run')
    .description(
      'run COMMAND with a metrics directory and the daemon serving it: the directory (--dir, the env var, or a new one on tmpfs) is created or emptied of stale .db files, exported to COMMAND as PROMETHEUS_MULTIPROC_DIR and prometheus_multiproc_dir; SIGTERM/SIGINT/SIGHUP are forwarded to COMMAND; exits with its status after stopping the daemon. Put -- before COMMAND.',
    )
    .argument('<command...>', 'the application and its arguments, after --');
  for (const o of OPTIONS) {
    const option = new Option(o.flag, o.key === 'dir' ? 'metrics directory to create or empty of stale .db files [env: PROMETHEUS_MULTIPROC_DIR, prometheus_multiproc_dir, GME_MMAP_METRICS_DIR] [default: a new directory on tmpfs, removed at exit]' : optionHelp(o));
    if (o.key === 'label') option.argParser(collect);
    run.addOption(option);
  }
  run.action(async (command: string[], flags: Flags) => {
    ignoreInspectorSignal();
    try {
      process.exitCode = await runCommand(flags, command, process.env);
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`multiproc-exporter: ${e.message}\n`);
        process.exit(EXIT_USAGE);
      }
      throw e;
    }
    process.exit();
  });

  program
    .command('demo')
    .description('start a few worker processes writing metrics with the writer library, and the daemon serving them')
    .option('--web.listen-address <host:port>', 'address of the demo daemon', '127.0.0.1:9798')
    .option('--workers <n>', 'worker processes', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('an integer 1..64');
      return n;
    }, 3)
    .action(async (opts: { 'web.listenAddress': string; workers: number }) => {
      try {
        await runDemo({ listen: opts['web.listenAddress'], workers: opts.workers });
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`multiproc-exporter: ${e.message}\n`);
          process.exit(EXIT_USAGE);
        }
        throw e;
      }
    });

  program
    .command('render')
    .description('merge the .db files of a directory once and print the exposition to stdout; skipped files are reported on stderr')
    .requiredOption('--dir <dir>', 'metrics directory (the workers\' PROMETHEUS_MULTIPROC_DIR)')
    .addOption(
      new Option('--format <format>', 'exposition format')
        .choices([...FORMATS])
        .default('text'),
    )
    .addOption(
      new Option('--liveness <mode>', "how a writer's death is detected (dead writers' live* gauges are left out); off = the libraries' semantics")
        .choices([...LIVENESS_MODES])
        .default('auto'),
    )
    .action(renderCommand);

  program
    .command('check')
    .description(
      'read a metrics directory once and report what the daemon would make of it: files by dialect and state, skipped files and why, families and series (top 10), size on disk, tmpfs or not, whether the writers\' processes are visible, what the exposition gate leaves out. Never writes to the directory. Exit 0: ok (warnings allowed); 1: problems found (skipped files, files served in part, gate rejections); 2: the directory cannot be read, or a bad flag',
    )
    .requiredOption('--dir <dir>', 'metrics directory (the workers\' PROMETHEUS_MULTIPROC_DIR)')
    .option('--json', 'print the report as JSON (its shape: docs/check.md)')
    .addOption(
      new Option('--liveness <mode>', "how a writer's death is detected, as for serve")
        .choices([...LIVENESS_MODES])
        .default('auto'),
    )
    .action(checkCommand);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync(argv as string[]);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`multiproc-exporter: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
