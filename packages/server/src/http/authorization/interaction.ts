import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Sealer } from '../../keys/master_key.js';
import type { AuthorizationRequest } from './authorization_request.js';

/** What the sealed interaction is sealed for (the AAD): nothing sealed for another use opens as one. */
const SEAL_PURPOSE = 'authorization-interaction';
/** A login or consent page may sit open this long before its form is refused (the user starts over). */
export const INTERACTION_TTL_MS = 10 * 60_000;

/**
 * A pending authorization between its pages, carried in the page's form rather than stored: sealed
 * (AES-256-GCM under the master key), so the browser cannot read or change it, and any instance can
 * continue it. It is bound to the browser by `csrf`, the value of a `__Host-` cookie set with the page
 * (a cross-site form cannot know it), and, on the consent page, to the SSO session it was shown for.
 */
export interface Interaction {
  request: AuthorizationRequest;
  csrf: string;
  /** The SSO session the consent page was shown for. */
  ssoSessionId?: string;
  /** The user authenticated in this authorization (after the login page): prompt=login is satisfied. */
  authenticated?: boolean;
  expiresAt: number;
}

export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

export function sealInteraction(sealer: Sealer, interaction: Interaction): string {
  return sealer.seal(JSON.stringify(interaction), SEAL_PURPOSE);
}

/** The interaction, or undefined when it does not open, has expired or belongs to another browser. */
export function openInteraction(
  sealer: Sealer,
  sealed: unknown,
  csrfCookie: string | undefined,
  now: number,
): Interaction | undefined {
  if (typeof sealed !== 'string' || sealed.length > 8192 || csrfCookie === undefined) return undefined;
  let interaction: Interaction;
  try {
    interaction = JSON.parse(sealer.open(sealed, SEAL_PURPOSE)) as Interaction;
  } catch {
    return undefined;
  }
  if (interaction.expiresAt <= now) return undefined;
  const expected = Buffer.from(interaction.csrf);
  const actual = Buffer.from(csrfCookie);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
  return interaction;
}
