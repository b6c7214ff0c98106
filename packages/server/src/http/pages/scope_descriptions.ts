/** What a scope lets an app do, in the words the consent page shows the user. */
export interface ScopeDescription {
  name: string;
  description: string;
}

/**
 * The standard scopes: OpenID Connect Core 1.0 §3.1.2.1 (openid), §5.4 (profile, email) and §11
 * (offline_access, which asks for a refresh token that works while the user is away).
 */
export const STANDARD_SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = Object.freeze({
  openid: 'Sign you in',
  profile: 'Your name and username',
  email: 'Your email address',
  offline_access: 'Stay signed in (keep access when you are away)',
});

/**
 * The description of one scope. A scope without one (a client's own API scope) is shown by its name,
 * so the user still sees everything the app asks for; the page escapes it like any other text.
 */
export function describeScope(name: string): ScopeDescription {
  // Own properties only: a scope named `constructor` or `__proto__` is not a description.
  const description = Object.hasOwn(STANDARD_SCOPE_DESCRIPTIONS, name)
    ? STANDARD_SCOPE_DESCRIPTIONS[name]!
    : name;
  return { name, description };
}

/** Descriptions for the scopes of a request, in the order asked, each once. */
export function describeScopes(scopes: Iterable<string>): ScopeDescription[] {
  return [...new Set(scopes)].map(describeScope);
}
