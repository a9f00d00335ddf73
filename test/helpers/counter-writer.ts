/**
 * A worker process for the concurrent-writers test: increments two counter series shared with
 * the other workers through the writer library, `increments` times in all (alternating
 * `series="a"` by 1 and `series="b"` by 0.5), spread over about `durationMs`, then exits 0.
 *
 *   node --import tsx test/helpers/counter-writer.ts <dir> <workerId> <increments> <durationMs>
 */
import { Counter, configure } from '../../src/writer/index.js';

const [dir, id, incrementsText, durationText] = process.argv.slice(2);
const increments = Number(incrementsText);
const duration = Number(durationText);
if (dir === undefined || id === undefined || !(increments > 0) || !(duration > 0)) {
  process.stderr.write('usage: counter-writer.ts <dir> <workerId> <increments> <durationMs>\n');
  process.exit(2);
}
configure({ dir, processId: `w${id}` });
const shared = new Counter({ name: 'shared_total', help: 'Incremented by every worker.', labelNames: ['series'] });
const a = shared.labels('a');
const b = shared.labels('b');

const TICK_MS = 10;
const batches = Math.max(1, Math.floor(duration / TICK_MS));
const perBatch = Math.ceil(increments / batches);
let done = 0;
while (done < increments) {
  const end = Math.min(increments, done + perBatch);
  for (; done < end; done++) {
    if (done % 2 === 0) a.inc();
    else b.inc(0.5);
  }
  await new Promise((r) => setTimeout(r, TICK_MS));
}
process.stdout.write(JSON.stringify({ id, increments: done }));
