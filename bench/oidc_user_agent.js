// A browser for the OpenID Provider benchmark without a browser: it keeps cookies by name (paths and
// the Secure flag ignored: everything is one loopback origin), signs in once through whatever login
// form the provider shows, then asks for authorization codes with that sign-in (single sign-on), as a
// user opening app after app would. The same code drives Tessera and node-oidc-provider: the
// endpoints come from discovery, the login form from the page itself.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';

export const REDIRECT_URI = 'https://app.example/callback';

const ENTITIES = { '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&#96;': '`', '&amp;': '&' };
const unescapeHtml = (text) => text.replace(/&(?:quot|#39|lt|gt|#96|amp);/g, (entity) => ENTITIES[entity]);

/** RFC 7636 §4.1–4.2: a verifier and its S256 challenge. */
function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export class UserAgent {
  /** name → value, as the provider set them. */
  cookies = new Map();

  constructor(issuer, { sockets = 16 } = {}) {
    this.issuer = new URL(issuer);
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  close() {
    this.agent.destroy();
  }

  cookieHeader() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  keep(setCookie = []) {
    for (const line of setCookie) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || /expires=Thu, 01 Jan 1970/i.test(a),
      );
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** One request, redirects not followed: status, Location (absolute) and the body as text. */
  send(method, target, form) {
    const url = new URL(target, this.issuer);
    const body = form === undefined ? undefined : new URLSearchParams(form).toString();
    const headers = { cookie: this.cookieHeader() };
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = Buffer.byteLength(body);
      headers.origin = this.issuer.origin;
    }
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          this.keep(res.headers['set-cookie']);
          const { location } = res.headers;
          resolve({
            status: res.statusCode,
            location: location === undefined ? undefined : new URL(location, url).href,
            body: Buffer.concat(chunks).toString('utf8'),
            url: url.href,
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Discovery (OIDC Discovery 1.0 §4): where to authorize and where to exchange. */
  async discover() {
    const { status, body } = await this.send('GET', '/.well-known/openid-configuration');
    if (status !== 200) throw new Error(`discovery answered ${status}`);
    const metadata = JSON.parse(body);
    this.authorizationEndpoint = metadata.authorization_endpoint;
    this.tokenEndpoint = metadata.token_endpoint;
    return metadata;
  }

  /** A code request (OIDC Core §3.1.2.1) for a client, with PKCE; returns the response and its verifier. */
  async authorize(clientId, scope) {
    const { verifier, challenge } = pkcePair();
    const query = new URLSearchParams({
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: randomBytes(8).toString('base64url'),
      nonce: randomBytes(8).toString('base64url'),
    });
    const response = await this.send('GET', `${this.authorizationEndpoint}?${query}`);
    return { response, verifier };
  }

  /**
   * Signs in: the code request, then its redirects within the provider and its login form (hidden
   * fields kept, username and password filled in), until the redirect back to the client.
   */
  async signIn(clientId, scope, username, password) {
    let { response } = await this.authorize(clientId, scope);
    for (let step = 0; step < 8; step++) {
      if (response.location?.startsWith(REDIRECT_URI)) {
        if (!new URL(response.location).searchParams.has('code'))
          throw new Error(`the sign-in ended without a code: ${response.location}`);
        return;
      }
      if (response.status >= 300 && response.status < 400 && response.location) {
        response = await this.send('GET', response.location);
      } else if (response.status === 200 && /name="password"/.test(response.body)) {
        const form = /<form\b[^>]*>/.exec(response.body)?.[0] ?? '';
        const action = /\baction="([^"]*)"/.exec(form)?.[1];
        const fields = {};
        for (const [, name, value] of response.body.matchAll(
          /<input type="hidden" name="([^"]+)" value="([^"]*)"/g,
        ))
          fields[unescapeHtml(name)] = unescapeHtml(value);
        response = await this.send('POST', action ? unescapeHtml(action) : response.url, {
          ...fields,
          username,
          password,
        });
      } else {
        throw new Error(
          `the sign-in stopped at ${response.status} ${response.url}: ${response.body.slice(0, 200)}`,
        );
      }
    }
    throw new Error('the sign-in did not come back to the client');
  }

  /** `count` codes with the sign-in this agent holds, `concurrency` requests at a time. */
  async codes(clientId, scope, count, concurrency = 16) {
    const codes = new Array(count);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const { response, verifier } = await this.authorize(clientId, scope);
        const code = response.location?.startsWith(REDIRECT_URI)
          ? new URL(response.location).searchParams.get('code')
          : null;
        if (!code)
          throw new Error(`no code: ${response.status} ${response.location ?? response.body.slice(0, 200)}`);
        codes[index] = { code, verifier };
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return codes;
  }
}
