// A receiver of security event tokens: RFC 8935 push (POST application/secevent+jwt, answered 202 or
// 400 {err, description}), each SET verified as RFC 8417 §3 asks, then the user notified. server.js
// reads the environment and listens; the test builds it here against an in-process Tessera server.
import { createServer } from 'node:http';
import { createRemoteJwks, isJoseError, verifyJwt } from '@tessera/jose';
import { consoleNotifier } from './notifier.js';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const TESSERA = 'urn:tessera:secevent:event-type:';

/** What each event type tells the user. Types not listed are accepted (202) and not notified. */
const MESSAGES = {
  [`${CAEP}session-revoked`]: (event) => ({
    title: 'You were signed out',
    text: `A session of your account was ended (${event.reason_admin?.en ?? 'no reason given'}). If you did not sign out, sign in again and review your account.`,
  }),
  [`${CAEP}credential-change`]: () => ({
    title: 'Your password was changed',
    text: 'The password of your account was changed, and every session signed out. If this was not you, contact support at once.',
  }),
  [`${RISC}account-disabled`]: () => ({
    title: 'Your account was disabled',
    text: 'Your account was disabled and every session signed out. Contact support if you think this is a mistake.',
  }),
  [`${TESSERA}refresh-token-reuse`]: () => ({
    title: 'We signed a session out to protect you',
    text: 'A sign-in token of one of your sessions was used twice, which can mean it was copied. That session was ended; sign in again.',
  }),
  [`${TESSERA}impersonation-started`]: (event) => ({
    title: 'Someone from support is acting on your account',
    text: `User ${event.actor?.sub ?? 'unknown'} began acting as you.`,
  }),
  [`${TESSERA}impersonation-ended`]: (event) => ({
    title: 'Support stopped acting on your account',
    text: `User ${event.actor?.sub ?? 'unknown'} stopped acting as you.`,
  }),
};

/** A pushed SET is a few kilobytes; anything larger is refused unread. */
const MAX_BODY = 64 * 1024;

/** RFC 8935 §2.3: a refusal the transmitter does not retry. */
class Refusal extends Error {
  /** @param {string} err an RFC 8935 §2.4 error code @param {string} description */
  constructor(err, description) {
    super(description);
    this.err = err;
  }
}

/**
 * Builds the receiver.
 *
 * @param {object} options
 * @param {string} options.issuer the Tessera server, exactly as in the SETs' `iss`
 * @param {string} options.audience this receiver's audience, as registered (`tessera receiver add --audience`)
 * @param {string} [options.bearerToken] the token registered with `--bearer-token-stdin`: pushes
 *   without it are refused
 * @param {{ notify(notification: import('./notifier.js').Notification): Promise<void> }} [options.notifier]
 * @param {string[]} [options.algorithms] what the issuer signs SETs with (its ID-token algorithm)
 * @param {(message: string) => void} [options.log] one line per refusal (never the SET)
 * @returns {{ server: import('node:http').Server, listen(port?: number, host?: string): Promise<string>, close(): Promise<void> }}
 */
