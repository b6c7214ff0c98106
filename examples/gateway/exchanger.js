// The gateway's side of OAuth 2.0 Token Exchange (RFC 8693): a user's token in, a narrower token for
// one upstream's audience out, cached until shortly before it expires.
import { createHash } from 'node:crypto';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** A cached token is not handed out this close to its expiry: it must survive the trip upstream. */
const EXPIRY_MARGIN_MS = 30_000;
/** Cached exchanges at most (one per user token and upstream): the oldest go first. */
const MAX_ENTRIES = 10_000;

/** The exchange failed: `status` and `error` are the auth server's (or 502 when it is unreachable). */
export class ExchangeFailed extends Error {
  /**
   * @param {number} status
   * @param {string} error
   */
  constructor(status, error) {
    super(`token exchange failed: ${status} ${error}`);
    this.name = 'ExchangeFailed';
    this.status = status;
    this.error = error;
  }
}

/**
 * @param {object} options
 * @param {string} options.issuer the Tessera server; its token endpoint comes from discovery
 * @param {{ id: string, secret: string }} options.client the gateway's confidential client
 * @param {boolean} [options.delegation] send the gateway's own token as `actor_token`, so upstream
 *   tokens name the gateway in `act` (the client needs `--exchange-delegation`); default true
 * @param {() => number} [options.clock] milliseconds since the epoch (tests move it)
 */
export function createExchanger({ issuer, client, delegation = true, clock = Date.now }) {
  const basic = `Basic ${Buffer.from(
    `${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`,
  ).toString('base64')}`;
  /** @type {Promise<string> | undefined} */
  let tokenEndpoint;
  /** @type {Map<string, { token: Promise<string>, expiresAt: number }>} by hash of user token + audience */
  const cache = new Map();
  /** The gateway's own token (client credentials), the actor of every delegated exchange. */
  let own;

  const endpoint = () => {
    tokenEndpoint ??= fetch(`${issuer}/.well-known/oauth-authorization-server`)
      .then((response) => {
        if (!response.ok) throw new ExchangeFailed(502, 'discovery_failed');
        return response.json();
      })
      .then((metadata) => metadata.token_endpoint)
      .catch((err) => {
        tokenEndpoint = undefined; // try discovery again next time
        throw err;
      });
    return tokenEndpoint;
  };

  /**
   * One token request with the gateway's credentials.
   *
   * @param {Record<string, string>} parameters
   * @returns {Promise<{ access_token: string, expires_in: number }>}
   */
  async function tokenRequest(parameters) {
    let response;
    try {
      response = await fetch(await endpoint(), {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(parameters),
      });
    } catch (err) {
      if (err instanceof ExchangeFailed) throw err;
      throw new ExchangeFailed(502, 'issuer_unreachable');
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ExchangeFailed(response.status, body.error ?? 'server_error');
    return body;
  }

  /** Keeps `entry` under `key` until `expiresAt` is known, dropping it if the request fails. */
  function remember(key, request) {
    const entry = { token: request.then((body) => body.access_token), expiresAt: Number.POSITIVE_INFINITY };
    request.then(
      (body) => {
        entry.expiresAt = clock() + body.expires_in * 1000;
      },
      () => {
        if (cache.get(key) === entry) cache.delete(key);
      },
    );
    cache.delete(key); // a stale entry's place: the newest go last
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value);
    cache.set(key, entry);
    return entry.token;
  }

  const fresh = (entry) => entry !== undefined && entry.expiresAt - EXPIRY_MARGIN_MS > clock();

  function actorToken() {
    if (!fresh(own)) {
      const request = tokenRequest({ grant_type: 'client_credentials' });
      own = { token: request.then((body) => body.access_token), expiresAt: Number.POSITIVE_INFINITY };
      const entry = own;
      request.then(
        (body) => {
          entry.expiresAt = clock() + body.expires_in * 1000;
        },
        () => {
          if (own === entry) own = undefined;
        },
      );
    }
    return own.token;
  }

  return {
    /**
     * A token for `audience` acting for the user whose token this is. Concurrent calls for the same
     * pair share one exchange; the result is reused until 30 s before it expires (never past the
     * user's token: the server caps it at the subject's `exp`).
     *
     * @param {string} userToken
     * @param {string} audience
     * @param {string} [scope] narrower than the user's, if given
     * @returns {Promise<string>}
     */
    tokenFor(userToken, audience, scope) {
      // By hash: the map's keys are never a usable credential if the process is inspected.
      const key = createHash('sha256')
        .update(`${userToken}\n${audience}\n${scope ?? ''}`)
        .digest('base64url');
      const cached = cache.get(key);
      if (fresh(cached)) return cached.token;
      const request = (async () =>
        tokenRequest({
          grant_type: EXCHANGE,
          subject_token: userToken,
          subject_token_type: ACCESS_TOKEN,
          audience,
          ...(scope ? { scope } : {}),
          ...(delegation ? { actor_token: await actorToken(), actor_token_type: ACCESS_TOKEN } : {}),
        }))();
      return remember(key, request);
    },
    /** How many exchanges are cached (a metric, and what the tests look at). */
    size: () => cache.size,
  };
}
