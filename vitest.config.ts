import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    // Conformance suites run thousands of RSA verifications; give slow machines room.
    testTimeout: 60_000,
    pool: 'forks',
  },
});
