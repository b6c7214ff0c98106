import type { GuardFetch } from './revocation/stream.js';

/** The members of the RFC 8414 authorization server metadata the guard reads. */
export interface AuthorizationServerMetadata {
  issuer: string;
  jwks_uri?: string;
  access_token_signing_alg_values_supported?: string[];
  /** Tessera's extension: the Server-Sent Events stream of revocations. */
  revocation_events_endpoint?: string;
}

/**
 * A discovery failure. `permanent` ones are configuration errors that retrying cannot fix (the
 * document names another issuer); the others (network, HTTP status, bad JSON) are retried.
 */
export class DiscoveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'DiscoveryError';
  }
}

const MAX_METADATA_BYTES = 256 * 1024;
const DISCOVERY_TIMEOUT_MS = 5000;

/** RFC 8414 §3: the metadata document of `issuer`, at `{issuer}/.well-known/oauth-authorization-server`. */
export function metadataUrl(issuer: string): string {
  return `${issuer.endsWith('/') ? issuer.slice(0, -1) : issuer}/.well-known/oauth-authorization-server`;
}

/**
 * Fetches and checks the issuer's metadata. RFC 8414 §3.3: the `issuer` in the document must be
 * identical to the issuer the guard was configured with, or the document must not be used (it
 * could be another server's, and its keys would then be trusted for our issuer).
 */
export async function fetchMetadata(
  issuer: string,
  fetchFn: GuardFetch,
  signal: AbortSignal,
): Promise<AuthorizationServerMetadata> {
  const url = metadataUrl(issuer);
  const origin = new URL(url).origin;
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.any([signal, AbortSignal.timeout(DISCOVERY_TIMEOUT_MS)]),
    });
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    throw new DiscoveryError(
      `could not fetch the metadata of ${origin} (${typeof code === 'string' ? code : (err as Error).name})`,
      false,
    );
  }
  if (response.status !== 200) {
    response.body?.cancel().catch(() => {});
    throw new DiscoveryError(`the metadata endpoint of ${origin} answered HTTP ${response.status}`, false);
  }
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_METADATA_BYTES) {
    response.body?.cancel().catch(() => {});
    throw new DiscoveryError(`the metadata of ${origin} is larger than ${MAX_METADATA_BYTES} bytes`, false);
  }
  let document: unknown;
  try {
    const text = await response.text();
    if (text.length > MAX_METADATA_BYTES) throw new Error('too large');
    document = JSON.parse(text);
  } catch {
    throw new DiscoveryError(`the metadata of ${origin} is not a JSON document`, false);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw new DiscoveryError(`the metadata of ${origin} is not a JSON object`, false);
  const metadata = document as Record<string, unknown>;
  // RFC 8414 §3.3: exactly the configured issuer, character for character.
  if (metadata.issuer !== issuer) {
    throw new DiscoveryError(
      `the metadata at ${url} names the issuer ${JSON.stringify(metadata.issuer)}, not ${JSON.stringify(issuer)} (RFC 8414 §3.3); check the issuer option`,
      true,
    );
  }
  for (const member of ['jwks_uri', 'revocation_events_endpoint'] as const) {
    if (metadata[member] !== undefined && typeof metadata[member] !== 'string')
      throw new DiscoveryError(`the metadata of ${origin} has a non-string "${member}"`, true);
  }
  const algorithms = metadata.access_token_signing_alg_values_supported;
  if (
    algorithms !== undefined &&
    !(Array.isArray(algorithms) && algorithms.every((alg) => typeof alg === 'string'))
  ) {
    throw new DiscoveryError(
      `the metadata of ${origin} has a malformed "access_token_signing_alg_values_supported"`,
      true,
    );
  }
  return metadata as unknown as AuthorizationServerMetadata;
}
