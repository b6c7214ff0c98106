import { resealSecrets } from '../../keys/reseal.js';
import { revokeSigningKey } from '../../keys/revoke_key.js';
import {
  RotationTooSoon,
  type SigningKeyInfo,
  signingAlgorithms,
  UnknownSigningAlgorithm,
  UnknownSigningKey,
} from '../../keys/signing_keys.js';
import type { Services } from '../../services.js';
import type { Command, CommandContext } from '../command.js';
import { CommandFailed, UsageError } from '../errors.js';
import { bold, dim, green, red, yellow } from '../output.js';
import { withStore } from '../store.js';

/**
 * `tessera keys`: the signing keys in the store (each algorithm's: access tokens', ID tokens'),
 * rotation on demand, emergency revocation, and the second step of a master key rotation (reseal).
 */
export const keysCommand: Command = {
  name: 'keys',
  summary: 'list, rotate and revoke signing keys; reseal secrets under a new master key',
  help: () => `tessera keys list [--json]         (every key, by algorithm: the access tokens' (--signing-alg),
                                   the ID tokens' (--id-token-signing-alg), any no longer signing)
tessera keys rotate [--alg <alg>]  (next → current, current → retired, a new next key is published,
                                   for every algorithm at once or only --alg; refused, rotating none,
                                   until each next key has been published for the JWKS max-age)
tessera keys revoke [--] <kid>     (a compromised key: withdrawn from the JWKS at once, its tokens
                                   refused by guards following revocations; if it was signing, the
                                   next key of its algorithm takes over. A kid that begins with "-"
                                   goes after --, or it is read as an option)
tessera keys reseal                (master key rotation: with the new TESSERA_MASTER_KEY and the old
                                   one in TESSERA_MASTER_KEYRING, seals every secret at rest again
                                   under the new key; then the old key can leave the keyring)`,
  options: { alg: { type: 'string' } },
  settings: true,
  async run(context) {
    const { sub, args, values } = context;
    if (sub !== 'list' && sub !== 'rotate' && sub !== 'revoke' && sub !== 'reseal')
      throw new UsageError('usage: tessera keys list|rotate [--alg <alg>]|revoke <kid>|reseal');
    const kid = args[0];
    if (sub === 'revoke' && !kid) throw new UsageError('a kid is required: tessera keys revoke <kid>');
    if (sub === 'revoke' ? args.length > 1 : args.length > 0)
      throw new UsageError(`unexpected ${JSON.stringify(args.at(-1))}; try tessera keys --help`);
    const alg = typeof values.alg === 'string' ? values.alg : undefined;
    if (alg !== undefined && sub !== 'rotate') throw new UsageError('--alg goes with tessera keys rotate');
    return withStore(context.config(), async (services) => {
      if (sub === 'reseal') return reseal(services, context);
      if (sub === 'rotate') await rotate(services, alg);
      if (sub === 'revoke') await revoke(services, kid!);
      return list(services, context);
    });
  },
};

async function rotate(services: Services, alg: string | undefined): Promise<void> {
  try {
    await services.keys.rotate({ alg });
  } catch (err) {
    if (err instanceof RotationTooSoon) throw new CommandFailed(err.message);
    if (err instanceof UnknownSigningAlgorithm) throw new UsageError(err.message);
    throw err;
  }
  await services.audit.record({
    type: 'key_rotated',
    detail: { algs: alg === undefined ? signingAlgorithms(services.config) : [alg] },
  });
}

async function revoke(services: Services, kid: string): Promise<void> {
  try {
    await revokeSigningKey(services, kid);
  } catch (err) {
    if (err instanceof UnknownSigningKey) throw new UsageError(err.message);
    throw err;
  }
}

async function reseal(services: Services, { out }: CommandContext): Promise<number> {
  const report = await resealSecrets(services);
  await services.audit.record({ type: 'secrets_resealed', detail: { ...report } });
  out.print(
    report,
    `${green('resealed')} under master key ${bold(report.keyId)}: ${report.signingKeys} signing keys, ${report.refreshSuccessors} refresh successors, ${report.receiverTokens} receiver tokens`,
  );
  return 0;
}

/** What one algorithm's keys sign, for the heading of its group. */
function signs(alg: string, config: Services['config']): string {
  const access = alg === config.signingAlg;
  const idTokens = alg === config.idTokenSigningAlg;
  if (access && idTokens) return 'access tokens and ID tokens';
  if (access) return 'access tokens';
  if (idTokens) return 'ID tokens';
  return 'no longer signing: retires when its rotation falls due';
}

async function list(services: Services, { out }: CommandContext): Promise<number> {
  const keys = await services.keys.list();
  const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const paint = (state: string) =>
    state === 'current' ? green : state === 'next' ? yellow : state === 'revoked' ? red : dim;
  const line = (k: SigningKeyInfo) =>
    `${paint(k.state)(k.state.padEnd(8))} ${k.alg.padEnd(6)} ${bold(k.kid)} created ${when(k.createdAt)}${k.expiresAt ? ` published until ${when(k.expiresAt)}` : ''}`;
  // list() gives each algorithm's keys together, the ones signed with first.
  const groups = new Map<string, SigningKeyInfo[]>();
  for (const key of keys) groups.set(key.alg, [...(groups.get(key.alg) ?? []), key]);
  out.print(
    keys,
    [...groups]
      .map(([alg, group]) =>
        [`${bold(alg)} ${dim(`(${signs(alg, services.config)})`)}`, ...group.map(line)].join('\n'),
      )
      .join('\n\n'),
  );
  return 0;
}
