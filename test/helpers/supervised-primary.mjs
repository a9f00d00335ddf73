#!/usr/bin/env node
/**
 * A primary process that supervises the daemon, for the tests of what happens when the primary
 * ends: `node supervised-primary.mjs <exit|hang|signals> <dir>`. Prints one JSON line per event
 * on stdout: {"started":{pid,url}}, then {"exit":…} for daemon exits. Daemon logs are inherited
 * (the default), so they reach this process's stderr, and go on reaching it after its death.
 * Imports the package by its name, as an application does (dist/ is built by `npm test`).
 */
import { startExporter } from 'multiproc-exporter';

const [mode, dir] = process.argv.slice(2);
const exporter = await startExporter({ dir, listen: '127.0.0.1:0', stopOnSignals: mode === 'signals' });
exporter.on('exit', (e) => process.stdout.write(`${JSON.stringify({ exit: e })}\n`));
process.stdout.write(`${JSON.stringify({ started: { pid: exporter.pid, url: exporter.url } })}\n`);

if (mode === 'exit') setTimeout(() => process.exit(3), 100); // ends without stop()
// 'hang' and 'signals': the supervised daemon keeps this process alive until it is signalled
