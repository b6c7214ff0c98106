// @ts-check
/**
 * The token debugger's script, served as /assets/debugger.js to the page at /debugger.
 *
 * Everything happens here, in the browser: the token is decoded with atob and TextDecoder and its
 * signature checked with WebCrypto. The one request this script makes is a GET of this server's
 * JWKS, from the page's own origin, without cookies or referrer. The token is never stored, put in
 * the URL or sent anywhere. The DOM is written with textContent only: a token's contents are text,
 * never markup.
 */

/** @typedef {Record<string, unknown>} JsonObject */
/** @typedef {'idle' | 'checking' | 'valid' | 'invalid' | 'no-key' | 'refused' | 'unavailable' | 'info'} State */
/**
 * @typedef {object} Spec How one JWS algorithm is checked with WebCrypto.
 * @property {'public' | 'secret'} kind
 * @property {string} [kty] the JWK key type it needs (public-key algorithms)
 * @property {string} [crv] the curve it needs (EC, OKP)
 * @property {number} bits the hash size
 * @property {number} [signatureLength] the exact signature size in bytes (ECDSA)
 * @property {RsaHashedImportParams | EcKeyImportParams | HmacImportParams | Algorithm} importParams
 * @property {RsaPssParams | EcdsaParams | Algorithm} verifyParams
 */
/**
 * @typedef {object} ParsedToken
 * @property {string[]} parts
 * @property {'jws' | 'jwe' | undefined} kind
 * @property {JsonObject | undefined} header
 * @property {unknown} payload the claims, when the payload is JSON
 * @property {string | undefined} payloadText the payload as text, when it is UTF-8
 * @property {string[]} problems what is wrong with it, in words
 */

/** A result for the reader: a state (which sets the colour and icon), a title and a sentence. */
class Outcome extends Error {
  /**
   * @param {State} state
   * @param {string} title
   * @param {string} detail
   */
  constructor(state, title, detail) {
    super(detail);
    this.state = state;
    this.title = title;
    this.detail = detail;
  }
}

/** @param {string} detail */
const refused = (detail) => new Outcome('refused', 'Algorithm not allowed', detail);
/** @param {string} detail */
const unusableKey = (detail) => new Outcome('unavailable', 'Cannot use this key', detail);
/** @param {string} detail */
const notChecked = (detail) => new Outcome('idle', 'Not checked', detail);

/** A problem with the token itself, shown above its parts. */
class TokenProblem extends Error {}

// ---------------------------------------------------------------------------------------------
// The page

/** @param {string} id */
function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

const root = byId('debugger');
const JWKS_PATH = root.dataset.jwksPath ?? '/.well-known/jwks.json';
const ISSUER = root.dataset.issuer ?? '';

const tokenInput = /** @type {HTMLTextAreaElement} */ (byId('token'));
const problemsBox = byId('token-problems');
const segmentsBlock = byId('segments-block');
const segmentsList = byId('segments');
const decodedEmpty = byId('decoded-empty');
const decodedBlock = byId('decoded');
const headerJson = byId('header-json');
const payloadBlock = byId('payload-block');
const payloadJson = byId('payload-json');
const jweNote = byId('jwe-note');
const timesBlock = byId('times-block');
const expiryLine = byId('expiry');
const timesList = byId('times');
const issuerNote = byId('issuer-note');
const publicKeyField = byId('public-key-field');
const publicKeyInput = /** @type {HTMLTextAreaElement} */ (byId('public-key'));
const secretField = byId('secret-field');
const secretInput = /** @type {HTMLInputElement} */ (byId('secret'));
const secretIsBase64url = /** @type {HTMLInputElement} */ (byId('secret-base64url'));
const verdictBox = byId('verdict');

// ---------------------------------------------------------------------------------------------
// Decoding (RFC 7515 §7.1, RFC 7516 §7.1)

const JWS_PARTS = ['Header', 'Payload', 'Signature'];
const JWE_PARTS = [
  'Protected header',
  'Encrypted key',
  'Initialization vector',
  'Ciphertext',
  'Authentication tag',
];

/**
 * RFC 7515 §2: base64url without padding. Says where the first wrong character is, and recognises
 * plain base64, the usual mistake.
 * @param {string} text
 * @param {string} name
 * @returns {Uint8Array<ArrayBuffer>}
 */
function base64urlBytes(text, name) {
  const bad = text.search(/[^A-Za-z0-9_-]/);
  if (bad !== -1) {
    const character = text[bad] ?? '';
    const plain = '+/='.includes(character)
      ? ' It looks like plain base64: a JWT uses base64url, with - and _ instead of + and /, and no = padding (RFC 7515 §2).'
      : '';
    throw new TokenProblem(
      `The ${name} is not base64url: character ${JSON.stringify(character)} at position ${bad + 1}.${plain}`,
    );
  }
  if (text.length % 4 === 1) {
    throw new TokenProblem(`The ${name} is not base64url: no encoding is ${text.length} characters long.`);
  }
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (character) => character.charCodeAt(0));
}

/**
 * @param {string} segment
 * @param {string} name
 */
function decodeText(segment, name) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(base64urlBytes(segment, name));
  } catch (error) {
    if (error instanceof TokenProblem) throw error;
    throw new TokenProblem(`The ${name} decodes to bytes that are not UTF-8 text.`);
  }
}

