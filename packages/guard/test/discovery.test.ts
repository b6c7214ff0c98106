import { generateKeyPair } from '@tessera/jose';
import { afterEach, describe, expect, it } from 'vitest';
import { type Guard, GuardError } from '../src/index.js';
import { guardFor, refusal } from './helpers/guard.js';
import { bearer, startIssuer, type TestIssuer, waitFor } from './helpers/issuer.js';

const issuers: TestIssuer[] = [];
const guards: Guard[] = [];

afterEach(async () => {
  for (const guard of guards.splice(0)) await guard.close();
  for (const issuer of issuers.splice(0)) await issuer.close();
});

async function issuerWith(options: Parameters<typeof startIssuer>[0] = {}): Promise<TestIssuer> {
  const issuer = await startIssuer(options);
  issuers.push(issuer);
  return issuer;
}

function start(issuer: TestIssuer, options: Parameters<typeof guardFor>[1] = {}): Guard {
  const { guard } = guardFor(issuer, options);
  guards.push(guard);
  return guard;
}

async function status(guard: Guard, token: string): Promise<number> {
  return guard.authenticate(bearer(token)).then(
    () => 200,
    (err: unknown) => (err instanceof GuardError ? err.status : 500),
  );
}

describe('discovery (RFC 8414)', () => {
  it('rejects ready() at once when the document names another issuer (§3.3)', async () => {
    const issuer = await issuerWith();
    issuer.metadata = { issuer: 'https://evil.example.com' };
    const guard = start(issuer, { readyTimeout: 5 });
    const started = performance.now();
    await expect(guard.ready()).rejects.toThrow(
      /names the issuer "https:\/\/evil\.example\.com", not "http:\/\/127\.0\.0\.1:\d+" \(RFC 8414 §3\.3\)/,
    );
    expect(performance.now() - started).toBeLessThan(2000);
    const err = await refusal(guard, issuer.token());
    expect(err.status).toBe(503);
    expect(err.reason).toMatch(/cannot start/);
    // The key set named by the foreign document was never fetched.
    expect(issuer.jwksRequests).toBe(0);
  });

  it('a guard that cannot start refuses tokens even when configured to fail open', async () => {
    // Keys and verifier are set up, then start-up fails: the metadata names no revocation stream.
    const issuer = await issuerWith();
    issuer.metadata = { revocation_events_endpoint: undefined };
    const guard = start(issuer, { onStale: 'fail-open' });
    await expect(guard.ready()).rejects.toThrow(/no revocation_events_endpoint/);
    const err = await refusal(guard, issuer.token());
    expect(err.status).toBe(503);
    expect(err.reason).toMatch(/cannot start/);
    expect(guard.health().ready).toBe(false);
  });

  it('compares the issuer exactly: a trailing slash is another issuer', async () => {
    const issuer = await issuerWith();
    const guard = start(issuer, { issuer: `${issuer.url}/` });
    await expect(guard.ready()).rejects.toThrow(/RFC 8414 §3\.3/);
  });

  it('takes the algorithms from access_token_signing_alg_values_supported', async () => {
    const issuer = await issuerWith({ alg: 'ES384' });
    const guard = start(issuer);
    await guard.ready();
    expect(await status(guard, issuer.token())).toBe(200);
    // An ES256 key under the same kid, and ES256 not advertised: refused before any key is tried.
    const { privateKey } = await generateKeyPair('ES256', { kid: 'key-1' });
    const err = await guard
      .authenticate(bearer(issuer.token({}, { key: privateKey })))
      .catch((e: unknown) => e);
    expect((err as GuardError).reason).toContain('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('refuses tokens in an algorithm the document does not advertise, even one the key could serve', async () => {
    const issuer = await issuerWith();
    issuer.metadata = { access_token_signing_alg_values_supported: ['RS256'] };
    const guard = start(issuer);
    await guard.ready();
    const err = await refusal(guard, issuer.token());
    expect(err.status).toBe(401);
    expect(err.reason).toContain('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('never takes a symmetric algorithm or none from the document', async () => {
    const issuer = await issuerWith();
    issuer.metadata = { access_token_signing_alg_values_supported: ['HS256', 'none', 'ES256'] };
    const guard = start(issuer);
    await guard.ready();
    expect(await status(guard, issuer.token())).toBe(200);

    const symmetric = await issuerWith();
    symmetric.metadata = { access_token_signing_alg_values_supported: ['HS256'] };
    await expect(start(symmetric).ready()).rejects.toThrow(/no asymmetric signing algorithm/);
  });

  it('falls back to the default algorithms when the document lists none', async () => {
    const issuer = await issuerWith({ alg: 'EdDSA' });
    issuer.metadata = { access_token_signing_alg_values_supported: undefined };
    const guard = start(issuer);
    await guard.ready();
    expect(await status(guard, issuer.token())).toBe(200);
  });

  it('explicit algorithms, jwksUri and stream URL skip discovery', async () => {
    const issuer = await issuerWith();
    const guard = start(issuer, {
      algorithms: ['ES256'],
      jwksUri: `${issuer.url}/jwks`,
      revocations: { url: `${issuer.url}/revocations` },
    });
    await guard.ready();
    expect(await status(guard, issuer.token())).toBe(200);
    expect(issuer.metadataRequests).toBe(0);
    expect(issuer.openStreams).toBe(1);
  });

  it('retries while the metadata endpoint fails, then starts', async () => {
    const issuer = await issuerWith();
    issuer.metadataStatus = 503;
    const guard = start(issuer);
    await waitFor(() => issuer.metadataRequests >= 2, 3000, 'a retry');
    expect(guard.health().ready).toBe(false);
    expect(await status(guard, issuer.token())).toBe(503);
    issuer.metadataStatus = 200;
    await guard.ready();
    expect(await status(guard, issuer.token())).toBe(200);
  });

  it('rejects ready() with the last error when discovery never answers in time', async () => {
    const issuer = await issuerWith();
    issuer.metadataStatus = 500;
    const guard = start(issuer, { readyTimeout: 0.3 });
    await expect(guard.ready()).rejects.toThrow(
      /not ready after 0\.3 s: waiting for the metadata at http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-authorization-server \(last error: the metadata endpoint of http:\/\/127\.0\.0\.1:\d+ answered HTTP 500\)/,
    );
  });

  it('needs a revocation_events_endpoint for the default stream mode', async () => {
    const issuer = await issuerWith();
    issuer.metadata = { revocation_events_endpoint: undefined };
    await expect(start(issuer).ready()).rejects.toThrow(/no revocation_events_endpoint/);
  });
});
