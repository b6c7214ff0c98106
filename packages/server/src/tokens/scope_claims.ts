import type { User } from '../store/users.js';

/**
 * The standard claims each scope value releases (OIDC Core §5.4): `profile` the user's names,
 * `email` the address and whether it was verified. Claims the user does not have are left out
 * rather than sent empty (§5.3.2).
 */
export function scopeClaims(user: User, scopes: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  if (scopes.includes('profile')) {
    claims.preferred_username = user.username;
    if (user.profile.name !== undefined) claims.name = user.profile.name;
  }
  if (scopes.includes('email') && user.profile.email !== undefined) {
    claims.email = user.profile.email;
    claims.email_verified = user.profile.emailVerified;
  }
  return claims;
}
