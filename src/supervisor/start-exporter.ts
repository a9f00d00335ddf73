/**
 * `startExporter()`: run the daemon as a supervised child of a Node cluster primary. It is
 * spawned in its own process group, restarted with exponential backoff when it dies, stopped with
 * SIGTERM then SIGKILL to the group (as GitLab's supervisor does), and killed with the primary.
 *
 *   const exporter = await startExporter({ dir: '/run/metrics', listen: ':9798', wipeDirectory: true });
 *   for (let i = 0; i < 4; i++) cluster.fork({ PROMETHEUS_MULTIPROC_DIR: '/run/metrics' });
 *   process.once('SIGTERM', () => void exporter.stop());
 */
import { DaemonStartError, type LogSource, type LogTarget, type ProcessExit } from './daemon-process.js';
import type { Exporter } from './exporter.js';
import { resolveOptions, type StartExporterOptions } from './options.js';
import type { StartedMessage } from './protocol.js';
import { spawnDaemon, SupervisedExporter } from './supervised-exporter.js';
import { WipeError, wipeMetricsDirectory } from './wipe-directory.js';

export type { LogSource, LogTarget, ProcessExit };
export type { Exporter, ExporterEvents, ExitEvent, RestartEvent } from './exporter.js';
export type { RestartOptions, StartExporterOptions } from './options.js';
export { DaemonStartError };

/**
 * Spawns the daemon and resolves once it serves. Rejects with a TypeError for a bad option, and
 * with a DaemonStartError if the first daemon does not serve (e.g. exit code 2 for a port in use,
 * with the daemon's message): that one is not restarted.
 */
export async function startExporter(options: StartExporterOptions = {}): Promise<Exporter> {
  const settings = resolveOptions(options);
  if (settings.wipeDirectory) {
    try {
      wipeMetricsDirectory(settings.dir);
    } catch (e) {
      if (e instanceof WipeError) throw new Error(`startExporter: wipeDirectory: ${e.message}`, { cause: e });
      throw e;
    }
  }
  const daemon = await spawnDaemon(settings, settings.listen);
  // Registered before the first await on the daemon, so that no exit of this process orphans it.
  const onProcessExit = (): void => daemon.killGroupNow();
  process.on('exit', onProcessExit);
  let started: StartedMessage;
  try {
    started = await daemon.ready;
  } catch (e) {
    await daemon.terminate(0);
    process.off('exit', onProcessExit);
    if (e instanceof DaemonStartError) {
      throw new DaemonStartError(`startExporter: the daemon (pid ${daemon.pid}) ${e.message}; not restarted`, e.exit, e.daemonMessage);
    }
    throw e;
  }
  process.off('exit', onProcessExit);
  return new SupervisedExporter(settings, daemon, started);
}
