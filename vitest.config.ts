import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    // Real nats-server processes, SQLite files and HNSW builds: give each test room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files at a time. Vitest's default on this 2-core machine is one (cores - 1),
    // and most files wait on real servers and processes more than they compute: the whole
    // suite took 4 m 57 s with two, where one needed about 9 (552 s of test time).
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
