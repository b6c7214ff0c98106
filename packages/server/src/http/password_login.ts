import { hashPassword, type PasswordCheck, verifyPassword } from '../passwords.js';
import type { Services } from '../services.js';
import type { User } from '../store/users.js';
import { usernameKey } from '../usernames.js';
import { OAuthError } from './errors.js';
import type { LoginThrottle } from './login_throttle.js';
import type { Metrics } from './metrics.js';

export const INVALID_CREDENTIALS = 'invalid username or password';

export interface PasswordLogin {
  username: string;
  password: string;
  clientId: string;
  ip: string;
}

/**
 * Checks a username and password the one way every login form does (`/login` and the authorization
 * endpoint's page): throttled per account and address, the same argon2 work and answer for unknown
 * users (no enumeration by message or time), audited, and the hash upgraded when its parameters are
 * old. Throws OAuthError 429 `slow_down` or 400 `invalid_grant`.
 */
export async function checkPasswordLogin(
  services: Services,
  throttle: LoginThrottle,
  metrics: Metrics,
  verifyUnknownUser: (password: string) => Promise<PasswordCheck>,
  login: PasswordLogin,
): Promise<User> {
  const { username, password, clientId, ip } = login;
  // Audited as the account it counts against (RFC 8265 form), whatever case or width was typed.
  const account = usernameKey(username) ?? username;
  const { retryAfter, lockStarted } = await throttle.begin(username, ip);
  if (retryAfter > 0) {
    metrics.login('throttled');
    throw new OAuthError(429, 'slow_down', 'too many failed logins; try again later', {
      'retry-after': String(retryAfter),
    });
  }
  if (lockStarted) {
    // Audited once per lock, not per refused attempt: 429s cost an attacker nothing.
    await services.audit.record({ type: 'login_throttled', clientId, ip, detail: { username: account } });
  }
  const user = await services.users.byUsername(username);
  const check = user ? await verifyPassword(user.passwordHash, password) : await verifyUnknownUser(password);
  if (!user || !check.ok || user.disabled) {
    metrics.login('failed');
    await services.audit.record({
      type: 'login_failed',
      userId: user?.id,
      clientId,
      ip,
      detail: { username: account },
    });
    // RFC 6749 §5.2: invalid resource-owner credentials are invalid_grant (400), as for the password grant.
    throw new OAuthError(400, 'invalid_grant', INVALID_CREDENTIALS);
  }
  await throttle.succeeded(username, ip);
  // Only over the hash just checked: a password changed meanwhile stays changed.
  if (check.needsRehash)
    await services.users.rehash(user.id, user.passwordHash, await hashPassword(password));
  return user;
}
