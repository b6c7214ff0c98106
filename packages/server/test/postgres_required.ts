/**
 * Setup file of the `server-postgres` project: without PostgreSQL (which only gets this far on CI,
 * see postgres_setup.ts) every test file fails, saying why.
 */
import { inject } from 'vitest';

const unreachable = inject('tesseraPostgresUnreachable');
if (unreachable) throw new Error(unreachable);
