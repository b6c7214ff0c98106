/**
 * Global setup of the `server-postgres` project (vitest.config.ts): checks that PostgreSQL answers,
 * drops the test databases left behind by runs that are no longer alive, tells the workers whose
 * databases they create (this run's pid), and at the end drops every database this run created.
 *
 * The root config leaves the project out, saying why, when PostgreSQL is unreachable — except on CI
 * (`CI=true`), where it stays in and this setup fails the run.
 */
import type { TestProject } from 'vitest/node';
import { dropDatabasesOf, isAlive, postgresUnreachable } from './databases.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The pid of the vitest run, which the names of the databases it creates carry. */
    tesseraRunPid: number;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const unreachable = await postgresUnreachable();
  if (unreachable) {
    const ci = process.env.CI === 'true' ? ' (required on CI)' : '';
    throw new Error(
      `${unreachable}: the server-postgres project needs it${ci}; start it or set TESSERA_TEST_DATABASE_URL`,
    );
  }
  await dropDatabasesOf((pid) => pid !== process.pid && !isAlive(pid));
  project.provide('tesseraRunPid', process.pid);
  return async () => {
    await dropDatabasesOf((pid) => pid === process.pid);
  };
}