/**
 * @param {string} text
 * @param {string} name
 * @returns {JsonObject}
 */
function parseObject(text, name) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TokenProblem(
      `The ${name} is base64url but not JSON: ${error instanceof Error ? error.message : ''}`,
    );
  }
  if (!isObject(value)) throw new TokenProblem(`The ${name} is JSON but not an object ({…}).`);
  return value;
}

/**
 * @param {unknown} value
 * @returns {value is JsonObject}
 */
function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What people paste: `Authorization` values, tokens wrapped over lines. @param {string} raw */
function normalise(raw) {
  return raw
    .trim()
    .replace(/^(?:Bearer|DPoP)\s+/i, '')
    .replace(/\s+/g, '');
}

/**
 * Splits and decodes a compact token as far as it can, collecting every problem on the way: the
 * reader sees the parts that are fine and a sentence for each that is not.
 * @param {string} token
 * @returns {ParsedToken}
 */
function parseToken(token) {
  const parts = token.split('.');
  /** @type {ParsedToken} */
  const parsed = {
    parts,
    kind: undefined,
    header: undefined,
    payload: undefined,
    payloadText: undefined,
    problems: [],
  };
  /** @param {() => void} step */
  const attempt = (step) => {
    try {
      step();
    } catch (error) {
      if (!(error instanceof TokenProblem)) throw error;
      parsed.problems.push(error.message);
    }
  };
  if (parts.length !== 3 && parts.length !== 5) {
    const unsigned =
      parts.length === 2 ? ' Even an unsigned token ends with a dot (an empty signature).' : '';
    parsed.problems.push(
      `A token has 3 parts (signed, JWS) or 5 parts (encrypted, JWE) separated by dots; this one has ${parts.length}.${unsigned}`,
    );
    return parsed;
  }
  parsed.kind = parts.length === 3 ? 'jws' : 'jwe';
  const names = parsed.kind === 'jws' ? JWS_PARTS : JWE_PARTS;
  const headerName = (names[0] ?? 'header').toLowerCase();
  attempt(() => {
    if (parts[0] === '') throw new TokenProblem(`The ${headerName} is empty.`);
    parsed.header = parseObject(decodeText(parts[0] ?? '', headerName), headerName);
  });
  const header = parsed.header;
  if (header) {
    // RFC 7515 §4.1.1, RFC 7516 §4.1.1–2: the header names the algorithm; a JWE's also the encryption.
    if (typeof header.alg !== 'string')
      parsed.problems.push(`The ${headerName} has no "alg" (RFC 7515 §4.1.1).`);
    if (parsed.kind === 'jwe' && typeof header.enc !== 'string')
      parsed.problems.push('Five parts make a JWE, but the header has no "enc" (RFC 7516 §4.1.2).');
    if (parsed.kind === 'jws' && header.enc !== undefined)
      parsed.problems.push(
        'The header has "enc", as an encrypted token (JWE) does, but a JWE has five parts.',
      );
  }
  if (parsed.kind === 'jws') {
    attempt(() => {
      parsed.payloadText = decodeText(parts[1] ?? '', 'payload');
      parsed.payload = parseObject(parsed.payloadText, 'payload');
    });
    attempt(() => base64urlBytes(parts[2] ?? '', 'signature'));
  } else {
    for (let index = 1; index < 5; index++) {
      attempt(() => base64urlBytes(parts[index] ?? '', (names[index] ?? '').toLowerCase()));
    }
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------
// Rendering what the token says

/**
 * @param {string} tag
 * @param {string} [text]
 * @param {string} [className]
 */
function make(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** @param {ParsedToken | undefined} parsed */
function renderParts(parsed) {
  segmentsList.replaceChildren();
  segmentsBlock.hidden = parsed === undefined;
  if (!parsed) return;
  const names = parsed.kind === 'jwe' ? JWE_PARTS : parsed.kind === 'jws' ? JWS_PARTS : [];
  parsed.parts.forEach((part, index) => {
    // Colours only for a known shape; the name is always written out.
    const item = make('li', undefined, parsed.kind ? `part-${index + 1}` : '');
    const name = make('span', names[index] ?? `Part ${index + 1}`, 'segment-name');
    const size = part.length === 1 ? '1 character' : `${part.length} characters`;
    name.append(make('span', ` · ${part === '' ? 'empty' : size}`, 'segment-size'));
    item.append(name, make('code', part === '' ? '—' : part));
    segmentsList.append(item);
  });
}

/** @param {string[]} problems */
function renderProblems(problems) {
  problemsBox.replaceChildren(...problems.map((problem) => make('p', problem)));
  problemsBox.hidden = problems.length === 0;
  tokenInput.setAttribute('aria-invalid', problems.length > 0 ? 'true' : 'false');
}

/** @param {ParsedToken | undefined} parsed */
function renderDecoded(parsed) {
  const shown = parsed?.header !== undefined || parsed?.payloadText !== undefined;
  decodedEmpty.hidden = shown;
  decodedBlock.hidden = !shown;
  if (!parsed) {
    decodedEmpty.textContent = 'Paste a token to see its header and claims.';
    return;
  }
  decodedEmpty.textContent = 'Nothing could be decoded: see the problems with the token.';
  headerJson.textContent = parsed.header ? JSON.stringify(parsed.header, null, 2) : '—';
  payloadBlock.hidden = parsed.kind === 'jwe';
  jweNote.hidden = parsed.kind !== 'jwe';
  payloadJson.textContent =
    parsed.payload !== undefined ? JSON.stringify(parsed.payload, null, 2) : (parsed.payloadText ?? '—');
  const iss = isObject(parsed.payload) ? parsed.payload.iss : undefined;
  issuerNote.hidden = typeof iss !== 'string';
  if (typeof iss === 'string') {
    issuerNote.textContent =
      iss === ISSUER
        ? `Issued by this server (${ISSUER}).`
        : `Issued by ${iss}, not by this server (${ISSUER}): this server’s keys will not verify it.`;
  }
}

// RFC 7519 §4.1.4–6 and OpenID Connect Core §2: the NumericDate claims.
const TIME_CLAIMS = [
  ['iat', 'Issued'],
  ['nbf', 'Not valid before'],
  ['exp', 'Expires'],
  ['auth_time', 'User signed in'],
];

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'long' });

/** @type {{ claims: JsonObject, relatives: Map<string, HTMLElement> } | undefined} */
let shownTimes;

/** @param {ParsedToken | undefined} parsed */
function renderTimes(parsed) {
  timesList.replaceChildren();
  const claims = parsed && isObject(parsed.payload) ? parsed.payload : undefined;
  const present = claims ? TIME_CLAIMS.filter(([claim]) => claims[claim ?? ''] !== undefined) : [];
  timesBlock.hidden = claims === undefined;
  shownTimes = undefined;
  if (!claims) return;
  const relatives = new Map();
  for (const [claim = '', label = ''] of present) {
    const value = claims[claim];
    const term = make('dt', `${label} `);
    term.append(make('code', claim));
    const description = make('dd');
    const date = typeof value === 'number' ? new Date(value * 1000) : undefined;
    if (date === undefined || Number.isNaN(date.getTime())) {
      description.textContent = `${JSON.stringify(value)}: not a NumericDate, seconds since 1970 (RFC 7519 §2).`;
    } else {
      const time = make('time', dateFormat.format(date));
      time.setAttribute('datetime', date.toISOString());
      const relative = make('span', '', 'relative');
      relatives.set(claim, relative);
      description.append(time, ' ', relative);
    }
    timesList.append(term, description);
  }
  shownTimes = { claims, relatives };
  tick();
}

/**
 * "14 min 59 s", "3 min", "2 h 5 min", "4 d 2 h": seconds only under an hour, and only where they
 * count (a countdown).
 * @param {number} seconds
 * @param {boolean} withSeconds
 */
function duration(seconds, withSeconds) {
  const total = Math.floor(Math.abs(seconds));
  const [days, hours, minutes, rest] = [
    Math.floor(total / 86400),
    Math.floor(total / 3600) % 24,
    Math.floor(total / 60) % 60,
    total % 60,
  ];
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return withSeconds && rest > 0 ? `${minutes} min ${rest} s` : `${minutes} min`;
  return `${rest} s`;
}

/** @param {number} seconds from now: positive is the future */
function relativeTime(seconds) {
  return seconds >= 0 ? `in ${duration(seconds, true)}` : `${duration(seconds, false)} ago`;
}

/** Once a second: the countdown to expiry and every "in …" / "… ago". */
function tick() {
  if (!shownTimes) return;
  const now = Date.now() / 1000;
  const { claims, relatives } = shownTimes;
  for (const [claim, relative] of relatives)
    relative.textContent = `(${relativeTime(Number(claims[claim]) - now)})`;
  const { exp, nbf } = claims;
  if (typeof nbf === 'number' && nbf > now) {
    expiryLine.dataset.state = 'early';
    expiryLine.textContent = `Not valid yet: valid ${relativeTime(nbf - now)}`;
  } else if (exp === undefined) {
    expiryLine.dataset.state = 'none';
    expiryLine.textContent = 'Never expires: it has no "exp"';
  } else if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    expiryLine.dataset.state = 'expired';
    expiryLine.textContent = 'Its "exp" is not a date: verifiers refuse it';
  } else if (exp > now) {
    expiryLine.dataset.state = 'valid';
    expiryLine.textContent = `Expires in ${duration(exp - now, true)}`;
  } else {
    expiryLine.dataset.state = 'expired';
    expiryLine.textContent = `Expired ${duration(exp - now, false)} ago`;
  }
}

