// A worker that counts to N with our writer, reports the directory it was given, then waits for
// SIGTERM and exits 0 (or exits at once with the code in argv[3], if any).
import { Counter } from '../../../dist/writer/index.js';

const n = Number(process.argv[2]);
const code = process.argv[3];
const c = new Counter({ name: 'run_app_done_total', help: 'Work done.' });
for (let i = 0; i < n; i++) c.inc();
process.stdout.write(`app: dir=${process.env.PROMETHEUS_MULTIPROC_DIR} legacy=${process.env.prometheus_multiproc_dir} counted=${n}\n`);
if (code !== undefined) process.exit(Number(code));
process.on('SIGTERM', () => {
  process.stdout.write('app: SIGTERM\n');
  process.exit(0);
});
process.on('SIGHUP', () => process.stdout.write('app: SIGHUP\n'));
setInterval(() => {}, 1_000);
