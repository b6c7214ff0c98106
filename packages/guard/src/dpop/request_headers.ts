import type { GuardErrors } from '../errors.js';

interface HeadersLike {
  get(name: string): string | null;
}
type HeaderRecord = { readonly [name: string]: string | readonly string[] | undefined };

/**
 * The values of one request header field, by lower-case name, from a Fetch `Request` or `Headers`,
 * or a `node:http` request (whose `rawHeaders` keep every repetition). A Fetch `Headers` joins
 * repetitions with ", ": it is one value here, which the caller tells apart.
 */
export function headerValues(request: object, name: string): string[] {
  const headers = (request as { headers?: unknown }).headers ?? request;
  if (typeof (headers as HeadersLike).get === 'function') {
    const value = (headers as HeadersLike).get(name);
    return value === null ? [] : [value];
  }
  const rawHeaders = (request as { rawHeaders?: readonly string[] }).rawHeaders;
  if (rawHeaders !== undefined) {
    const values: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const field = rawHeaders[i]!;
      if (field.length === name.length && field.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
    }
    return values;
  }
  const field = (headers as HeaderRecord)[name];
  if (field === undefined) return [];
  return typeof field === 'string' ? [field] : [...field];
}

/** One header's value (the first), for Host and the X-Forwarded-* fields. */
export function headerReader(request: object): (name: string) => string | undefined {
  return (name) => headerValues(request, name)[0];
}

/**
 * The DPoP proof of a request: RFC 9449 §4.3 point 1 (exactly one `DPoP` header field) and point 2
 * (a single JWT: a proof has no comma or space, so a Fetch `Headers` joining two fields is caught).
 */
export function dpopProofOf(request: object, errors: GuardErrors): string {
  const values = headerValues(request, 'dpop');
  if (values.length === 0) throw errors.invalidDpopProof('the request has no DPoP header');
  if (values.length > 1) throw errors.invalidDpopProof('the request has more than one DPoP header');
  const proof = values[0]!.trim();
  if (proof.length === 0) throw errors.invalidDpopProof('the DPoP header is empty');
  if (proof.includes(',') || proof.includes(' '))
    throw errors.invalidDpopProof('the DPoP header holds more than one value');
  return proof;
}
