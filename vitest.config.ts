import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { postgresUnreachable } from './packages/server/test/databases.js';

/**
 * One project per package, each running its tests once — except the server's, which run twice: on
 * the embedded SQLite store (`server-sqlite`) and on PostgreSQL (`server-postgres`, at
 * `TESSERA_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test; see
 * packages/server/test/databases.ts). Without a reachable PostgreSQL the PostgreSQL run is left out,
 * saying why — except on CI (`CI=true`), where it stays in and fails, saying why. The browser tests
 * (packages/server/test/browser/) run once, in `server-sqlite`: a browser is slow to drive, and the
 * store behind the pages is covered on both databases by the rest of the suite. The outbox's own
 * suite runs in `server-postgres` only (see there).
 *
 * Tests that talk to RabbitMQ or NATS (any package's, named `*rabbitmq*` or `*nats*`) run in one
 * project of their own, `brokers`, one file at a time: some restart the machine's broker to prove
 * nothing is lost, which must not pull the broker from under another file's test.
 */
const packages = readdirSync(new URL('./packages/', import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'server')
  .map((entry) => entry.name);
const serverTests = ['packages/server/test/**/*.test.ts'];
const browserTests = 'packages/server/test/browser/**';
const brokerTests = [
  'packages/*/test/**/*{rabbitmq,nats}*.test.ts',
  'examples/*/test/**/*{rabbitmq,nats}*.test.ts',
];
const exclude = [...configDefaults.exclude, ...brokerTests];

const projects: TestProjectInlineConfiguration[] = [
  ...packages.map((name) => ({
    extends: true as const,
    test: { name, include: [`packages/${name}/test/**/*.test.ts`], exclude },
  })),
  {
    extends: true,
    test: {
      name: 'server-sqlite',
      include: serverTests,
      // The outbox's own suite (leases, retries in real time, an RP down for 10 s) runs on
      // PostgreSQL, where claims race across instances (FOR UPDATE SKIP LOCKED); on SQLite the same
      // delivery job runs under the back-channel logout and security event suites.
      exclude: [...exclude, 'packages/server/test/outbox.test.ts'],
      env: { TESSERA_TEST_STORE: 'sqlite' },
    },
  },
  { extends: true, test: { name: 'examples', include: ['examples/*/test/**/*.test.ts'], exclude } },
];
// Vitest evaluates this file again for each project that extends it: probe and warn only once.
const state = globalThis as { tesseraPostgresProbe?: Promise<string | undefined> };
const firstProbe = state.tesseraPostgresProbe === undefined;
if (firstProbe) state.tesseraPostgresProbe = postgresUnreachable();
const unreachable = await state.tesseraPostgresProbe;
if (unreachable && process.env.CI !== 'true') {
  if (firstProbe)
    console.warn(
      `\nskipping the server-postgres project (the server suite on PostgreSQL): ${unreachable}; ` +
        'start PostgreSQL or set TESSERA_TEST_DATABASE_URL to run it\n',
    );
} else {
  projects.push({
    extends: true,
    test: {
      name: 'server-postgres',
      include: serverTests,
      exclude: [...exclude, browserTests],
      env: { TESSERA_TEST_STORE: 'postgres' },
      globalSetup: ['packages/server/test/postgres_setup.ts'],
      setupFiles: ['packages/server/test/postgres_required.ts'],
    },
  });
}

projects.push({
  extends: true,
  test: {
    name: 'brokers',
    include: brokerTests,
    fileParallelism: false,
    // On PostgreSQL where there is one (the way a cluster on brokers runs), else on SQLite.
    env: { TESSERA_TEST_STORE: unreachable && process.env.CI !== 'true' ? 'sqlite' : 'postgres' },
    ...(unreachable && process.env.CI !== 'true'
      ? {}
      : {
          globalSetup: ['packages/server/test/postgres_setup.ts'],
          setupFiles: ['packages/server/test/postgres_required.ts'],
        }),
  },
});

export default defineConfig({
  // Tests run against the sources, so `npm test` works on a fresh clone before any build.
  resolve: {
    alias: {
      '@tessera/jose': fileURLToPath(new URL('./packages/jose/src/index.ts', import.meta.url)),
      '@tessera/protocol': fileURLToPath(new URL('./packages/protocol/src/index.ts', import.meta.url)),
      // Before '@tessera/guard', which would otherwise claim the subpath (examples/ import it).
      '@tessera/guard/fastify': fileURLToPath(
        new URL('./packages/guard/src/adapters/fastify.ts', import.meta.url),
      ),
      '@tessera/guard': fileURLToPath(new URL('./packages/guard/src/index.ts', import.meta.url)),
      '@tessera/client': fileURLToPath(new URL('./packages/client/src/index.ts', import.meta.url)),
    },
  },
  test: {
    // Conformance suites run thousands of RSA verifications; give slow machines room.
    testTimeout: 60_000,
    pool: 'forks',
    // One more worker than the two cores: the suite waits on databases, sockets, child processes
    // and real-time retries (back-channel delivery, broker restarts) as much as it computes, and
    // with two workers the cores sat idle about half the run.
    maxWorkers: 3,
    projects,
  },
});