// ---------------------------------------------------------------------------------------------
// Algorithms (RFC 7518 §3, RFC 8037 §3.1)

/**
 * @param {'RSASSA-PKCS1-v1_5' | 'RSA-PSS'} name
 * @param {number} bits
 * @returns {Spec}
 */
function rsa(name, bits) {
  const hash = `SHA-${bits}`;
  // RFC 7518 §3.5: the PSS salt is as long as the hash.
  const verifyParams = name === 'RSA-PSS' ? { name, saltLength: bits / 8 } : { name };
  return { kind: 'public', kty: 'RSA', bits, importParams: { name, hash }, verifyParams };
}

/**
 * @param {string} crv
 * @param {number} bits
 * @param {number} signatureLength
 * @returns {Spec}
 */
function ecdsa(crv, bits, signatureLength) {
  return {
    kind: 'public',
    kty: 'EC',
    crv,
    bits,
    signatureLength,
    importParams: { name: 'ECDSA', namedCurve: crv },
    verifyParams: { name: 'ECDSA', hash: `SHA-${bits}` },
  };
}

/**
 * @param {number} bits
 * @returns {Spec}
 */
function hmac(bits) {
  return {
    kind: 'secret',
    bits,
    importParams: { name: 'HMAC', hash: `SHA-${bits}` },
    verifyParams: { name: 'HMAC' },
  };
}

