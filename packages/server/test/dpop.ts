import { createHmac, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import * as dpop from 'dpop';
import { expect } from 'vitest';
import type { TestServer } from './helpers.js';
import { basic } from './http.js';
import { request } from './requests.js';

/**
 * DPoP (RFC 9449) from the client's side, for the server tests: keys and proofs made with panva's
 * `dpop` package (what a browser or Node client does), and proofs built by hand for what no
 * well-behaved library would send.
 */

export type DpopKey = dpop.KeyPair;
export const dpopKey = (alg: dpop.JWSAlgorithm = 'ES256'): Promise<DpopKey> => dpop.generateKeyPair(alg);
export const thumbprint = (key: DpopKey): Promise<string> => dpop.calculateThumbprint(key.publicKey);

/** The URL a proof for `path` names (`htu`): the issuer's, which the server compares against. */
export const htuOf = (server: TestServer, path: string) => `${server.services.config.issuer}${path}`;

export function proofFor(
  server: TestServer,
  key: DpopKey,
  path: string,
  options: {
    htm?: string;
    nonce?: string;
    accessToken?: string;
    claims?: Record<string, dpop.JsonValue>;
  } = {},
): Promise<string> {
  return dpop.generateProof(
    key,
    htuOf(server, path),
    options.htm ?? 'POST',
    options.nonce,
    options.accessToken,
    options.claims,
  );
}

/** A nonce as a client gets one: from the `DPoP-Nonce` header of a token endpoint answer. */
export async function serverNonce(server: TestServer, key: DpopKey): Promise<string> {
  const res = await request(`${server.url}/token`, {
    method: 'POST',
    headers: { dpop: await proofFor(server, key, '/token') },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  const nonce = res.headers.get('dpop-nonce');
  expect(nonce).toMatch(/^[\w-]+$/);
  await res.arrayBuffer();
  return nonce!;
}

/**
 * A token request (form body) to `path` with a proof of `key`, retried once with the server's nonce
 * when it answers `use_dpop_nonce`, as RFC 9449 §8 clients do.
 */
export async function dpopPost(
  server: TestServer,
  path: string,
  key: DpopKey,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const send = async (nonce?: string) =>
    request(`${server.url}${path}`, {
      method: 'POST',
      headers: { ...headers, dpop: await proofFor(server, key, path, { nonce }) },
      body: new URLSearchParams(fields),
    });
  const first = await send();
  if (first.status !== 400 || first.headers.get('dpop-nonce') === null) return first;
  const body = (await first.clone().json()) as { error: string };
  if (body.error !== 'use_dpop_nonce') return first;
  return send(first.headers.get('dpop-nonce')!);
}

/** A client_credentials request of a confidential client, with a DPoP proof and the nonce retry. */
export const clientCredentials = (server: TestServer, key: DpopKey, clientId: string, secret: string) =>
  dpopPost(
    server,
    '/token',
    key,
    { grant_type: 'client_credentials' },
    { authorization: basic(clientId, secret) },
  );

/** An ES256 key pair as node:crypto has it, for proofs built by hand. */
export function nodeEcKey(): { privateKey: KeyObject; publicJwk: Record<string, string> } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, string> };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A proof assembled by hand: any header and payload, signed with ES256 by `privateKey`, or with
 * `HS256` under a secret, or not at all (`none`).
 */
export function handProof(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: { es256: KeyObject } | { hs256: string } | 'none',
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  if (signer === 'none') return `${input}.`;
  const signature =
    'es256' in signer
      ? sign('sha256', Buffer.from(input), { key: signer.es256, dsaEncoding: 'ieee-p1363' })
      : createHmac('sha256', signer.hs256).update(input).digest();
  return `${input}.${signature.toString('base64url')}`;
}

/** The claims of a good proof for `path` now (seconds from the server's clock), to be spoiled by a test. */
export function proofClaims(server: TestServer, path: string, nonce?: string): Record<string, unknown> {
  return {
    jti: randomUUID(),
    htm: 'POST',
    htu: htuOf(server, path),
    iat: Math.floor(server.now() / 1000),
    ...(nonce !== undefined ? { nonce } : {}),
  };
}
