import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { type AppOptions, buildApp } from './http/app.js';
import { createMetrics, listenForMetrics } from './http/metrics.js';
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
  close(): Promise<void>;
}

/**
 * Key rotation and revocation pruning are checked this often, and this instance notes its
 * access-token lifetime (see tokens/lifetimes.ts, which counts on this interval).
 */
const HOUSEKEEPING_MS = NOTE_INTERVAL_MS;
/** Revocations and key rotations written by other processes reach this one within this. */
const REVOCATION_SYNC_MS = 1_000;

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
  const housekeeping = setInterval(() => {
    void (async () => {
      try {
        await services.lifetimes.refresh();
        await services.keys.ensure();
        await services.revocations.prune();
        await services.refreshTokens.sweep();
        await services.ssoSessions.sweep();
        await services.authorizationCodes.sweep();
        await sweepImpersonations(services);
        await services.audit.prune(config.auditRetention, config.auditUsernameRetention);
      } catch (err) {
        app.log.error({ err }, 'housekeeping failed');
      }
    })();
  }, HOUSEKEEPING_MS);
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
  const server: TesseraServer = {
    app,
    services,
    metricsUrl: undefined,
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
      await metricsListener?.close();
      await app.close();
      await services.close();
    },
  };
  return server;
}
