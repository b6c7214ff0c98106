import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.js';
import type { DpopProof } from '../dpop/proofs.js';
import type { Metrics } from '../metrics.js';

export interface TokenRequestBody {
  grant_type?: string;
  client_id?: string;
  client_secret?: string;
  scope?: string;
  [parameter: string]: unknown;
}

/**
 * One OAuth grant (RFC 6749 §4–§6, RFC 8693, …): the token endpoint picks the handler by
 * `grant_type`. Adding a grant is adding a file.
 */
export interface GrantHandler {
  readonly grantType: string;
  handle(
    request: FastifyRequest<{ Body: TokenRequestBody }>,
    reply: FastifyReply,
    context: {
      services: Services;
      metrics: Metrics;
      /** The request's DPoP proof (RFC 9449 §5), already checked; undefined without one. */
      dpop: DpopProof | undefined;
    },
  ): Promise<unknown>;
}