/** @type {Spec} */
const ED25519 = {
  kind: 'public',
  kty: 'OKP',
  crv: 'Ed25519',
  bits: 512,
  importParams: { name: 'Ed25519' },
  verifyParams: { name: 'Ed25519' },
};

/** @type {Record<string, Spec>} */
const ALGORITHMS = {
  RS256: rsa('RSASSA-PKCS1-v1_5', 256),
  RS384: rsa('RSASSA-PKCS1-v1_5', 384),
  RS512: rsa('RSASSA-PKCS1-v1_5', 512),
  PS256: rsa('RSA-PSS', 256),
  PS384: rsa('RSA-PSS', 384),
  PS512: rsa('RSA-PSS', 512),
  // RFC 7518 §3.4: R and S, each as long as the curve's order, side by side.
  ES256: ecdsa('P-256', 256, 64),
  ES384: ecdsa('P-384', 384, 96),
  ES512: ecdsa('P-521', 512, 132),
  EdDSA: ED25519,
  Ed25519: ED25519,
  HS256: hmac(256),
  HS384: hmac(384),
  HS512: hmac(512),
};

/** A key's kind in words: "an RSA key", "an EC P-256 key". @param {JsonObject} jwk */
function describeKey(jwk) {
  const kind = typeof jwk.crv === 'string' ? `${jwk.kty} ${jwk.crv}` : String(jwk.kty);
  return `${/^[AEIOR]/.test(kind) ? 'an' : 'a'} ${kind} key`;
}

/** @param {JsonObject} jwk @param {string} fallback */
function keyName(jwk, fallback) {
  return typeof jwk.kid === 'string' ? `key "${jwk.kid}"` : fallback;
}

/**
 * Why this key cannot verify this algorithm, or undefined if it can. The key's type decides, never
 * the token: a public key is never an HMAC secret, an RSA key never signs ES256.
 * @param {JsonObject} jwk
 * @param {string} alg
 * @param {Spec} spec
 * @param {string} name
 */
function keyMismatch(jwk, alg, spec, name) {
  if (jwk.kty !== spec.kty || (spec.crv !== undefined && jwk.crv !== spec.crv))
    return `${name} is ${describeKey(jwk)}, which cannot verify ${alg}.`;
  const eddsa = (/** @type {unknown} */ value) => value === 'EdDSA' || value === 'Ed25519';
  if (typeof jwk.alg === 'string' && jwk.alg !== alg && !(eddsa(jwk.alg) && eddsa(alg)))
    return `${name} is for ${jwk.alg} only (its "alg"), and the token says ${alg}.`;
  // RFC 7517 §4.2–3: a key meant for something else is not used to verify.
  if (jwk.use !== undefined && jwk.use !== 'sig')
    return `${name} is for "use": ${JSON.stringify(jwk.use)}, not signatures.`;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify'))
    return `${name} has "key_ops" without "verify".`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * Refuses key material that is not public: a pasted private key means a secret left its home.
 * @param {JsonObject[]} keys
 */
function refusePrivate(keys) {
  for (const jwk of keys) {
    if (jwk.kty === 'oct')
      throw unusableKey(
        'That is a secret key (kty "oct"): choose "A shared secret" and paste its "k" as base64url.',
      );
    if (['d', 'p', 'q', 'dp', 'dq', 'qi'].some((member) => member in jwk))
      throw unusableKey(
        'That is a private key (it has "d"). Paste only its public part: a private key should never be pasted into a web page.',
      );
  }
}

/**
 * A JWK reduced to its public members, so that WebCrypto judges the key alone (not "alg", "use"
 * or "ext", already checked by keyMismatch).
 * @param {JsonObject} jwk
 * @returns {JsonWebKey}
 */
function publicMembers(jwk) {
  const members =
    jwk.kty === 'RSA' ? ['kty', 'n', 'e'] : jwk.kty === 'EC' ? ['kty', 'crv', 'x', 'y'] : ['kty', 'crv', 'x'];
  return Object.fromEntries(members.filter((member) => member in jwk).map((member) => [member, jwk[member]]));
}

/**
 * @param {unknown} error
 * @param {string} alg
 * @param {string} name
 */
function importFailure(error, alg, name) {
  if (error instanceof DOMException && error.name === 'NotSupportedError')
    return new Outcome('unavailable', 'Cannot check here', `This browser cannot verify ${alg} signatures.`);
  return unusableKey(
    `${name} could not be read as ${alg} key: ${error instanceof Error ? error.message : ''}`,
  );
}

/**
 * RFC 7518 §3.3: RSA keys of 2048 bits or more.
 * @param {CryptoKey} key
 * @param {string} name
 */
function checkKeySize(key, name) {
  const { modulusLength } = /** @type {RsaHashedKeyAlgorithm} */ (key.algorithm);
  if (modulusLength !== undefined && modulusLength < 2048)
    throw new Outcome(
      'refused',
      'Key not allowed',
      `${name} has ${modulusLength} bits; RSA keys must have at least 2048 (RFC 7518 §3.3).`,
    );
}

const SPKI_ALGORITHMS = new Map([
  ['2a864886f70d010101', { kty: 'RSA' }],
  ['2a8648ce3d0201', { kty: 'EC' }],
  ['2b6570', { kty: 'OKP', crv: 'Ed25519' }],
  ['2b6571', { kty: 'OKP', crv: 'Ed448' }],
]);
const EC_CURVES = new Map([
  ['2a8648ce3d030107', 'P-256'],
  ['2b81040022', 'P-384'],
  ['2b81040023', 'P-521'],
]);

/**
 * One DER element (X.690 §8.1): its tag and where its contents are.
 * @param {Uint8Array} bytes
 * @param {number} offset
 */
function derElement(bytes, offset) {
  const tag = bytes[offset];
  let length = bytes[offset + 1] ?? 0;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let index = 0; index < count; index++) length = length * 256 + (bytes[start + index] ?? 0);
    start += count;
  }
  if (tag === undefined || start + length > bytes.length)
    throw unusableKey('The PEM block is not a whole public key.');
  return { tag, start, end: start + length };
}

