/**
 * Usernames, compared as RFC 8265 §3.2 (the UsernameCaseMapped profile) compares them: two names
 * that differ only in case or in the width of their letters are one account. The store keeps this
 * form, user creation and lookup compute it, and the login throttle counts failures under it, so
 * `Alice`, `ALICE` and `ａｌｉｃｅ` share one account and one lock.
 */

/** The longest username, in code points of its stored form. */
export const MAX_USERNAME_LENGTH = 64;

/**
 * The name an account is stored and looked up under, or undefined when no account can have it.
 *
 * - RFC 8265 §3.2.1: fullwidth and halfwidth characters map to their decompositions. NFKC does that
 *   and also folds the other compatibility forms (ligatures, superscripts, circled letters), which
 *   would otherwise allow look-alike accounts.
 * - §3.2.2 rule 1: case mapping with Unicode toLowerCase() (locale-independent, not
 *   toLocaleLowerCase); rule 2: normalisation, NFKC again since lowercasing can undo it.
 * - §3.2.2: after the rules the name must not be empty; RFC 8264 §9.12 disallows controls.
 *
 * The profile's IdentifierClass would also refuse spaces and symbols; names with those were allowed
 * before and keep working.
 */
export function usernameKey(username: string): string | undefined {
  const key = username.normalize('NFKC').toLowerCase().normalize('NFKC');
  if (key.length === 0 || /\p{Cc}/u.test(key)) return undefined;
  return key;
}

/**
 * Why a new account may not have this name, or undefined when it may. Stricter than
 * {@link usernameKey}, which must still find accounts made under earlier rules: no spaces at either
 * end, at most {@link MAX_USERNAME_LENGTH} code points, and no invisible format characters (zero-width
 * spaces and joiners, bidirectional overrides: RFC 8264 §9.13 disallows default-ignorable code
 * points), which would make two names that look the same.
 */
export function usernameProblem(username: string): string | undefined {
  const key = usernameKey(username);
  if (key === undefined) return 'username must not be empty or contain control characters';
  if ([...key].length > MAX_USERNAME_LENGTH)
    return `username must be at most ${MAX_USERNAME_LENGTH} characters`;
  if (/^\s|\s$/u.test(key)) return 'username must not begin or end with a space';
  if (/\p{Cf}/u.test(key)) return 'username must not contain invisible formatting characters';
  return undefined;
}
