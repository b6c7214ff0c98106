import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests run against the sources, so `npm test` works on a fresh clone before any build.
  resolve: {
    alias: { '@tessera/jose': fileURLToPath(new URL('./packages/jose/src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    // Conformance suites run thousands of RSA verifications; give slow machines room.
    testTimeout: 60_000,
    pool: 'forks',
  },
});
