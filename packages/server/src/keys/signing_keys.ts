import {
  createLocalJwks,
  createSigner,
  exportJwk,
  generateKeyPair,
  importJwk,
  type Jwk,
  jwkThumbprint,
  type Key,
  type LocalJwks,
  type Signer,
} from '@tessera/jose';
import type { Config } from '../config.js';
import { type Db, isUniqueViolation } from '../store/database.js';
import type { SigningKeysTable } from '../store/schema.js';
import type { AccessTokenLifetimes } from '../tokens/lifetimes.js';
import type { Sealer } from './master_key.js';

/** What a private signing key is sealed for (the AAD): nothing sealed for another use opens as one. */
export const SIGNING_KEY_SEAL_PURPOSE = 'signing-key';
const SEAL_PURPOSE = SIGNING_KEY_SEAL_PURPOSE;

/**
 * Seconds a retired key stays published beyond the longest lifetime of the tokens it signed. A
 * rotation made by another process (`tessera keys rotate`) reaches a running server at its next sync
 * (every second; at worst its next housekeeping, every minute), and until then it still signs with
 * the retired key; the rest covers clock skew between verifiers.
 */
export const RETIRED_KEY_MARGIN = 300;

/**
 * Lifecycle (DESIGN.md): next (published, not signing) → current (signing) → retired → gone; and
 * `revoked`: withdrawn at once (compromised), never published again, kept as a record. Each
 * algorithm has its own lifecycle: at most one next and one current key per algorithm (unique
 * indexes, migration 0009).
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

/**
 * The algorithms a configuration signs with, the access tokens' first: two, or one when access
 * tokens and ID tokens share it (they then share its keys too; `typ` still tells them apart).
 */
export function signingAlgorithms(config: Pick<Config, 'signingAlg' | 'idTokenSigningAlg'>): string[] {
  return [...new Set<string>([config.signingAlg, config.idTokenSigningAlg])];
}

