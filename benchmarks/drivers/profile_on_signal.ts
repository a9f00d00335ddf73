/**
 * Preloaded into the daemon by the benchmarks (`node --import tsx --import …/profile_on_signal.ts
 * bin/multiproc-exporter …`), so a profile covers only the phase being measured: SIGUSR2 starts
 * a CPU profile (100 µs sampling) and touches `$MPE_BENCH_PROFILE.started`; the next SIGUSR2
 * writes the profile to `$MPE_BENCH_PROFILE` (V8 .cpuprofile JSON).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

const out = process.env['MPE_BENCH_PROFILE'];
if (out === undefined || out === '') throw new Error('profile_on_signal: set MPE_BENCH_PROFILE to the output file');
const session = new Session();
session.connect();
let profiling = false;

process.on('SIGUSR2', () => {
  void (async () => {
    if (!profiling) {
      profiling = true;
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
      writeFileSync(`${out}.started`, '');
      return;
    }
    profiling = false;
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${out}.tmp`, JSON.stringify(profile));
    renameSync(`${out}.tmp`, out); // complete when it appears
  })();
});
