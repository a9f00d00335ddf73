import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['test/system/load.test.ts'], sequence: { groupOrder: 0 } } },
      // The load test measures /liveness latency: it runs alone, after everything else, so other
      // test files do not compete with it for the two cores.
      { extends: true, test: { name: 'load', include: ['test/system/load.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
