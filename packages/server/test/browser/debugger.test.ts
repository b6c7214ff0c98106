/**
 * The token debugger in Chromium, against a real server: a token issued by /login is decoded and
 * its signature checked against the server's JWKS; tampered, foreign, HMAC, unsigned, encrypted and
 * malformed tokens each get the verdict or message a reader needs. Throughout, the page makes no
 * request but the JWKS fetch, breaks no CSP rule, and keeps the token out of storage and the URL.
 * axe checks it, and screenshots are saved at desktop and phone widths.
 */
import { sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  CompactEncrypt,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
} from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, stopServer, type TestServer } from '../helpers.js';
import { startRealServer } from '../real_server.js';
import {
  browserUnavailable,
  checkAccessibility,
  describeViolations,
  launchChromium,
  newPage,
  saveScreenshot,
  seriousViolations,
  VIEWPORTS,
} from './chromium.js';

/** What the page's CSP reports, seen from inside the page (installed before any script runs). */
interface ViolationLog {
  tesseraViolations: string[];
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe.skipIf(browserUnavailable())('the token debugger in Chromium', () => {
  let server: TestServer;
  let issuer: string;
  let browser: Browser;
  let page: Page;
  let accessToken: string;
  /** Every request the page made after it loaded, by URL. */
  const requests: string[] = [];
  const consoleViolations: string[] = [];

  beforeAll(async () => {
    ({ server, issuer } = await startRealServer());
    browser = await launchChromium();
    page = await newPage(browser, VIEWPORTS.light);
    await page.addInitScript(() => {
      const log = globalThis as unknown as ViolationLog & {
        document: {
          addEventListener(type: string, listener: (event: { violatedDirective: string }) => void): void;
        };
      };
      log.tesseraViolations = [];
      log.document.addEventListener('securitypolicyviolation', (event) =>
        log.tesseraViolations.push(event.violatedDirective),
      );
    });
    page.on('console', (message) => {
      if (message.text().includes('Content Security Policy')) consoleViolations.push(message.text());
    });
    const response = await fetch(`${issuer}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: issuer },
      body: JSON.stringify({ username: 'alice', password: ADMIN_PASSWORD }),
    });
    expect(response.status).toBe(200);
    accessToken = ((await response.json()) as { access_token: string }).access_token;

    const loaded = await page.goto(`${issuer}/debugger`, { waitUntil: 'load' });
    expect(loaded?.status()).toBe(200);
    page.on('request', (request) => requests.push(request.url()));
  });

  afterAll(async () => {
    await browser?.close();
    if (server) await stopServer(server);
  });

  async function paste(token: string): Promise<void> {
    await page.getByLabel('Token (signed JWS or encrypted JWE, compact form)').fill(token);
  }

  async function chooseSource(name: RegExp): Promise<void> {
    await page.getByRole('radio', { name }).check();
  }

  /** Waits for the check under way to finish and returns the verdict's state and words. */
  async function verdict(): Promise<{ state: string; text: string }> {
    const box = page.locator('#verdict[aria-busy="false"]');
    await box.waitFor();
    return {
      state: (await box.getAttribute('data-state'))!,
      text: (await box.textContent()) ?? '',
    };
  }

  async function text(selector: string): Promise<string> {
    return (await page.locator(selector).textContent()) ?? '';
  }

  async function partNames(): Promise<string[]> {
    return page.locator('#segments .segment-name').allTextContents();
  }

  it('decodes a token from /login and finds its signature valid against the JWKS', async () => {
    await paste(`Bearer ${accessToken}`);
    expect(await partNames()).toEqual([
      expect.stringMatching(/^Header · \d+ characters$/),
      expect.stringMatching(/^Payload · \d+ characters$/),
      expect.stringMatching(/^Signature · \d+ characters$/),
    ]);
    const [header, payload, signature] = accessToken.split('.');
    await expect(page.locator('#segments code').allTextContents()).resolves.toEqual([
      header,
      payload,
      signature,
    ]);
    // Each part has its own colour, and its name besides.
    const colours = await page.locator('#segments code').evaluateAll((codes) => {
      const { getComputedStyle } = globalThis as unknown as {
        getComputedStyle(element: unknown): { color: string };
      };
      return codes.map((code) => getComputedStyle(code).color);
    });
    expect(new Set(colours).size).toBe(3);

    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    expect(JSON.parse(await text('#header-json'))).toMatchObject({ typ: 'at+jwt' });
    expect(JSON.parse(await text('#payload-json'))).toEqual(claims);
    await expect(page.locator('#times dt').allTextContents()).resolves.toEqual(['Issued iat', 'Expires exp']);
    await expect(page.locator('#times time').first().getAttribute('datetime')).resolves.toBe(
      new Date((claims.iat as number) * 1000).toISOString(),
    );
    await expect(text('#expiry')).resolves.toMatch(/^Expires in 1[45] min( \d+ s)?$/);
    await expect(text('#issuer-note')).resolves.toBe(`Issued by this server (${issuer}).`);

    const result = await verdict();
    expect(result.state).toBe('valid');
    expect(result.text).toContain('Signature valid');
    expect(result.text).toContain(`key "${JSON.parse(Buffer.from(header!, 'base64url').toString()).kid}"`);
    // The one request after load: the JWKS, from this origin.
    expect(requests).toEqual([`${issuer}/.well-known/jwks.json`]);
  });

  it('finds a tampered token invalid', async () => {
    const [header, payload, signature] = accessToken.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    await paste(`${header}.${encode({ ...claims, roles: ['admin'] })}.${signature}`);
    expect(await verdict()).toEqual({ state: 'invalid', text: expect.stringContaining('Signature invalid') });

    const flipped = `${signature!.slice(0, 10)}${signature![10] === 'A' ? 'B' : 'A'}${signature!.slice(11)}`;
    await paste(`${header}.${payload}.${flipped}`);
    expect((await verdict()).state).toBe('invalid');
  });

  it('checks tokens of other keys with a pasted JWK or PEM, offline', async () => {
    const signed = await Promise.all(
      (['RS256', 'PS384', 'ES512', 'EdDSA'] as const).map(async (alg) => {
        const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
        const token = await new SignJWT({ sub: 'elsewhere' })
          .setProtectedHeader({ alg, kid: `other-${alg}` })
          .setIssuer('https://elsewhere.example')
          .setExpirationTime('5m')
          .sign(privateKey);
        return { alg, token, publicKey };
      }),
    );
    await paste(signed[0]!.token);
    const missing = await verdict();
    expect(missing.state).toBe('no-key');
    expect(missing.text).toContain('No key in this server’s keys has kid "other-RS256"');
    await expect(text('#issuer-note')).resolves.toContain(
      'Issued by https://elsewhere.example, not by this server',
    );

    // Once loaded, the page needs no server for a pasted key.
    await page.context().setOffline(true);
    try {
      await chooseSource(/A public key I paste/);
      for (const { alg, token, publicKey } of signed) {
        await paste(token);
        await page
          .getByLabel('Public key', { exact: true })
          .fill(JSON.stringify({ ...(await exportJWK(publicKey)), kid: `other-${alg}` }));
        expect(await verdict(), alg).toEqual({ state: 'valid', text: expect.stringContaining(`(${alg})`) });
        await page.getByLabel('Public key', { exact: true }).fill(await exportSPKI(publicKey));
        expect(await verdict(), `${alg} PEM`).toEqual({
          state: 'valid',
          text: expect.stringContaining('Verified with the pasted key'),
        });
      }

      // A private key is refused, not used.
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      await page.getByLabel('Public key', { exact: true }).fill(JSON.stringify(await exportJWK(privateKey)));
      expect((await verdict()).text).toContain('That is a private key');
      // The server's ES256 token against an RSA key: the key's type decides.
      await paste(accessToken);
      const { publicKey: rsaKey } = await generateKeyPair('RS256', { extractable: true });
      await page.getByLabel('Public key', { exact: true }).fill(JSON.stringify(await exportJWK(rsaKey)));
      expect(await verdict()).toEqual({
        state: 'refused',
        text: expect.stringContaining('is an RSA key, which cannot verify ES256'),
      });
    } finally {
      await page.context().setOffline(false);
    }
  });

  it('checks HS256 with a pasted secret, and never with public keys; refuses alg none', async () => {
    const secret = 'a shared secret of at least thirty-two bytes';
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) - 180)
      .sign(new TextEncoder().encode(secret));
    await paste(token);
    await expect(text('#expiry')).resolves.toBe('Expired 3 min ago');

    await chooseSource(/A shared secret/);
    await page.getByLabel('Secret', { exact: true }).fill(secret);
    expect(await verdict()).toEqual({
      state: 'valid',
      text: expect.stringContaining('Verified with the secret (HS256)'),
    });
    await page.getByLabel('Secret', { exact: true }).fill(`${secret}!`);
    expect((await verdict()).state).toBe('invalid');
    await page.getByLabel('The secret is base64url-encoded').check();
    await page.getByLabel('Secret', { exact: true }).fill(Buffer.from(secret).toString('base64url'));
    expect((await verdict()).state).toBe('valid');
    await page.getByLabel('The secret is base64url-encoded').uncheck();

    // The algorithm-confusion attack: an HMAC token against public keys is refused before any fetch.
    await chooseSource(/This server’s keys/);
    expect(await verdict()).toEqual({
      state: 'refused',
      text: expect.stringContaining('Algorithm not allowed'),
    });
    await paste(`${encode({ alg: 'none' })}.${encode({ sub: 'admin' })}.`);
    expect(await verdict()).toEqual({ state: 'refused', text: expect.stringContaining('"alg": "none"') });
    await chooseSource(/A shared secret/);
    expect((await verdict()).state).toBe('refused');
    await chooseSource(/This server’s keys/);
  });

  it('checks a DPoP proof with the key in its header, and no other token with a key it brings', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const proof = await new SignJWT({ htm: 'POST', htu: `${issuer}/token`, jti: 'proof-1' })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
      .setIssuedAt()
      .sign(privateKey);
    await paste(proof);
    expect(await verdict()).toEqual({
      state: 'valid',
      text: expect.stringContaining(`thumbprint (jkt) is ${await calculateJwkThumbprint(jwk)}`),
    });

    // RFC 9449 §4.3: a proof whose jwk is a private key is refused.
    const withPrivateKey = await new SignJWT({ htm: 'POST', htu: `${issuer}/token`, jti: 'proof-2' })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(privateKey) })
      .setIssuedAt()
      .sign(privateKey);
    await paste(withPrivateKey);
    expect(await verdict()).toEqual({ state: 'refused', text: expect.stringContaining('not a public key') });

    // Any other token that brings its own key is checked against this server's keys only.
    const forged = await new SignJWT({ sub: 'admin', iss: issuer })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', jwk })
      .sign(privateKey);
    await paste(forged);
    expect(await verdict()).toEqual({
      state: 'invalid',
      text: expect.stringContaining('The header’s own "jwk" is not used'),
    });
  });

  it('refuses crit, short RSA keys, keys for encryption, DER signatures and a secret for ES256', async () => {
    const sign = (header: object, key: KeyObject, dsaEncoding: 'der' | 'ieee-p1363' = 'ieee-p1363') => {
      const input = `${encode(header)}.${encode({ sub: 'alice' })}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding }).toString('base64url')}`;
    };
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecJwk = ec.publicKey.export({ format: 'jwk' });
    await chooseSource(/A public key I paste/);
    const publicKeyField = page.getByLabel('Public key', { exact: true });
    await publicKeyField.fill(JSON.stringify(ecJwk));

    // RFC 7515 §4.1.11: a critical extension this page does not implement.
    await paste(sign({ alg: 'ES256', crit: ['exp-ext'], 'exp-ext': 1 }, ec.privateKey));
    expect(await verdict()).toEqual({ state: 'refused', text: expect.stringContaining('"crit"') });
    // RFC 7518 §3.4: R || S, not DER.
    await paste(sign({ alg: 'ES256' }, ec.privateKey, 'der'));
    expect(await verdict()).toEqual({ state: 'invalid', text: expect.stringContaining('DER-encoded') });
    // RFC 7517 §4.2: a key published for encryption does not verify.
    const good = sign({ alg: 'ES256' }, ec.privateKey);
    await paste(good);
    expect((await verdict()).state).toBe('valid');
    await publicKeyField.fill(JSON.stringify({ ...ecJwk, use: 'enc' }));
    expect(await verdict()).toEqual({ state: 'refused', text: expect.stringContaining('"use": "enc"') });

    // RFC 7518 §3.3: RSA keys under 2048 bits.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await publicKeyField.fill(weak.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    await paste(sign({ alg: 'RS256' }, weak.privateKey));
    expect(await verdict()).toEqual({ state: 'refused', text: expect.stringContaining('1024 bits') });

    // A public-key algorithm is never checked with a secret, whatever the secret.
    await chooseSource(/A shared secret/);
    await page.getByLabel('Secret', { exact: true }).fill(JSON.stringify(ecJwk));
    await paste(good);
    expect(await verdict()).toEqual({
      state: 'refused',
      text: expect.stringContaining('ES256 is a public-key algorithm'),
    });
    await chooseSource(/This server’s keys/);
  });

  it('shows only the protected header of an encrypted token', async () => {
    const { publicKey } = await generateKeyPair('RSA-OAEP-256');
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ sub: 'secret-subject' })))
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'resource-key' })
      .encrypt(publicKey);
    await paste(jwe);
    expect(await partNames()).toEqual([
      expect.stringMatching(/^Protected header · /),
      expect.stringMatching(/^Encrypted key · /),
      expect.stringMatching(/^Initialization vector · /),
      expect.stringMatching(/^Ciphertext · /),
      expect.stringMatching(/^Authentication tag · /),
    ]);
    expect(JSON.parse(await text('#header-json'))).toEqual({
      alg: 'RSA-OAEP-256',
      enc: 'A256GCM',
      kid: 'resource-key',
    });
    await expect(page.locator('#payload-json').isHidden()).resolves.toBe(true);
    await expect(text('#jwe-note')).resolves.toContain('only its protected header can be read');
    expect(await verdict()).toEqual({ state: 'info', text: expect.stringContaining('Encrypted token') });
    await expect(text('main')).resolves.not.toContain('secret-subject');
  });

  it('says what is wrong with malformed input', async () => {
    const problems = () => text('#token-problems');
    const cases: [string, string][] = [
      [
        'abc',
        'A token has 3 parts (signed, JWS) or 5 parts (encrypted, JWE) separated by dots; this one has 1.',
      ],
      ['a.b', 'this one has 2. Even an unsigned token ends with a dot'],
      [
        `${Buffer.from('{"alg":"HS256"}??').toString('base64')}.e30.c2ln`,
        'The header is not base64url: character',
      ],
      [`${encode({ alg: 'ES256' }).slice(0, -1)}+.e30.c2ln`, 'It looks like plain base64'],
      [`${Buffer.from('not json').toString('base64url')}.e30.c2ln`, 'The header is base64url but not JSON'],
      [`${encode([1, 2])}.e30.c2ln`, 'The header is JSON but not an object'],
      [`${encode({ typ: 'JWT' })}.e30.c2ln`, 'The header has no "alg"'],
      [
        `${encode({ alg: 'ES256' })}.${Buffer.from([0xff, 0xfe]).toString('base64url')}.c2ln`,
        'The payload decodes to bytes that are not UTF-8 text.',
      ],
    ];
    for (const [input, message] of cases) {
      await paste(input);
      await expect(problems(), input).resolves.toContain(message);
      await expect(page.getByLabel(/^Token/).getAttribute('aria-invalid')).resolves.toBe('true');
    }
    await page.getByRole('button', { name: 'Clear' }).click();
    await expect(page.locator('#token-problems').isHidden()).resolves.toBe(true);
    expect(await verdict()).toEqual({ state: 'idle', text: expect.stringContaining('Paste a token') });
  });

  it('is accessible, and kept everything to itself', async () => {
    await paste(accessToken);
    expect((await verdict()).state).toBe('valid');
    const violations = await checkAccessibility(page);
    expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
    await saveScreenshot(page, 'debugger-light');

    await paste('eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln+');
    const withProblems = await checkAccessibility(page);
    expect(seriousViolations(withProblems), describeViolations(withProblems)).toEqual([]);

    // Nothing but the JWKS was ever requested, and the token went nowhere the page keeps things.
    expect(requests.length).toBeGreaterThan(0);
    expect(new Set(requests)).toEqual(new Set([`${issuer}/.well-known/jwks.json`]));
    expect(page.url()).toBe(`${issuer}/debugger`);
    const kept = await page.evaluate(() => {
      const inPage = globalThis as unknown as {
        localStorage: { length: number };
        sessionStorage: { length: number };
        document: { cookie: string };
      };
      return [inPage.localStorage.length, inPage.sessionStorage.length, inPage.document.cookie];
    });
    expect(kept).toEqual([0, 0, '']);
    await expect(
      page.evaluate(() => (globalThis as unknown as ViolationLog).tesseraViolations),
    ).resolves.toEqual([]);
    expect(consoleViolations).toEqual([]);
  });

  it('counts down to expiry live, and fetches the JWKS again for a new kid at most every 30 s', async () => {
    const other = await newPage(browser, VIEWPORTS.light);
    try {
      // The page's clock, moved by the test: it starts now and runs on until fast-forwarded.
      await other.clock.install();
      await other.goto(`${issuer}/debugger`);
      const fetched: string[] = [];
      other.on('request', (request) => fetched.push(request.url()));
      const expiry = other.locator('#expiry');
      await other.getByLabel(/^Token/).fill(accessToken);
      await other.locator('#verdict[data-state="valid"]').waitFor();
      await expect(expiry.textContent()).resolves.toMatch(/^Expires in 1[45] min/);
      expect(fetched).toEqual([`${issuer}/.well-known/jwks.json`]);

      // Sixteen minutes on, the same token, not pasted again, is expired.
      await other.clock.fastForward('16:00');
      await expiry.filter({ hasText: /^Expired 1 min ago$/ }).waitFor();

      // A kid the cached keys lack (keys rotate): one fresh fetch, then none for 30 s.
      const { privateKey } = await generateKeyPair('ES256');
      for (const kid of ['rotated-in', 'rotated-in-too']) {
        await other
          .getByLabel(/^Token/)
          .fill(await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey));
        await other.locator(`#verdict[data-state="no-key"]`, { hasText: kid }).waitFor();
      }
      expect(fetched).toEqual([`${issuer}/.well-known/jwks.json`, `${issuer}/.well-known/jwks.json`]);
    } finally {
      await other.context().close();
    }
  });

  it('fits a 360 px screen, in dark mode too', async () => {
    const views = [
      ['debugger-narrow', VIEWPORTS.narrow],
      ['debugger-dark', VIEWPORTS.dark],
    ] as const;
    await Promise.all(
      views.map(async ([name, viewport]) => {
        const other = await newPage(browser, viewport);
        try {
          await other.goto(`${issuer}/debugger`);
          await other.getByLabel(/^Token/).fill(accessToken);
          await other.locator('#verdict[data-state="valid"]').waitFor();
          const overflow = await other.evaluate(() => {
            const root = (
              globalThis as unknown as {
                document: { documentElement: { scrollWidth: number; clientWidth: number } };
              }
            ).document.documentElement;
            return root.scrollWidth - root.clientWidth;
          });
          expect(overflow, name).toBe(0);
          const violations = await checkAccessibility(other);
          expect(seriousViolations(violations), describeViolations(violations)).toEqual([]);
          await saveScreenshot(other, name);
        } finally {
          await other.context().close();
        }
      }),
    );
  });
});
