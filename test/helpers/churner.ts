/**
 * Makes files appear and vanish in a metrics directory, for the "deleted between listing and
 * opening" race: `count` files `counter_churn<k>.db` (one entry, `churn_total{n="<k>"} 1`) are
 * renamed into place (so never seen half-written), kept for ~1 ms, then deleted; repeated until
 * `durationMs` has passed or SIGTERM. Run as its own process:
 *
 *   node --import tsx test/helpers/churner.ts <dir> <count> <durationMs>
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDb } from './db-bytes.js';

const [dir, countText, durationText] = process.argv.slice(2);
const count = Number(countText);
const duration = Number(durationText);
if (dir === undefined || !(count > 0) || !(duration > 0)) {
  process.stderr.write('usage: churner.ts <dir> <count> <durationMs>\n');
  process.exit(2);
}
const bytes = Array.from({ length: count }, (_, k) => buildDb([{ key: `["churn", "churn_total", {"n": "${k}"}, "Comes and goes."]`, value: 1 }], { slot: 16 }));
let stop = false;
process.once('SIGTERM', () => (stop = true));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const end = Date.now() + duration;
while (!stop && Date.now() < end) {
  for (let k = 0; k < count; k++) {
    const tmp = join(dir, `churn${k}.tmp`);
    writeFileSync(tmp, bytes[k]!);
    renameSync(tmp, join(dir, `counter_churn${k}.db`));
  }
  await sleep(1);
  for (let k = 0; k < count; k++) rmSync(join(dir, `counter_churn${k}.db`), { force: true });
  await sleep(1);
}
for (let k = 0; k < count; k++) rmSync(join(dir, `counter_churn${k}.db`), { force: true });
