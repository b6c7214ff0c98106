// The cluster suite (cluster.js) on NATS JetStream alone: `npm run build && node bench/cluster_nats.js`.
// `BENCH_SUITES=cluster npm run bench` runs it beside Redis and RabbitMQ, from the one runner.
import { runCluster } from './cluster.js';

/** The NATS feed's results of the cluster suite (propagation, fan-out), or `{ skipped }`. */
export async function runClusterNats() {
  return (await runCluster({ only: ['NATS'] })).NATS;
}

if (import.meta.url === `file://${process.argv[1]}`) await runClusterNats();
