/**
 * Global setup of the `server-postgres` project (vitest.config.ts): checks that PostgreSQL answers,
 * drops the test databases left behind by runs that are no longer alive, tells the workers whose
 * databases they create (this run's pid), and at the end drops every database this run created.
 *
 * The root config leaves the project out, saying why, when PostgreSQL is unreachable — except on CI
 * (`CI=true`), where it stays in, and every file of it fails with the reason (postgres_required.ts)
 * while the other projects still run.
 */
import type { TestProject } from 'vitest/node';
import { dropDatabasesOf, isAlive, postgresUnreachable } from './databases.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The pid of the vitest run, which the names of the databases it creates carry. */
    tesseraRunPid: number;
    /** Set when PostgreSQL cannot be used: why. */
    tesseraPostgresUnreachable: string | undefined;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const unreachable = await postgresUnreachable();
  project.provide('tesseraRunPid', process.pid);
  if (unreachable) {
    const ci = process.env.CI === 'true' ? ' (required on CI)' : '';
    const reason = `${unreachable}: the server-postgres project needs it${ci}; start it or set TESSERA_TEST_DATABASE_URL`;
    console.error(`\n${reason}\n`);
    project.provide('tesseraPostgresUnreachable', reason);
    return undefined;
  }
  project.provide('tesseraPostgresUnreachable', undefined);
  await dropDatabasesOf((pid) => pid !== process.pid && !isAlive(pid));
  return async () => {
    await dropDatabasesOf((pid) => pid === process.pid);
  };
}
