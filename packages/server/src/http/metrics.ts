import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { BACKCHANNEL_LOGOUT } from '../logout/backchannel_logout.js';
import type { DeliveryOutcome } from '../outbox/delivery.js';
import { SECURITY_EVENT_BROKER_KIND, SECURITY_EVENT_KIND } from '../security_events/emitter.js';
import type { Services } from '../services.js';

/** Each outbox kind's counter of attempts by outcome (a kind added to the outbox adds its line here). */
const DELIVERY_COUNTERS: Readonly<Record<string, { name: string; help: string }>> = {
  [BACKCHANNEL_LOGOUT]: {
    name: 'tessera_backchannel_logout_deliveries_total',
    help: 'Back-channel logout attempts by outcome: delivered, retried (failed, tried again later), gave_up',
  },
  [SECURITY_EVENT_KIND]: {
    name: 'tessera_security_event_deliveries_total',
    help: 'Security event token pushes (RFC 8935) by outcome: delivered, retried, gave_up',
  },
  [SECURITY_EVENT_BROKER_KIND]: {
    name: 'tessera_security_event_broker_publications_total',
    help: 'Security event tokens published to the revocation broker by outcome: delivered, retried, gave_up',
  },
};

export interface Metrics {
  readonly registry: Registry;
  observe(route: string, status: number): void;
  login(outcome: 'succeeded' | 'failed' | 'throttled'): void;
  refresh(outcome: 'rotated' | 'replayed' | 'rejected' | 'reuse_detected'): void;
  /** One outbox attempt of `kind` ended so. */
  delivery(kind: string, outcome: DeliveryOutcome): void;
}

/** Prometheus metrics, one registry per app (so two apps in one process, as in tests, do not collide). */
export function createMetrics(services: Services): Metrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const logins = new Counter({
    name: 'tessera_logins_total',
    help: 'Password logins by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const refreshes = new Counter({
    name: 'tessera_refreshes_total',
    help: 'Refresh-token grants by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const deliveries = new Map(
    Object.entries(DELIVERY_COUNTERS).map(([kind, { name, help }]) => [
      kind,
      new Counter({ name, help, labelNames: ['outcome'], registers: [registry] }),
    ]),
  );
  new Gauge({
    name: 'tessera_revocation_entries',
    help: 'Live entries in the revocation list',
    registers: [registry],
    collect() {
      this.set(services.revocations.size());
    },
  });
  // Read from the store at each scrape: the outbox is shared, so every instance reports the same
  // backlog (aggregate with max, not sum). A kind with nothing pending reports 0, not nothing.
  const backlog = async (): Promise<[string, { count: number; oldestCreatedAt: number } | undefined][]> => {
    const byKind = new Map((await services.outbox.pending()).map((row) => [row.kind, row]));
    return [...new Set([...Object.keys(DELIVERY_COUNTERS), ...byKind.keys()])].map((kind) => [
      kind,
      byKind.get(kind),
    ]);
  };
  new Gauge({
    name: 'tessera_outbox_pending',
    help: 'Outbox deliveries not yet delivered nor given up, by kind (the whole store)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      for (const [kind, row] of await backlog()) this.set({ kind }, row?.count ?? 0);
    },
  });
  new Gauge({
    name: 'tessera_outbox_oldest_pending_seconds',
    help: 'Age of the oldest outbox delivery still pending, by kind (0 when none)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const now = services.clock();
      for (const [kind, row] of await backlog())
        this.set({ kind }, row ? Math.max(0, (now - row.oldestCreatedAt) / 1000) : 0);
    },
  });
  return {
    registry,
    observe: (route, status) => requests.inc({ route, status: String(status) }),
    login: (outcome) => logins.inc({ outcome }),
    refresh: (outcome) => refreshes.inc({ outcome }),
    delivery: (kind, outcome) => deliveries.get(kind)?.inc({ outcome }),
  };
}

/**
 * A listener of its own that serves only `GET /metrics`, without a token: for a scraper on a private
 * interface (`metricsHost`, loopback by default) while the main listener faces the internet.
 */
export async function listenForMetrics(
  metrics: Metrics,
  host: string,
  port: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/metrics`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
