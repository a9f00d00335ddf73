/** `demo` (what `npm start` runs): worker processes write with the writer, the daemon serves them. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'undici';
import { expect, it } from 'vitest';
import { BIN } from '../helpers/daemon.js';
import { parseExposition } from '../helpers/parse-exposition.js';

it('serves the merged metrics of its workers and cleans up on SIGTERM', async () => {
  const child = spawn(process.execPath, [BIN, 'demo', '--web.listen-address', '127.0.0.1:0', '--workers', '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let out = '';
  child.stdout.setEncoding('utf8');
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner: ${out}`)), 10_000);
    child.stdout.on('data', (c: string) => {
      out += c;
      if (out.includes('Ctrl-C')) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
  const url = /metrics: +(http:\/\/\S+)/.exec(banner)![1]!;
  const dir = /write to (\S+)/.exec(banner)![1]!;
  expect(existsSync(dir)).toBe(true);

  let requests = 0;
  let workersStarted = 0;
  for (let i = 0; i < 100 && (requests === 0 || workersStarted < 2); i++) {
    await new Promise((r) => setTimeout(r, 100));
    const samples = parseExposition(await (await request(url)).body.text()).samples;
    requests = samples.filter((s) => s.name === 'demo_http_requests_total').reduce((n, s) => n + s.value, 0);
    workersStarted = samples.filter((s) => s.name === 'demo_worker_start_time_seconds').length;
  }
  expect(requests).toBeGreaterThan(0);
  expect(workersStarted).toBe(2); // one series per worker process (mode all, pid label)

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(existsSync(dir)).toBe(false);
});
