import { importJwk, type Jwk } from '@tessera/jose';
import { type Db, isUniqueViolation } from './database.js';
import { holdsKeyMaterial } from './public_jwk.js';
import type { ResourcesTable } from './schema.js';

/**
 * How a resource's access tokens travel: `jwt`, a signed JWT anyone holding it can read (RFC 9068);
 * `jwe`, the same JWT then encrypted to the resource's public key (RFC 7519 §11.2, nested JWT), so
 * only that API reads the claims.
 */
export type AccessTokenFormat = 'jwt' | 'jwe';
export const ACCESS_TOKEN_FORMATS: readonly AccessTokenFormat[] = ['jwt', 'jwe'];

/** The key-management algorithms a resource's encryption key may serve (RFC 7518 §4). */
export const RESOURCE_KEY_ALGS: Readonly<Record<string, string>> = {
  RSA: 'RSA-OAEP-256',
  EC: 'ECDH-ES+A256KW',
};

/** An API a client may ask tokens for by name (RFC 8707 resource indicator). */
export interface Resource {
  /** The resource indicator: an absolute URI without a fragment. */
  resource: string;
  name: string;
  /** The `aud` of its access tokens (often the resource indicator itself). */
  audience: string;
  /** Seconds; undefined: the client's lifetime applies. */
  accessTokenTtl: number | undefined;
  accessTokenFormat: AccessTokenFormat;
  /** The public key its tokens are encrypted to (format `jwe`). */
  encryptionJwk: Jwk | undefined;
}

export interface ResourceRegistration {
  resource: string;
  name?: string;
  /** Default: the resource indicator. */
  audience?: string;
  accessTokenTtl?: number;
  accessTokenFormat?: AccessTokenFormat;
  encryptionJwk?: Jwk;
}

export interface Resources {
  byId(resource: string): Promise<Resource | undefined>;
  list(): Promise<Resource[]>;
  /** TypeError for a bad value, and for an existing resource (remove it first). */
  add(input: ResourceRegistration): Promise<Resource>;
  /** False when there was none. Clients naming it keep the name, and asking for it fails. */
  remove(resource: string): Promise<boolean>;
}

/** Why a value is not an RFC 8707 §2 resource indicator, or undefined. */
export function resourceProblem(resource: string): string | undefined {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return `a resource is an absolute URI (RFC 8707 §2), got ${JSON.stringify(resource)}`;
  }
  if (resource.includes('#') || url.hash !== '')
    return `a resource has no fragment (RFC 8707 §2), got ${JSON.stringify(resource)}`;
  if (resource.length > 512 || /[\s\p{Cc}]/u.test(resource))
    return 'a resource is at most 512 characters, without spaces or control characters';
  return undefined;
}

function checkEncryptionJwk(jwk: Jwk): void {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    throw new TypeError("a resource's encryption key is a JSON object (a JWK)");
  if (holdsKeyMaterial(jwk)) throw new TypeError("a resource's encryption key is its public key only");
  const alg = RESOURCE_KEY_ALGS[jwk.kty];
  if (!alg) throw new TypeError('a resource encryption key is RSA (RSA-OAEP-256) or EC (ECDH-ES+A256KW)');
  if (jwk.alg !== undefined && jwk.alg !== alg)
    throw new TypeError(`a ${jwk.kty} encryption key serves ${alg}, got alg ${JSON.stringify(jwk.alg)}`);
  try {
    importJwk({ ...jwk, alg });
  } catch (err) {
    throw new TypeError(`the encryption key is not a usable JWK: ${(err as Error).message}`);
  }
}

export function createResources(db: Db, clock: () => number = Date.now): Resources {
  const toResource = (row: ResourcesTable): Resource => ({
    resource: row.resource,
    name: row.name,
    audience: row.audience,
    accessTokenTtl: row.access_token_ttl ?? undefined,
    accessTokenFormat: row.access_token_format,
    encryptionJwk: row.encryption_jwk === null ? undefined : (JSON.parse(row.encryption_jwk) as Jwk),
  });
  return {
    async byId(resource) {
      const row = await db
        .selectFrom('resources')
        .selectAll()
        .where('resource', '=', resource)
        .executeTakeFirst();
      return row ? toResource(row) : undefined;
    },
    async list() {
      return (await db.selectFrom('resources').selectAll().orderBy('created_at').execute()).map(toResource);
    },
    async add(input) {
      const problem = resourceProblem(input.resource);
      if (problem) throw new TypeError(problem);
      const audience = input.audience ?? input.resource;
      if (!/^[^\s\p{Cc}]{1,512}$/u.test(audience))
        throw new TypeError('an audience is 1–512 characters without spaces or control characters');
      const ttl = input.accessTokenTtl;
      if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 30 || ttl > 86_400))
        throw new TypeError(`the access-token lifetime is 30–86400 seconds, got ${ttl}`);
      const format = input.accessTokenFormat ?? 'jwt';
      if (!ACCESS_TOKEN_FORMATS.includes(format)) throw new TypeError('the token format is jwt or jwe');
      if (format === 'jwe' && !input.encryptionJwk)
        throw new TypeError("format jwe needs the resource's public encryption key");
      if (format === 'jwt' && input.encryptionJwk)
        throw new TypeError('an encryption key is for format jwe only');
      if (input.encryptionJwk) checkEncryptionJwk(input.encryptionJwk);
      const name = input.name ?? input.resource;
      if (!/^[^\p{Cc}]{1,128}$/u.test(name))
        throw new TypeError('a resource name is 1–128 characters without control characters');
      const row: ResourcesTable = {
        resource: input.resource,
        name,
        audience,
        access_token_ttl: ttl ?? null,
        access_token_format: format,
        encryption_jwk: input.encryptionJwk ? JSON.stringify(input.encryptionJwk) : null,
        created_at: clock(),
      };
      try {
        await db.insertInto('resources').values(row).execute();
      } catch (err) {
        // Replacing a resource in place would change the tokens of every client naming it.
        if (isUniqueViolation(err))
          throw new TypeError(`resource ${JSON.stringify(input.resource)} already exists (remove it first)`);
        throw err;
      }
      return toResource(row);
    },
    async remove(resource) {
      const result = await db.deleteFrom('resources').where('resource', '=', resource).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}
