import {
  createLocalJwks,
  createSigner,
  exportJwk,
  generateKeyPair,
  importJwk,
  type Jwk,
  jwkThumbprint,
  type LocalJwks,
  type Signer,
} from '@tessera/jose';
import type { Config } from '../config.js';
import { type Db, isUniqueViolation } from '../store/database.js';
import type { Sealer } from './master_key.js';

/** What a private signing key is sealed for (the AAD): nothing sealed for another use opens as one. */
export const SIGNING_KEY_SEAL_PURPOSE = 'signing-key';
const SEAL_PURPOSE = SIGNING_KEY_SEAL_PURPOSE;

/**
 * Seconds a retired key stays published beyond one access-token lifetime. A rotation made by another
 * process (`tessera keys rotate`) reaches a running server at its next housekeeping (every minute),
 * and until then it still signs with the retired key; the rest covers clock skew between verifiers.
 */
export const RETIRED_KEY_MARGIN = 300;

/**
 * Lifecycle (DESIGN.md): next (published, not signing) → current (signing) → retired → gone; and
 * `revoked`: withdrawn at once (compromised), never published again, kept as a record.
 */
export type KeyState = 'next' | 'current' | 'retired' | 'revoked';

/** Seconds a resource server may serve the JWKS from its cache without asking again (stale-while-revalidate). */
export const JWKS_STALE_SECONDS = 60;

/**
 * The JWKS `max-age`: an hour, or a quarter of the rotation interval if that is shorter. A key is
 * published a whole rotation interval before it signs, so a cache this short always holds it in time.
 */
export function jwksMaxAge(config: Pick<Config, 'keyRotationInterval'>): number {
  return Math.min(3600, Math.floor(config.keyRotationInterval / 4));
}

/**
 * A `next` key may start signing only once every verifier's cached JWKS must hold it: published at
 * least the JWKS max-age (plus the stale window) ago. Promoting it sooner makes guards refuse valid
 * tokens until their cache expires.
 */
export function publishedLongEnough(config: Pick<Config, 'keyRotationInterval'>): number {
  return (jwksMaxAge(config) + JWKS_STALE_SECONDS) * 1000;
}

/** A manual rotation asked for before the `next` key has been published long enough. */
export class RotationTooSoon extends Error {
  constructor(
    readonly kid: string,
    /** Seconds until the rotation may happen. */
    readonly retryAfter: number,
  ) {
    super(
      `the next key ${kid} was published too recently for every verifier to hold it; ` +
        `rotate again in ${retryAfter} s (or, if the current key is compromised, revoke it: tessera keys revoke KID)`,
    );
    this.name = 'RotationTooSoon';
  }
}

/** `revoke` was given a kid that is not a live key of this server. */
export class UnknownSigningKey extends Error {
  constructor(readonly kid: string) {
    super(`no published signing key has kid ${JSON.stringify(kid)}`);
    this.name = 'UnknownSigningKey';
  }
}

export interface SigningKeyInfo {
  kid: string;
  alg: string;
  state: KeyState;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  expiresAt: number | null;
}

export interface SigningKeys {
  /** Makes sure a current and a next key exist, and applies the rotation schedule. */
  ensure(): Promise<void>;
  /**
   * Reloads when the keys in the store changed (another instance rotated), so every instance signs
   * with the same key and publishes the same JWKS. Cheap when nothing changed.
   */
  refresh(): Promise<void>;
  /**
   * Rotates now: next → current, current → retired, a new next; drops retired keys past their tokens.
   * Throws {@link RotationTooSoon} while the next key has not been published long enough.
   */
  rotate(): Promise<void>;
  /**
   * Withdraws a compromised key at once, inside the caller's transaction (`executor`): it is never
   * published again, so every token it signed fails. If it was signing, the next key signs from now
   * on however recently it was published (an emergency: a verifier that lacks it fetches the JWKS on
   * the unknown kid); a new next key is added. Reload with refresh() once committed.
   */
  revoke(kid: string, executor?: Db): Promise<{ state: KeyState }>;
  /** The signer for access tokens (the current key). */
  signer(): Signer;
  /** The published keys (next, current, retired), as a key set for the server's own verification. */
  jwks(): LocalJwks;
  list(): Promise<SigningKeyInfo[]>;
  /** Seconds until the next scheduled rotation, for JWKS caching headers. */
  secondsUntilRotation(): number;
}