/** @param {Uint8Array} bytes */
const hex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

/**
 * The key type in a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): its algorithm's OID and, for EC,
 * its curve's (RFC 5480 §2.1.1).
 * @param {Uint8Array} der
 * @returns {JsonObject}
 */
function spkiKeyType(der) {
  const info = derElement(der, 0);
  const algorithm = derElement(der, info.start);
  const oid = derElement(der, algorithm.start);
  if (info.tag !== 0x30 || algorithm.tag !== 0x30 || oid.tag !== 0x06)
    throw unusableKey('The PEM block is not a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY").');
  const type = SPKI_ALGORITHMS.get(hex(der.subarray(oid.start, oid.end)));
  if (!type)
    throw unusableKey(
      'The PEM block holds a kind of key this page does not know (RSA, EC and Ed25519 only).',
    );
  if (type.kty !== 'EC') return { ...type };
  const curve = derElement(der, oid.end);
  return { kty: 'EC', crv: EC_CURVES.get(hex(der.subarray(curve.start, curve.end))) ?? 'on another curve' };
}

/**
 * @param {string} text
 * @returns {{ der: Uint8Array<ArrayBuffer>, type: JsonObject }}
 */
function parsePem(text) {
  const match = /^-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----$/.exec(text);
  if (!match) throw unusableKey('The PEM block is incomplete: it needs its BEGIN and END lines.');
  const [, label = '', body = ''] = match;
  if (label.includes('PRIVATE KEY'))
    throw unusableKey(
      'That is a private key. Paste only the public key: a private key should never be pasted into a web page.',
    );
  if (label === 'CERTIFICATE')
    throw unusableKey(
      'That is a certificate: paste its public key instead (openssl x509 -pubkey -noout -in cert.pem).',
    );
  if (label === 'RSA PUBLIC KEY')
    throw unusableKey('That is a PKCS #1 RSA key: convert it with openssl rsa -RSAPublicKey_in -pubout.');
  if (label !== 'PUBLIC KEY') throw unusableKey(`A PEM "${label}" is not a public key ("BEGIN PUBLIC KEY").`);
  let binary;
  try {
    binary = atob(body.replace(/\s+/g, ''));
  } catch {
    throw unusableKey('The PEM block is not valid base64.');
  }
  const der = Uint8Array.from(binary, (character) => character.charCodeAt(0));
  return { der, type: spkiKeyType(der) };
}

/**
 * What the "public key" box holds: a JWKS, a single JWK or a PEM public key.
 * @param {string} text
 * @returns {{ keys: JsonObject[], name: string, single: boolean } | { der: Uint8Array<ArrayBuffer>, type: JsonObject }}
 */
function parsePastedKey(text) {
  const trimmed = text.trim();
  if (trimmed === '') throw notChecked('Paste the public key to check the signature with.');
  if (trimmed.startsWith('-----')) return parsePem(trimmed);
  let json;
  try {
    json = JSON.parse(trimmed);
  } catch {
    throw unusableKey('The key is neither JSON (a JWK or a JWKS) nor a PEM block.');
  }
  if (isObject(json) && Array.isArray(json.keys)) {
    const keys = json.keys.filter(isObject);
    refusePrivate(keys);
    return { keys, name: 'the pasted JWKS', single: false };
  }
  if (isObject(json) && typeof json.kty === 'string') {
    refusePrivate([json]);
    return { keys: [json], name: 'the pasted key', single: true };
  }
  throw unusableKey('That JSON is neither a JWK (it has no "kty") nor a JWKS (it has no "keys" array).');
}

/** @type {{ at: number, keys: Promise<JsonObject[]> } | undefined} */
let serverKeys;