export function createReceiver({
  issuer,
  audience,
  bearerToken,
  notifier = consoleNotifier(),
  algorithms = ['RS256', 'PS256', 'ES256', 'EdDSA'],
  log = (message) => process.stderr.write(`${message}\n`),
}) {
  // The issuer's published keys, fetched when a SET names a key not held yet, cached per Cache-Control.
  const jwks = createRemoteJwks(new URL('/.well-known/jwks.json', issuer));
  /** jti → when it may be forgotten (ms): each SET is acted on once (RFC 8417 §2.2). */
  const seen = new Map();
  // A transmitter retries for up to a day; a SET older than two is refused, so jtis older are forgotten.
  const maxAgeSeconds = 2 * 86_400;

  async function verify(token) {
    try {
      return (
        await verifyJwt(token, jwks, {
          algorithms,
          issuer,
          audience,
          // RFC 8417 §2.3: only a SET, never an ID or access token of the same issuer.
          typ: 'secevent+jwt',
          requiredClaims: ['iat', 'jti', 'events'],
          maxTokenAge: maxAgeSeconds,
          clockTolerance: 60,
          // RFC 8417 §2.2: a SET states that something happened; it has no expiry.
          requireExp: false,
        })
      ).payload;
    } catch (err) {
      if (!isJoseError(err)) throw err;
      // The keys could not be fetched: not the SET's fault. A 5xx makes the transmitter retry.
      if (
        err.code === 'ERR_JWKS_TIMEOUT' ||
        err.code === 'ERR_JOSE_GENERIC' ||
        err.code === 'ERR_JWKS_INVALID'
      )
        throw err;
      if (err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && err.claim === 'iss')
        throw new Refusal('invalid_issuer', 'the SET is from another issuer');
      if (err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && err.claim === 'aud')
        throw new Refusal('invalid_audience', 'the SET is for another audience');
      if (err.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || err.code === 'ERR_JWKS_NO_MATCHING_KEY')
        throw new Refusal('invalid_key', "the signature does not verify with the issuer's keys");
      throw new Refusal('invalid_request', err.message);
    }
  }

  /** The SET's one event, and whom it is about (`sub_id`: iss_sub, or complex with a user and a session). */
  function eventOf(claims) {
    const types =
      typeof claims.events === 'object' && claims.events !== null ? Object.keys(claims.events) : [];
    if (types.length !== 1) throw new Refusal('invalid_request', 'a SET carries exactly one event');
    const subject = claims.sub_id;
    const user = subject?.format === 'complex' ? subject.user : subject;
    if (user?.format !== 'iss_sub' || user.iss !== issuer || typeof user.sub !== 'string')
      throw new Refusal('invalid_request', 'the subject is not an account of this issuer');
    const session =
      subject.format === 'complex' && subject.session?.format === 'opaque' ? subject.session.id : undefined;
    return { type: types[0], event: claims.events[types[0]], userId: user.sub, sessionId: session };
  }

  async function receive(request) {
    if (request.method !== 'POST') throw new Refusal('invalid_request', 'SETs are POSTed');
    // RFC 8935 §2.1.
    if (request.headers['content-type']?.split(';')[0].trim().toLowerCase() !== 'application/secevent+jwt')
      throw new Refusal('invalid_request', 'the body is application/secevent+jwt');
    if (bearerToken !== undefined && request.headers.authorization !== `Bearer ${bearerToken}`)
      throw new Refusal('authentication_failed', 'the bearer token is missing or wrong');
    let size = 0;
    const chunks = [];
    for await (const chunk of request) {
      size += chunk.length;
      if (size > MAX_BODY) throw new Refusal('invalid_request', 'the SET is too large');
      chunks.push(chunk);
    }
    const claims = await verify(Buffer.concat(chunks).toString('utf8').trim());
    const { type, event, userId, sessionId } = eventOf(claims);
    const now = Date.now();
    for (const [jti, until] of seen) if (until <= now) seen.delete(jti);
    // A retry of a SET already acted on (its 202 was lost): accepted again, not notified twice.
    if (seen.has(claims.jti)) return;
    const message = MESSAGES[type];
    if (message) {
      const { title, text } = message(event);
      // Remembered only once notified: a notifier failure answers 503, and the retry notifies.
      await notifier.notify({
        userId,
        eventType: type,
        title,
        text,
        jti: claims.jti,
        txn: claims.txn,
        ...(sessionId !== undefined ? { sessionId } : {}),
      });
    }
    seen.set(claims.jti, now + maxAgeSeconds * 1000);
  }

  const server = createServer((request, response) => {
    receive(request).then(
      () => {
        response.writeHead(202).end();
      },
      (err) => {
        if (err instanceof Refusal) {
          log(`refused a SET: ${err.err}: ${err.message}`);
          response.writeHead(400, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ err: err.err, description: err.message }));
          return;
        }
        // The keys or the notifier failed: the transmitter tries again later.
        log(`could not process a SET now: ${err.message}`);
        response.writeHead(503, { 'retry-after': '5' }).end();
      },
    );
  });

  return {
    server,
    async listen(port = 0, host = '127.0.0.1') {
      await new Promise((resolve) => server.listen(port, host, resolve));
      return `http://${host}:${server.address().port}/`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
