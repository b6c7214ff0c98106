/** The guard's client at the issuer, as given in `options.client`. */
export interface ClientOption {
  /** The `client_id` the issuer registered for this API. */
  id: string;
  /** Its `client_secret`. */
  secret: string;
}

/** RFC 6749 Appendix A.1, A.2: client_id and client_secret are VSCHARs (printable ASCII and space). */
const VSCHARS = /^[\x20-\x7E]+$/;

/**
 * The guard's credentials as a confidential client (RFC 6749 §2.1, §2.3.1 `client_secret_basic`),
 * which the issuer's revocation stream requires. The `Authorization` value is built once; it is as
 * good as the secret, so it lives in a private field: the object serialises and prints as its client
 * id alone, and logging the guard's resolved options, or an error holding them, never writes it.
 */
export class ClientCredentials {
  readonly id: string;
  readonly #authorization: string;

  constructor(option: ClientOption) {
    this.id = option.id;
    // RFC 6749 §2.3.1: the client identifier and the secret are each encoded with the
    // application/x-www-form-urlencoded algorithm (Appendix B), then joined by ":" and sent as
    // HTTP Basic (RFC 7617): a ":" in either survives as %3A.
    const pair = `${formUrlEncode(option.id)}:${formUrlEncode(option.secret)}`;
    this.#authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
    Object.freeze(this);
  }

  /** The `Authorization` header value: `Basic base64(urlencoded(id) ":" urlencoded(secret))`. */
  get authorization(): string {
    return this.#authorization;
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `ClientCredentials(id=${JSON.stringify(this.id)})`;
  }
}

/**
 * RFC 6749 Appendix B: application/x-www-form-urlencoded, as the WHATWG URL Standard serialises it
 * (the reference Appendix B names): every byte but ALPHA / DIGIT / `*-._` percent-encoded as UTF-8,
 * and space as `+`.
 */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/** Checks `options.client`; a TypeError names what is wrong, never the secret. */
export function checkClientOption(value: unknown): ClientCredentials {
  if (typeof value !== 'object' || value === null)
    throw new TypeError(
      "options.client must be { id, secret }: the guard's confidential client at the issuer",
    );
  const { id, secret } = value as Partial<ClientOption>;
  for (const [name, member] of [
    ['id', id],
    ['secret', secret],
  ] as const) {
    if (typeof member !== 'string' || member.length === 0)
      throw new TypeError(`options.client.${name} must be a non-empty string`);
    if (!VSCHARS.test(member))
      throw new TypeError(
        `options.client.${name} must be printable ASCII (RFC 6749 Appendix A: VSCHAR); check for a stray newline`,
      );
  }
  return new ClientCredentials({ id: id!, secret: secret! });
}