/**
 * This server's JWKS: the page's only request. Same origin, no cookies, no referrer; fetched when
 * a token first needs it, and again (bypassing the cache) when a token names a kid it lacks, since
 * keys rotate, at most every 30 seconds.
 * @param {boolean} fresh
 */
function fetchServerKeys(fresh) {
  const keys = fetch(JWKS_PATH, {
    mode: 'same-origin',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
    redirect: 'error',
    cache: fresh ? 'no-cache' : 'default',
    headers: { accept: 'application/jwk-set+json, application/json' },
  }).then(async (response) => {
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const jwks = await response.json();
    if (!isObject(jwks) || !Array.isArray(jwks.keys)) throw new Error('its answer is not a JWKS');
    return jwks.keys.filter(isObject);
  });
  const entry = { at: Date.now(), keys };
  serverKeys = entry;
  // A failed fetch is tried again by the next check, not remembered.
  keys.catch(() => {
    if (serverKeys === entry) serverKeys = undefined;
  });
  return keys;
}

async function loadServerKeys() {
  if (!serverKeys) showVerdict(new Outcome('checking', 'Checking…', 'Fetching this server’s keys.'));
  try {
    return await (serverKeys?.keys ?? fetchServerKeys(false));
  } catch (error) {
    throw new Outcome(
      'unavailable',
      'Keys not available',
      `This server’s keys could not be fetched (${error instanceof Error ? error.message : 'offline?'}). Paste a key instead: that works offline.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Checking the signature (RFC 7515 §5.2)

const encoder = new TextEncoder();

/**
 * @param {ParsedToken} parsed
 * @returns {{ alg: string, spec: Spec, data: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer> }}
 */
function signatureInput(parsed) {
  const header = /** @type {JsonObject} */ (parsed.header);
  const alg = String(header.alg);
  // RFC 7519 §6: an unsecured JWT carries no signature; anyone can write one.
  if (alg.toLowerCase() === 'none')
    throw refused(
      '"alg": "none" means the token is not signed (RFC 7519 §6): anyone can write one, so it is never valid.',
    );
  const spec = ALGORITHMS[alg];
  if (!spec)
    throw refused(
      `"alg": ${JSON.stringify(alg)} is not one this page checks: RS256–512, PS256–512, ES256–512, EdDSA (Ed25519) and HS256–512.`,
    );
  // RFC 7515 §4.1.11: a verifier must refuse a token whose critical extensions it does not understand.
  if (header.crit !== undefined)
    throw refused(
      `The header marks ${JSON.stringify(header.crit)} as critical ("crit"); this page does not implement them, and a verifier that does not must refuse the token (RFC 7515 §4.1.11).`,
    );
  const [encodedHeader = '', encodedPayload = '', encodedSignature = ''] = parsed.parts;
  const signature = base64urlBytes(encodedSignature, 'signature');
  if (signature.length === 0)
    throw new Outcome('invalid', 'Signature invalid', 'The token has an empty signature.');
  if (spec.signatureLength !== undefined && signature.length !== spec.signatureLength) {
    const der =
      signature.length > spec.signatureLength ? ' (DER-encoded, perhaps: JWS uses R and S side by side)' : '';
    throw new Outcome(
      'invalid',
      'Signature invalid',
      `An ${alg} signature is ${spec.signatureLength} bytes (RFC 7518 §3.4); this one is ${signature.length}${der}.`,
    );
  }
  return { alg, spec, data: encoder.encode(`${encodedHeader}.${encodedPayload}`), signature };
}

/**
 * @param {Spec} spec
 * @param {CryptoKey} key
 * @param {Uint8Array<ArrayBuffer>} signature
 * @param {Uint8Array<ArrayBuffer>} data
 */
function verify(spec, key, signature, data) {
  return crypto.subtle.verify(spec.verifyParams, key, signature, data);
}

const valid = (/** @type {string} */ detail) => new Outcome('valid', 'Signature valid', detail);
const invalid = (/** @type {string} */ detail) =>
  new Outcome(
    'invalid',
    'Signature invalid',
    `${detail} The token was changed after it was signed, or signed with another key.`,
  );

/**
 * RFC 7515 §4.1.4, RFC 7517 §5: the key is chosen by `kid` when the token names one; among the keys
 * left, those that fit the algorithm are tried. The token's own `jwk`, `jku`, `x5u`, `x5c` are never
 * used: a key the token picks for itself proves nothing.
 * @param {ParsedToken} parsed
 * @param {JsonObject[]} keys
 * @param {{ name: string, single: boolean, refetch?: () => Promise<JsonObject[] | undefined> }} set
 */
async function checkWithKeySet(parsed, keys, set) {
  const { alg, spec, data, signature } = signatureInput(parsed);
  if (spec.kind === 'secret')
    throw refused(
      `${alg} is checked with a shared secret, not a public key: choose "A shared secret". (Using a public key as an HMAC secret is the algorithm-confusion attack; this page never does.)`,
    );
  const kid = parsed.header?.kid;
  /** @param {JsonObject[]} from */
  const named = (from) =>
    typeof kid === 'string'
      ? from.filter((jwk) => jwk.kid === kid || (set.single && jwk.kid === undefined))
      : from;
  let candidates = named(keys);
  if (typeof kid === 'string' && candidates.length === 0 && set.refetch) {
    const again = await set.refetch();
    if (again) candidates = named(again);
  }
  if (typeof kid === 'string' && candidates.length === 0) {
    const kids = keys.map((jwk) => jwk.kid).filter((other) => typeof other === 'string');
    const listed =
      kids.length > 0 ? ` (its keys are ${kids.map((other) => JSON.stringify(other)).join(', ')})` : '';
    throw new Outcome(
      'no-key',
      'No matching kid',
      `No key in ${set.name} has kid ${JSON.stringify(kid)}${listed}.`,
    );
  }
  const reasons = candidates.map((jwk) => keyMismatch(jwk, alg, spec, keyName(jwk, set.name)));
  const fitting = candidates.filter((_, index) => reasons[index] === undefined);
  if (fitting.length === 0) {
    if (candidates.length > 0 && (typeof kid === 'string' || set.single)) throw refused(reasons[0] ?? '');
    throw new Outcome('no-key', 'No matching key', `No key in ${set.name} can verify ${alg}.`);
  }
  for (const jwk of fitting) {
    const name = keyName(jwk, set.name);
    let key;
    try {
      key = await crypto.subtle.importKey('jwk', publicMembers(jwk), spec.importParams, false, ['verify']);
    } catch (error) {
      throw importFailure(error, alg, name);
    }
    if (spec.kty === 'RSA') checkKeySize(key, name);
    if (await verify(spec, key, signature, data))
      return valid(`Verified with ${name === set.name ? name : `${name} of ${set.name}`} (${alg}).`);
  }
  throw invalid(
    fitting.length === 1
      ? `It does not verify with ${keyName(fitting[0] ?? {}, set.name)}.`
      : `It verifies with none of the ${fitting.length} keys that fit.`,
  );
}

/**
 * @param {ParsedToken} parsed
 * @param {{ der: Uint8Array<ArrayBuffer>, type: JsonObject }} pem
 */
async function checkWithPem(parsed, pem) {
  const { alg, spec, data, signature } = signatureInput(parsed);
  if (spec.kind === 'secret')
    throw refused(`${alg} is checked with a shared secret, not a public key: choose "A shared secret".`);
  const mismatch = keyMismatch(pem.type, alg, spec, 'The pasted key');
  if (mismatch) throw refused(mismatch);
  let key;
  try {
    key = await crypto.subtle.importKey('spki', pem.der, spec.importParams, false, ['verify']);
  } catch (error) {
    throw importFailure(error, alg, 'The pasted key');
  }
  if (spec.kty === 'RSA') checkKeySize(key, 'The pasted key');
  if (await verify(spec, key, signature, data)) return valid(`Verified with the pasted key (${alg}).`);
  throw invalid('It does not verify with the pasted key.');
}

/** @param {ParsedToken} parsed */
async function checkWithSecret(parsed) {
  const { alg, spec, data, signature } = signatureInput(parsed);
  if (spec.kind !== 'secret')
    throw refused(
      `${alg} is a public-key algorithm: a shared secret cannot verify it. Choose this server’s keys or paste a public key.`,
    );
  if (secretInput.value === '') throw notChecked(`Enter the secret to check this ${alg} token.`);
  let secret;
  try {
    secret = secretIsBase64url.checked
      ? base64urlBytes(secretInput.value.trim(), 'secret')
      : encoder.encode(secretInput.value);
  } catch (error) {
    throw unusableKey(error instanceof Error ? error.message : 'The secret is not base64url.');
  }
  if (secret.length === 0) throw notChecked(`Enter the secret to check this ${alg} token.`);
  const key = await crypto.subtle.importKey('raw', secret, spec.importParams, false, ['verify']);
  // RFC 7518 §3.2: a key at least as long as the hash. Said, not enforced: this is a debugger.
  const short =
    secret.length * 8 < spec.bits
      ? ` The secret has only ${secret.length * 8} bits; RFC 7518 §3.2 requires ${spec.bits} for ${alg}, and strict verifiers refuse it.`
      : '';
  if (await verify(spec, key, signature, data)) return valid(`Verified with the secret (${alg}).${short}`);
  throw invalid('It does not verify with this secret.');
}

/**
 * RFC 7638 §3: the SHA-256 thumbprint of a public JWK, the `jkt` that DPoP-bound tokens name in `cnf`.
 * @param {JsonObject} jwk
 */
async function jwkThumbprint(jwk) {
  const required =
    jwk.kty === 'RSA' ? ['e', 'kty', 'n'] : jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : ['crv', 'kty', 'x'];
  // Members in lexicographic order, no whitespace: JSON.stringify keeps the order given.
  const canonical = JSON.stringify(Object.fromEntries(required.map((member) => [member, jwk[member]])));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(canonical)));
  return btoa(String.fromCharCode(...digest))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/**
 * A DPoP proof (RFC 9449 §4.2) is signed by the key in its own header, never by a server: checking
 * it shows that whoever made it held that key (§4.3 checks 5–6), and its thumbprint is what a token
 * bound to the key carries as `cnf.jkt`.
 * @param {ParsedToken} parsed
 */
async function checkDpopProof(parsed) {
  const jwk = parsed.header?.jwk;
  if (!isObject(jwk))
    throw refused('A DPoP proof carries its public key in "jwk" (RFC 9449 §4.2); this one has none.');
  // RFC 9449 §4.3 check 6: the key must be public.
  if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk))
    throw refused(
      'The proof’s "jwk" is not a public key, and a proof with a private or secret key is refused (RFC 9449 §4.3).',
    );
  const outcome = await checkWithKeySet(parsed, [jwk], {
    name: 'the key in its header ("jwk")',
    single: true,
  });
  const jkt = await jwkThumbprint(jwk);
  return valid(`${outcome.detail} This is a DPoP proof: its key’s thumbprint (jkt) is ${jkt}.`);
}

/** @returns {'jwks' | 'public' | 'secret'} */
function keySource() {
  const checked = /** @type {HTMLInputElement | null} */ (
    document.querySelector('input[name="key-source"]:checked')
  );
  const value = checked?.value;
  return value === 'public' || value === 'secret' ? value : 'jwks';
}

/**
 * @param {ParsedToken | undefined} parsed
 * @returns {Promise<Outcome>}
 */
async function checkSignature(parsed) {
  if (!parsed) return notChecked('Paste a token to check its signature.');
  if (parsed.kind === 'jwe') {
    return new Outcome(
      'info',
      'Encrypted token',
      'A JWE has no signature to check here. Its contents can be read only by decrypting them with the recipient’s private key, which this page never asks for.',
    );
  }
  if (!parsed.kind || !parsed.header || typeof parsed.header.alg !== 'string')
    return notChecked('The token must be well formed before its signature can be checked.');
  if (!globalThis.crypto?.subtle)
    return new Outcome(
      'unavailable',
      'Cannot check here',
      'Signature checks need a secure context (https, or http on localhost).',
    );
  const source = keySource();
  if (source === 'secret') return checkWithSecret(parsed);
  if (source === 'public') {
    const pasted = parsePastedKey(publicKeyInput.value);
    return 'der' in pasted ? checkWithPem(parsed, pasted) : checkWithKeySet(parsed, pasted.keys, pasted);
  }
  if (String(parsed.header.typ).toLowerCase() === 'dpop+jwt') return checkDpopProof(parsed);
  // Fail early on what needs no keys (none, HS*) before fetching any.
  if (signatureInput(parsed).spec.kind === 'secret')
    return checkWithKeySet(parsed, [], { name: 'this server’s keys', single: false });
  const keys = await loadServerKeys();
  return checkWithKeySet(parsed, keys, {
    name: 'this server’s keys',
    single: false,
    refetch: async () => {
      if (serverKeys && Date.now() - serverKeys.at < 30_000) return undefined;
      return fetchServerKeys(true).catch(() => undefined);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

/** @type {ParsedToken | undefined} */
let current;
let checkNumber = 0;

/** @param {Outcome} outcome */
function showVerdict(outcome) {
  verdictBox.dataset.state = outcome.state;
  verdictBox.replaceChildren(
    make('p', outcome.title, 'verdict-title'),
    make('p', outcome.detail, 'verdict-detail'),
  );
}

/**
 * Checks the current token; a later check wins over an earlier one still running. While a check
 * runs the verdict is `aria-busy` (assistive technology waits for the result rather than announce
 * every step) and keeps showing the previous result, but for the slow case of fetching the keys.
 */
async function check() {
  const number = ++checkNumber;
  verdictBox.setAttribute('aria-busy', 'true');
  let outcome;
  try {
    outcome = await checkSignature(current);
  } catch (error) {
    if (error instanceof Outcome) outcome = error;
    // A signature that is not base64url: already listed with the token's problems.
    else if (error instanceof TokenProblem) outcome = notChecked(error.message);
    else
      outcome = new Outcome(
        'unavailable',
        'Cannot check',
        error instanceof Error ? error.message : String(error),
      );
  }
  if (number !== checkNumber) return;
  const header = current?.header;
  if (header && (outcome.state === 'invalid' || outcome.state === 'no-key')) {
    const brought = ['jwk', 'jku', 'x5u', 'x5c'].filter((member) => member in header);
    if (brought.length > 0)
      outcome.detail += ` The header’s own ${brought.map((member) => `"${member}"`).join(', ')} is not used: a key the token chooses for itself proves nothing.`;
  }
  showVerdict(outcome);
  verdictBox.setAttribute('aria-busy', 'false');
}

function update() {
  const token = normalise(tokenInput.value);
  current = token === '' ? undefined : parseToken(token);
  renderProblems(current?.problems ?? []);
  renderParts(current);
  renderDecoded(current);
  renderTimes(current);
  void check();
}

function showKeyFields() {
  const source = keySource();
  publicKeyField.hidden = source !== 'public';
  secretField.hidden = source !== 'secret';
}

tokenInput.addEventListener('input', update);
for (const input of document.querySelectorAll('input[name="key-source"]')) {
  input.addEventListener('change', () => {
    showKeyFields();
    void check();
  });
}
publicKeyInput.addEventListener('input', () => void check());
secretInput.addEventListener('input', () => void check());
secretIsBase64url.addEventListener('change', () => void check());
byId('clear').addEventListener('click', () => {
  tokenInput.value = '';
  update();
  tokenInput.focus();
});
setInterval(tick, 1000);
showKeyFields();
update();
