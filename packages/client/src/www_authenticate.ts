/** The `error` and `error_description` of a `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9449 §7.1). */
export interface Challenge {
  scheme: string | undefined;
  error: string | undefined;
  description: string | undefined;
}

/** `scheme param=value` or `, param="quoted"` (RFC 9110 §11.2, §11.6.1). */
const PARAMETER =
  /(?:^|,)\s*(?:([A-Za-z][\w!#$%&'*+.^`|~-]*)\s+)?([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;

/** The first challenge that carries an `error` (a server may offer `Bearer` and `DPoP` side by side). */
export function parseChallenge(header: string | null): Challenge {
  const challenges: { scheme: string; params: Map<string, string> }[] = [];
  for (const match of (header ?? '').matchAll(PARAMETER)) {
    if (match[1] !== undefined) challenges.push({ scheme: match[1], params: new Map() });
    const value = match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : (match[4] ?? '');
    challenges.at(-1)?.params.set(match[2]!.toLowerCase(), value);
  }
  const found = challenges.find((challenge) => challenge.params.has('error'));
  return {
    scheme: found?.scheme,
    error: found?.params.get('error'),
    description: found?.params.get('error_description'),
  };
}