/** A manual rotation asked for before a `next` key has been published long enough. */
export class RotationTooSoon extends Error {
  constructor(
    readonly kid: string,
    /** Seconds until the rotation may happen. */
    readonly retryAfter: number,
    /** The algorithm whose next key is too young. */
    readonly alg: string,
  ) {
    super(
      `the next ${alg} key ${kid} was published too recently for every verifier to hold it; ` +
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

/** `rotate({ alg })` named an algorithm this server does not sign with. */
export class UnknownSigningAlgorithm extends Error {
  constructor(
    readonly alg: string,
    readonly algorithms: readonly string[],
  ) {
    super(`this server signs with ${algorithms.join(' and ')}, not ${JSON.stringify(alg)}`);
    this.name = 'UnknownSigningAlgorithm';
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
  /**
   * Makes sure every algorithm signed with has a current and a next key, and applies each one's
   * rotation schedule.
   */
  ensure(): Promise<void>;
  /**
   * Reloads when the keys in the store changed (another instance rotated), so every instance signs
   * with the same keys and publishes the same JWKS. Cheap when nothing changed.
   */
  refresh(): Promise<void>;
  /**
   * Rotates now, every algorithm at once (or only `alg`): next → current, current → retired, a new
   * next; drops retired keys past their tokens. Throws {@link RotationTooSoon}, rotating none, while
   * any of their next keys has not been published long enough; {@link UnknownSigningAlgorithm} for
   * an `alg` not signed with.
   */
  rotate(options?: { alg?: string }): Promise<void>;
  /**
   * Withdraws a compromised key (of whichever algorithm) at once, inside the caller's transaction
   * (`executor`): it is never published again, so every token it signed fails. If it was signing, its
   * algorithm's next key signs from now on however recently it was published (an emergency: a
   * verifier that lacks it fetches the JWKS on the unknown kid); a new next key is added. Other
   * algorithms' keys are untouched. Reload with refresh() once committed.
   */
  revoke(kid: string, executor?: Db): Promise<{ state: KeyState; alg: string }>;
  /**
   * The signer for access tokens: the current key of `signingAlg`, `typ: at+jwt` (RFC 9068 §2.1), `iss`,
   * a random `jti`, and `exp` = now + `accessTokenTtl` unless the claims carry one (a client's own
   * lifetime, tokens/client_lifetimes.ts).
   */
  signer(): Signer;
  /**
   * The signer for ID tokens: the current key of `idTokenSigningAlg`, `typ: JWT`, `iss`, `iat`. The
   * caller sets `exp` (from `idTokenTtl`) and the other claims of OIDC Core §2. Never `at+jwt`
   * (RFC 8725 §3.11): access-token verifiers require it, so an ID token never passes as one.
   */
  idTokenSigner(): Signer;
  /** The published keys (next, current, retired) of every algorithm, for the JWKS and the server's own checks. */
  jwks(): LocalJwks;
  list(): Promise<SigningKeyInfo[]>;
  /** Seconds until the next scheduled rotation of any algorithm, for JWKS caching headers. */
  secondsUntilRotation(): number;
}

/** What createSigningKeys reads of the configuration. */
export type SigningKeysConfig = Pick<
  Config,
  'signingAlg' | 'idTokenSigningAlg' | 'issuer' | 'accessTokenTtl' | 'idTokenTtl' | 'keyRotationInterval'
>;

type KeyRow = SigningKeysTable;

/** The keys in memory: what signs, and when each algorithm's current key started. */
interface Loaded {
  accessTokenSigner: Signer;
  idTokenSigner: Signer;
  /** Per algorithm signed with: the current key's kid and since when it signs (ms). */
  current: Map<string, { kid: string; activatedAt: number }>;
}

/** Order within one algorithm's keys made in the same millisecond: by lifecycle. */
const LIFECYCLE_ORDER: Record<KeyState, number> = { revoked: 0, retired: 0, current: 1, next: 2 };

/**
 * Signing keys live in the database, their private halves sealed under the master key. `kid` is the
 * RFC 7638 thumbprint. Each algorithm signed with (`signingAlg` for access tokens, `idTokenSigningAlg`
 * for ID tokens; one when they are the same) has its own keys and its own rotation schedule. A new
 * key is published (state `next`) one full rotation interval before it signs, so every verifier's
 * cached JWKS holds it in time; a retired key stays published until the last token it could have
 * signed has expired: for the access-token algorithm the longest access-token lifetime any client,
 * resource or instance can issue with (`accessLifetimes`), for the ID-token algorithm `idTokenTtl`,
 * for one doing both the longer, plus {@link RETIRED_KEY_MARGIN}.
 */
export function createSigningKeys(
  db: Db,
  sealer: Sealer,
  config: SigningKeysConfig,
  clock: () => number = Date.now,
  accessLifetimes: Pick<AccessTokenLifetimes, 'longestAccessTtl'> = {
    longestAccessTtl: () => config.accessTokenTtl,
  },
): SigningKeys {
  const algorithms = signingAlgorithms(config);
  const interval = config.keyRotationInterval * 1000;
  let loaded: Loaded | undefined;
  let published: LocalJwks = createLocalJwks({ keys: [] });
  /** What the loaded keys looked like in the store, to notice another instance's rotation. */
  let loadedVersion = '';

  async function newKey(alg: string, state: KeyState, now: number): Promise<KeyRow> {
    const { privateKey } = await generateKeyPair(alg);
    const publicJwk = exportJwk(privateKey, { public: true });
    const kid = jwkThumbprint(publicJwk);
    return {
      kid,
      alg,
      state,
      public_jwk: JSON.stringify({ ...publicJwk, kid, alg, use: 'sig' }),
      private_jwk_sealed: sealer.seal(JSON.stringify(exportJwk(privateKey)), SEAL_PURPOSE),
      created_at: now,
      activated_at: state === 'current' ? now : null,
      retired_at: null,
      expires_at: null,
    };
  }

  /**
   * Adds a key unless another instance got there first: at most one key of an algorithm can be `next`
   * and one `current` (unique indexes), so two instances starting or rotating at once cannot both add one.
   */
  async function createKey(alg: string, state: KeyState, now: number): Promise<void> {
    try {
      await db
        .insertInto('signing_keys')
        .values(await newKey(alg, state, now))
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  /**
   * Seconds a key of `alg` retired now must stay published: until every token it could have signed
   * has expired, and the margin.
   */
  function retentionSeconds(alg: string): number {
    const access = accessLifetimes.longestAccessTtl();
    const idToken = config.idTokenTtl;
    const lifetime =
      alg === config.signingAlg && alg !== config.idTokenSigningAlg
        ? access
        : alg === config.idTokenSigningAlg && alg !== config.signingAlg
          ? idToken
          : // Both kinds of token (or an algorithm no longer configured, which may have signed either).
            Math.max(access, idToken);
    return lifetime + RETIRED_KEY_MARGIN;
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

  function openKey(row: KeyRow): Key {
    let opened: string;
    try {
      opened = sealer.open(row.private_jwk_sealed, SEAL_PURPOSE);
    } catch (err) {
      throw new Error(
        `cannot open signing key ${row.kid}: it was sealed under a different master key ` +
          '(check TESSERA_MASTER_KEY, or the master.key file in the data directory)',
        { cause: err },
      );
    }
    const privateJwk = JSON.parse(opened) as Jwk;
    return importJwk({ ...privateJwk, kid: row.kid, alg: row.alg });
  }

  function accessTokenSigner(key: Key): Signer {
    const signer = createSigner({ key, typ: 'at+jwt', issuer: config.issuer, jti: true, clock });
    return {
      alg: signer.alg,
      kid: signer.kid,
      key: signer.key,
      // No token leaves without `exp` (RFC 9068 §2.2): the caller's (a client's own lifetime), else
      // the server's. (jose's `expiresIn` would override the caller's.)
      sign: (claims = {}) =>
        signer.sign(
          claims.exp === undefined
            ? { ...claims, exp: Math.floor(clock() / 1000) + config.accessTokenTtl }
            : claims,
        ),
    };
  }

  async function load(): Promise<void> {
    const now = clock();
    const rows = await db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at')
      .orderBy('kid')
      .execute();
    // Everything is built first and assigned together at the end: a key that cannot be opened
    // leaves the previous state whole, and the next refresh() tries again.
    const { live, version } = liveKeys(rows, now);
    const jwks = createLocalJwks({ keys: live.map((row) => JSON.parse(row.public_jwk) as Jwk) });
    const keys = new Map<string, Key>();
    const current = new Map<string, { kid: string; activatedAt: number }>();
    for (const alg of algorithms) {
      const row = rows.find((candidate) => candidate.alg === alg && candidate.state === 'current');
      if (!row) throw new Error(`no current ${alg} signing key`);
      keys.set(alg, openKey(row));
      current.set(alg, { kid: row.kid, activatedAt: row.activated_at ?? row.created_at });
    }
    loaded = {
      accessTokenSigner: accessTokenSigner(keys.get(config.signingAlg)!),
      // OIDC Core defines no `typ` for ID tokens: the plain JWT one (RFC 7519 §5.1).
      idTokenSigner: createSigner({
        key: keys.get(config.idTokenSigningAlg)!,
        typ: 'JWT',
        issuer: config.issuer,
        clock,
      }),
      current,
    };
    published = jwks;
    loadedVersion = version;
  }

  /**
   * Rotates the algorithms of `plan` from their current keys `from`, all in one transaction: each
   * current key retires, its next key becomes current, a new next is added. A retirement applies only
   * while `from` is still current, so when several instances rotate at once exactly one succeeds; the
   * others find the work done and reload.
   *
   * All or nothing, for a manual rotation of every algorithm: rotating those that can and refusing the
   * rest would leave their next keys of different ages, and an operator retrying after the wait named
   * would then be refused for the ones just rotated, again and again. Refused whole, a retry after the
   * longest wait rotates them all.
   */
  async function rotateTogether(plan: { alg: string; from: string }[], manual: boolean): Promise<void> {
    const now = clock();
    const ready = now - publishedLongEnough(config);
    const waiting = await db
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'created_at'])
      .where('state', '=', 'next')
      .where(
        'alg',
        'in',
        plan.map((step) => step.alg),
      )
      .execute();
    const youngest = waiting
      .filter((key) => key.created_at > ready)
      .sort((a, b) => b.created_at - a.created_at)[0];
    if (youngest) {
      // Scheduled rotations simply wait for the next housekeeping round.
      if (manual)
        throw new RotationTooSoon(
          youngest.kid,
          Math.ceil((youngest.created_at - ready) / 1000),
          youngest.alg,
        );
      return;
    }
    const nexts = await Promise.all(plan.map((step) => newKey(step.alg, 'next', now)));
    try {
      await db.transaction().execute(async (trx) => {
        for (const [i, { alg, from }] of plan.entries()) {
          const retired = await trx
            .updateTable('signing_keys')
            .set({ state: 'retired', retired_at: now, expires_at: now + retentionSeconds(alg) * 1000 })
            .where('state', '=', 'current')
            .where('alg', '=', alg)
            .where('kid', '=', from)
            .executeTakeFirst();
          if (Number(retired.numUpdatedRows) !== 1) throw new RotatedElsewhere();
          // Only a published `next` key may start signing (verifiers have had it in their JWKS); with
          // none, nothing rotates and ensureStates() below publishes one for the next rotation.
          const promoted = await trx
            .updateTable('signing_keys')
            .set({ state: 'current', activated_at: now })
            .where('state', '=', 'next')
            .where('alg', '=', alg)
            .where('created_at', '<=', ready)
            .executeTakeFirst();
          if (Number(promoted.numUpdatedRows) !== 1) throw new RotatedElsewhere();
          await trx.insertInto('signing_keys').values(nexts[i]!).execute();
        }
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
    for (const { alg } of plan) await ensureStates(alg, now);
    await load();
  }

  /** `alg` has a current and a next key (created or promoted here unless another instance did it). */
  async function ensureStates(alg: string, now: number): Promise<void> {
    const rows = await db
      .selectFrom('signing_keys')
      .select(['kid', 'state'])
      .where('alg', '=', alg)
      .where('state', 'in', ['current', 'next'])
      .execute();
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
        // The first key of an algorithm new to this store (a new installation; or ID tokens, RS256,
        // added to one that signed only ES256 access tokens) signs at once, without a rotation
        // interval in `next`: nothing it signed can be cached anywhere, and it is published from now
        // on. A verifier whose cached JWKS is older does not know its kid. For ID tokens that is
        // fine: a client meeting an unknown kid fetches the JWKS again (OIDC Core §10.1.1) and finds
        // it. Guards do the same for access tokens (a changed signingAlg), within their refetch
        // cooldown.
        else await createKey(alg, 'current', now);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
    }
    const next = await db
      .selectFrom('signing_keys')
      .select('kid')
      .where('alg', '=', alg)
      .where('state', '=', 'next')
      .executeTakeFirst();
    if (!next) await createKey(alg, 'next', now);
  }

  /** Every algorithm signed with has a current and a next key. */
  async function ensureAllStates(now: number): Promise<void> {
    for (const alg of algorithms) await ensureStates(alg, now);
  }

  /**
   * Keys of an algorithm this instance does not sign with (`idTokenSigningAlg` set to `signingAlg`
   * after RS256 keys were made, say) are never rotated here, and left alone would stay published for
   * ever. When such a current key's rotation falls due it retires like any other, but with no
   * successor: its algorithm's next key, which never signed, is withdrawn with it. Not sooner: an
   * instance with another configuration (a rolling change of the setting) may still sign with it.
   */
  async function retireUnconfigured(now: number): Promise<void> {
    const due = await db
      .selectFrom('signing_keys')
      .select(['kid', 'alg'])
      .where('state', '=', 'current')
      .where('alg', 'not in', algorithms)
      .where((eb) => eb(eb.fn.coalesce('activated_at', 'created_at'), '<=', now - interval))
      .execute();
    for (const key of due) {
      await db.transaction().execute(async (trx) => {
        const retired = await trx
          .updateTable('signing_keys')
          .set({ state: 'retired', retired_at: now, expires_at: now + retentionSeconds(key.alg) * 1000 })
          .where('kid', '=', key.kid)
          .where('state', '=', 'current')
          .executeTakeFirst();
        // Done by another instance already.
        if (Number(retired.numUpdatedRows) !== 1) return;
        await trx.deleteFrom('signing_keys').where('alg', '=', key.alg).where('state', '=', 'next').execute();
      });
    }
    if (due.length > 0) await load();
  }

  async function rotate(options: { alg?: string } = {}): Promise<void> {
    if (options.alg !== undefined && !algorithms.includes(options.alg))
      throw new UnknownSigningAlgorithm(options.alg, algorithms);
    const targets = options.alg === undefined ? algorithms : [options.alg];
    const currents = await db
      .selectFrom('signing_keys')
      .select(['kid', 'alg'])
      .where('state', '=', 'current')
      .where('alg', 'in', targets)
      .execute();
    if (currents.length < targets.length) {
      // An algorithm without a current key gets one now; nothing rotates.
      await ensureAllStates(clock());
      return load();
    }
    await rotateTogether(
      currents.map((key) => ({ alg: key.alg, from: key.kid })),
      true,
    );
  }

  async function revoke(kid: string, executor: Db = db): Promise<{ state: KeyState; alg: string }> {
    const now = clock();
    const key = await executor
      .selectFrom('signing_keys')
      .select(['state', 'alg', 'expires_at'])
      .where('kid', '=', kid)
      .executeTakeFirst();
    if (!key || key.state === 'revoked' || (key.state === 'retired' && (key.expires_at ?? 0) <= now))
      throw new UnknownSigningKey(kid);
    await executor
      .updateTable('signing_keys')
      .set({ state: 'revoked', retired_at: now, expires_at: now })
      .where('kid', '=', kid)
      .execute();
    // Only the revoked key's algorithm moves on: the other one's keys sign as before.
    if (key.state === 'current') {
      await executor
        .updateTable('signing_keys')
        .set({ state: 'current', activated_at: now })
        .where('alg', '=', key.alg)
        .where('state', '=', 'next')
        .execute();
    }
    if (key.state === 'current' || key.state === 'next')
      await executor
        .insertInto('signing_keys')
        .values(await newKey(key.alg, 'next', now))
        .execute();
    return { state: key.state, alg: key.alg };
  }

  function whenLoaded(): Loaded {
    if (!loaded) throw new Error('signing keys not loaded: call ensure() first');
    return loaded;
  }

  /** Algorithms signed with first (access tokens', then ID tokens'), then any others by name. */
  function algorithmRank(alg: string): string {
    const index = algorithms.indexOf(alg);
    return index >= 0 ? `0${index}` : `1${alg}`;
  }

  return {
    async ensure() {
      const now = clock();
      await ensureAllStates(now);
      await load();
      for (const [alg, { kid, activatedAt }] of whenLoaded().current)
        if (now - activatedAt >= interval) await rotateTogether([{ alg, from: kid }], false);
      await retireUnconfigured(now);
    },
    async refresh() {
      const rows = await db.selectFrom('signing_keys').select(['kid', 'state', 'expires_at']).execute();
      if (liveKeys(rows, clock()).version === loadedVersion) return;
      // A key revoked or retired elsewhere may have left an algorithm without a current key.
      await ensureAllStates(clock());
      await load();
    },
    rotate,
    revoke,
    signer: () => whenLoaded().accessTokenSigner,
    idTokenSigner: () => whenLoaded().idTokenSigner,
    jwks: () => published,
    async list() {
      const rows = await db.selectFrom('signing_keys').selectAll().execute();
      rows.sort(
        (a, b) =>
          algorithmRank(a.alg).localeCompare(algorithmRank(b.alg)) ||
          a.created_at - b.created_at ||
          LIFECYCLE_ORDER[a.state] - LIFECYCLE_ORDER[b.state] ||
          a.kid.localeCompare(b.kid),
      );
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
      // Before the first ensure() nothing is loaded: due now.
      let due = loaded ? Number.POSITIVE_INFINITY : 0;
      for (const { activatedAt } of loaded?.current.values() ?? [])
        due = Math.min(due, activatedAt + interval);
      return Math.max(0, Math.floor((due - clock()) / 1000));
    },
  };
}

/** Another instance rotated first (a normal outcome, not a failure). */
class RotatedElsewhere extends Error {}
