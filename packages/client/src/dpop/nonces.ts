/**
 * RFC 9449 §8 and §9: servers hand out nonces in the `DPoP-Nonce` header, on an error
 * (`use_dpop_nonce`) or on any response. The latest one is remembered per origin (the token endpoint
 * and each API keep their own) and goes into the next proof for that origin.
 */
export class DpopNonces {
  readonly #byOrigin = new Map<string, string>();

  get(url: string): string | undefined {
    return this.#byOrigin.get(new URL(url).origin);
  }

  /** Remembers the response's nonce; true when it brought one that differs from what was used. */
  remember(url: string, response: Response): boolean {
    const nonce = response.headers.get('dpop-nonce');
    if (nonce === null || nonce === '') return false;
    const origin = new URL(url).origin;
    const changed = this.#byOrigin.get(origin) !== nonce;
    this.#byOrigin.set(origin, nonce);
    return changed;
  }
}