/**
 * Signing keys live in the database, their private halves sealed under the master key. `kid` is the
 * RFC 7638 thumbprint. A new key is published (state `next`) one full rotation interval before it
 * signs, so every verifier's cached JWKS holds it in time; a retired key stays published until the
 * last access token it signed has expired.
 */
export function createSigningKeys(
  db: Db,
  sealer: Sealer,
  config: Pick<Config, 'signingAlg' | 'issuer' | 'accessTokenTtl' | 'keyRotationInterval'>,
  clock: () => number = Date.now,
): SigningKeys {
  let currentSigner: Signer | undefined;
  let published: LocalJwks = createLocalJwks({ keys: [] });
  let currentActivatedAt = 0;
  /** What the loaded keys looked like in the store, to notice another instance's rotation. */
  let loadedVersion = '';

  async function newKey(state: KeyState, now: number) {
    const { privateKey } = await generateKeyPair(config.signingAlg);
    const publicJwk = exportJwk(privateKey, { public: true });
    const kid = jwkThumbprint(publicJwk);
    return {
      kid,
      alg: config.signingAlg,
      state,
      public_jwk: JSON.stringify({ ...publicJwk, kid, alg: config.signingAlg, use: 'sig' }),
      private_jwk_sealed: sealer.seal(JSON.stringify(exportJwk(privateKey)), SEAL_PURPOSE),
      created_at: now,
      activated_at: state === 'current' ? now : null,
      retired_at: null,
      expires_at: null,
    };
  }

  /**
   * Adds a key unless another instance got there first: at most one key can be `next` and one
   * `current` (unique indexes), so two instances starting or rotating at once cannot both add one.
   */
  async function createKey(state: KeyState, now: number): Promise<void> {
    try {
      await db
        .insertInto('signing_keys')
        .values(await newKey(state, now))
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  /** The live keys and their states: changes when any instance rotates or a retired key expires. */
  function liveKeys<R extends { kid: string; state: string; expires_at: number | null }>(
    rows: R[],
    now: number,
  ) {
    const live = rows.filter(
      (row) =>
        row.state === 'next' ||
        row.state === 'current' ||
        (row.state === 'retired' && (row.expires_at ?? 0) > now),
    );
    const version = live
      .map((row) => `${row.kid}:${row.state}`)
      .sort()
      .join(',');
    return { live, version };
  }

  async function load(): Promise<void> {
    const now = clock();
    const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
    // Everything is built first and assigned together at the end: a key that cannot be opened
    // leaves the previous state whole, and the next refresh() tries again.
    const { live, version } = liveKeys(rows, now);
    const jwks = createLocalJwks({ keys: live.map((row) => JSON.parse(row.public_jwk) as Jwk) });
    const current = rows.find((row) => row.state === 'current');
    if (!current) throw new Error('no current signing key');
    let opened: string;
    try {
      opened = sealer.open(current.private_jwk_sealed, SEAL_PURPOSE);
    } catch (err) {
      throw new Error(
        `cannot open signing key ${current.kid}: it was sealed under a different master key ` +
          '(check TESSERA_MASTER_KEY, or the master.key file in the data directory)',
        { cause: err },
      );
    }
    const privateJwk = JSON.parse(opened) as Jwk;
    const key = importJwk({ ...privateJwk, kid: current.kid, alg: current.alg });
    currentSigner = createSigner({
      key,
      typ: 'at+jwt',
      issuer: config.issuer,
      expiresIn: config.accessTokenTtl,
      jti: true,
      clock,
    });
    currentActivatedAt = current.activated_at ?? current.created_at;
    published = jwks;
    loadedVersion = version;
  }

  /**
   * Rotates from the current key `from`: it retires, next becomes current, a new next is added, all
   * in one transaction. The retirement only applies while `from` is still current, so when several
   * instances rotate at once exactly one succeeds; the others find the work done and reload.
   */
  async function rotateFrom(from: string, manual: boolean): Promise<void> {
    const now = clock();
    const waiting = await db
      .selectFrom('signing_keys')
      .select(['kid', 'created_at'])
      .where('state', '=', 'next')
      .executeTakeFirst();
    const ready = now - publishedLongEnough(config);
    if (waiting && waiting.created_at > ready) {
      // Scheduled rotations simply wait for the next housekeeping round.
      if (manual) throw new RotationTooSoon(waiting.kid, Math.ceil((waiting.created_at - ready) / 1000));
      return;
    }
    const next = await newKey('next', now);
    try {
      await db.transaction().execute(async (trx) => {
        const retiredUntil = now + (config.accessTokenTtl + RETIRED_KEY_MARGIN) * 1000;
        const retired = await trx
          .updateTable('signing_keys')
          .set({ state: 'retired', retired_at: now, expires_at: retiredUntil })
          .where('state', '=', 'current')
          .where('kid', '=', from)
          .executeTakeFirst();
        if (Number(retired.numUpdatedRows) !== 1) throw new RotatedElsewhere();
        // Only a published `next` key may start signing (verifiers have had it in their JWKS); with
        // none, nothing rotates and ensureStates() below publishes one for the next rotation.
        const promoted = await trx
          .updateTable('signing_keys')
          .set({ state: 'current', activated_at: now })
          .where('state', '=', 'next')
          .where('created_at', '<=', ready)
          .executeTakeFirst();
        if (Number(promoted.numUpdatedRows) !== 1) throw new RotatedElsewhere();
        await trx.insertInto('signing_keys').values(next).execute();
        await trx
          .deleteFrom('signing_keys')
          .where('state', '=', 'retired')
          .where('expires_at', '<=', now)
          .execute();
      });
    } catch (err) {
      if (!(err instanceof RotatedElsewhere) && !isUniqueViolation(err)) throw err;
    }
    // If there was no `next` key to promote, this adds the missing one.
    await ensureStates(now);
    await load();
  }

  /** A current and a next key exist (created or promoted here unless another instance did it). */
  async function ensureStates(now: number): Promise<void> {
    const rows = await db.selectFrom('signing_keys').select(['kid', 'state']).execute();
    if (!rows.some((row) => row.state === 'current')) {
      const next = rows.find((row) => row.state === 'next');
      try {
        if (next)
          await db
            .updateTable('signing_keys')
            .set({ state: 'current', activated_at: now })
            .where('kid', '=', next.kid)
            .where('state', '=', 'next')
            .execute();
        else await createKey('current', now);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    }
    if (!(await db.selectFrom('signing_keys').select('kid').where('state', '=', 'next').executeTakeFirst())) {
      await createKey('next', now);
    }
  }

  async function rotate(): Promise<void> {
    const current = await db
      .selectFrom('signing_keys')
      .select('kid')
      .where('state', '=', 'current')
      .executeTakeFirst();
    if (!current) {
      await ensureStates(clock());
      return load();
    }
    await rotateFrom(current.kid, true);
  }

  async function revoke(kid: string, executor: Db = db): Promise<{ state: KeyState }> {
    const now = clock();
    const key = await executor
      .selectFrom('signing_keys')
      .select(['state', 'expires_at'])
      .where('kid', '=', kid)
      .executeTakeFirst();
    if (!key || key.state === 'revoked' || (key.state === 'retired' && (key.expires_at ?? 0) <= now))
      throw new UnknownSigningKey(kid);
    await executor
      .updateTable('signing_keys')
      .set({ state: 'revoked', retired_at: now, expires_at: now })
      .where('kid', '=', kid)
      .execute();
    if (key.state === 'current') {
      await executor
        .updateTable('signing_keys')
        .set({ state: 'current', activated_at: now })
        .where('state', '=', 'next')
        .execute();
    }
    if (key.state === 'current' || key.state === 'next')
      await executor
        .insertInto('signing_keys')
        .values(await newKey('next', now))
        .execute();
    return { state: key.state };
  }

  return {
    async ensure() {
      const now = clock();
      await ensureStates(now);
      await load();
      const current = currentSigner?.kid;
      if (current && now - currentActivatedAt >= config.keyRotationInterval * 1000)
        await rotateFrom(current, false);
    },
    async refresh() {
      const rows = await db.selectFrom('signing_keys').select(['kid', 'state', 'expires_at']).execute();
      if (liveKeys(rows, clock()).version !== loadedVersion) await load();
    },
    rotate,
    revoke,
    signer() {
      if (!currentSigner) throw new Error('signing keys not loaded: call ensure() first');
      return currentSigner;
    },
    jwks: () => published,
    async list() {
      const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
      return rows.map((row) => ({
        kid: row.kid,
        alg: row.alg,
        state: row.state,
        createdAt: row.created_at,
        activatedAt: row.activated_at,
        retiredAt: row.retired_at,
        expiresAt: row.expires_at,
      }));
    },
    secondsUntilRotation() {
      const due = currentActivatedAt + config.keyRotationInterval * 1000;
      return Math.max(0, Math.floor((due - clock()) / 1000));
    },
  };
}

/** Another instance rotated first (a normal outcome, not a failure). */
class RotatedElsewhere extends Error {}
