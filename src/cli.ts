/**
 * Command line: `render` (one merge printed to stdout). The daemon (`serve`) and `demo` build on it.
 */
import { Command, Option } from 'commander';
import { Collector } from './collector.js';
import { DirectoryError } from './reader/directory.js';
import { renderOpenMetrics, renderText } from './exposition/index.js';
import { nativeLoadError, loadNative } from './native.js';
import { VERSION } from './version.js';

const EXIT_USAGE = 2;

function renderCommand(opts: { dir: string; format: 'text' | 'openmetrics' }): void {
  if (loadNative() === null) {
    process.stderr.write(`multiproc-exporter: native mmap addon unavailable (${nativeLoadError()}); reading files with plain reads\n`);
  }
  const collector = new Collector(opts.dir);
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
  process.stdout.write(opts.format === 'openmetrics' ? renderOpenMetrics(collection.families) : renderText(collection.families));
}

export function buildProgram(): Command {
  const program = new Command('multiproc-exporter')
    .description('Serve the metrics that many worker processes write to per-process .db files, merged as one.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    });
  program
    .command('render')
    .description('merge the .db files of a directory once and print the exposition to stdout; skipped files are reported on stderr')
    .requiredOption('--dir <dir>', 'metrics directory (the workers\' PROMETHEUS_MULTIPROC_DIR)')
    .addOption(
      new Option('--format <format>', 'exposition format')
        .choices(['text', 'openmetrics'])
        .default('text'),
    )
    .action(renderCommand);
  return program;
}

export function main(argv: readonly string[]): void {
  buildProgram().parse(argv as string[]);
}

main(process.argv);
