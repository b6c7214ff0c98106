import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { type AppOptions, buildApp } from './http/app.js';
import { createMetrics, listenForMetrics } from './http/metrics.js';
import { backchannelLogoutKind } from './logout/backchannel_logout.js';
import { createLogoutTokens } from './logout/logout_tokens.js';
import { createOutboxDelivery, type OutboxDelivery } from './outbox/delivery.js';
import { type OutboxKinds, outboxKinds } from './outbox/kinds.js';
import { securityEventBrokerKind, securityEventKind } from './security_events/outbox_kind.js';
import { createServices, type ServerHooks, type Services } from './services.js';
import { createLogger } from './shared/logger.js';
import { endImpersonationsOnRevocation, sweepImpersonations } from './tokens/impersonation.js';
import { NOTE_INTERVAL_MS } from './tokens/lifetimes.js';

export interface TesseraServer {
  app: FastifyInstance;
  services: Services;
  /** Starts listening on the configured host and port (and the metrics port, if set); resolves to the bound URL. */
  listen(): Promise<string>;
  /** Where the metrics listener serves, once listening with `metricsPort` set. */
  metricsUrl: string | undefined;
  /** This instance's outbox delivery job (back-channel logout tokens). */
  delivery: OutboxDelivery;
  close(): Promise<void>;
}

/**
 * Key rotation and revocation pruning are checked this often, and this instance notes its
 * access-token lifetime (see tokens/lifetimes.ts, which counts on this interval).
 */
const HOUSEKEEPING_MS = NOTE_INTERVAL_MS;
/** Revocations and key rotations written by other processes reach this one within this. */
const REVOCATION_SYNC_MS = 1_000;
/** Delivered and given-up outbox rows are kept this long (to look into), then deleted. */
const OUTBOX_RETENTION_MS = 7 * 86_400_000;

/** What this instance's outbox can deliver: one entry per kind (see outbox/kinds.ts). */
function deliveryKinds(services: Services): OutboxKinds {
  const logoutTokens = createLogoutTokens(
    () => services.keys.idTokenSigner(),
    services.config,
    services.clock,
  );
  const broker = services.revocations.feed.securityEvents;
  return outboxKinds(
    backchannelLogoutKind(logoutTokens, services.clients),
    securityEventKind(services.securityEventTokens, services.receivers),
    ...(broker ? [securityEventBrokerKind(services.securityEventTokens, broker)] : []),
  );
}

/**
 * One round of housekeeping. Each step runs on its own: one that fails (its table locked, say) is
 * reported and the others still run, instead of a failure early on skipping everything after it.
 */
export async function housekeep(
  services: Services,
  onFailure: (step: string, err: unknown) => void,
): Promise<void> {
  const { config } = services;
  const steps: [string, () => Promise<unknown>][] = [
    ['lifetimes', () => services.lifetimes.refresh()],
    ['keys', () => services.keys.ensure()],
    ['revocations', () => services.revocations.prune()],
    ['refresh tokens', () => services.refreshTokens.sweep()],
    ['sso sessions', () => services.ssoSessions.sweep()],
    ['authorization codes', () => services.authorizationCodes.sweep()],
    ['impersonations', () => sweepImpersonations(services)],
    ['audit', () => services.audit.prune(config.auditRetention, config.auditUsernameRetention)],
    ['outbox', () => services.outbox.prune(services.clock() - OUTBOX_RETENTION_MS)],
  ];
  for (const [step, run] of steps) {
    try {
      await run();
    } catch (err) {
      onFailure(step, err);
    }
  }
}

/**
 * Builds the whole server from a configuration: store, keys, services, HTTP app, and the periodic
 * housekeeping (scheduled key rotation, dropping revocation entries whose tokens have expired).
 *
 * @example
 * ```ts
 * const server = await createServer(loadConfig());
 * console.log(await server.listen());
 * ```
 */
export async function createServer(
  config: Config,
  options: AppOptions & ServerHooks & { clock?: () => number } = {},
): Promise<TesseraServer> {
  const services = await createServices(config, options.clock, createLogger(config, options.logger), {
    extraClaims: options.extraClaims,
  });
  const metrics = createMetrics(services);
  const app = await buildApp(services, { ...options, metrics });
  let metricsListener: Awaited<ReturnType<typeof listenForMetrics>> | undefined;
  const housekeeping = setInterval(
    () => void housekeep(services, (step, err) => app.log.error({ err, step }, 'housekeeping failed')),
    HOUSEKEEPING_MS,
  );
  housekeeping.unref();
  // Impersonations end at the revocation that ends them (housekeeping above catches expiry, and any
  // revocation this instance missed).
  const stopFollowingImpersonations = endImpersonationsOnRevocation(services, (err) =>
    app.log.error({ err }, 'ending impersonations failed'),
  );
  // Each second: revocations other processes wrote (and, scaled out, any the shared stream has not
  // received yet), and keys another instance rotated. One warning per outage, not one per second.
  let failing = false;
  const revocationSync = setInterval(() => {
    void (async () => {
      try {
        await services.revocations.sync();
        await services.keys.refresh();
        if (failing) app.log.info('store reachable again');
        failing = false;
      } catch (err) {
        if (!failing)
          app.log.warn({ reason: (err as Error).message }, 'sync with the store failed; retrying');
        failing = true;
      }
    })();
  }, REVOCATION_SYNC_MS);
  revocationSync.unref();
  // Every instance delivers the outbox: rows are leased, so each is attempted by one at a time.
  const delivery = createOutboxDelivery({
    outbox: services.outbox,
    kinds: deliveryKinds(services),
    audit: services.audit,
    log: services.log,
    clock: services.clock,
    onOutcome: (kind, outcome) => metrics.delivery(kind, outcome),
    addresses: { allowPrivateNetworks: config.deliveryAllowPrivateNetworks },
    ...(options.deliveryLookup ? { lookup: options.deliveryLookup } : {}),
  });
  delivery.start();
  const server: TesseraServer = {
    app,
    services,
    metricsUrl: undefined,
    delivery,
    async listen() {
      const url = await app.listen({ host: config.host, port: config.port });
      if (config.metricsPort !== undefined) {
        metricsListener = await listenForMetrics(metrics, config.metricsHost, config.metricsPort);
        server.metricsUrl = metricsListener.url;
      }
      return url;
    },
    async close() {
      clearInterval(housekeeping);
      clearInterval(revocationSync);
      stopFollowingImpersonations();
      // Attempts in flight end first (interrupted ones are due again at once), while the store is open.
      await delivery.stop();
      await metricsListener?.close();
      await app.close();
      await services.close();
    },
  };
  return server;
}
