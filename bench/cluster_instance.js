// One server instance of the cluster benchmark: the built server, configured from the environment
// exactly as `tessera serve` is (DATABASE_URL, REDIS_URL, TESSERA_*), printing one JSON line when
// it listens.
import { createServer, loadConfig } from '../packages/server/dist/index.js';

const server = await createServer(loadConfig(), { logger: false });
const url = await server.listen();
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.on('SIGTERM', async () => {
  await server.close();
  process.exit(0);
});
