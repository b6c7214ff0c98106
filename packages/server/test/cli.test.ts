/**
 * The `tessera` command line, end to end: each test runs the real bin file as a child process, with
 * its own data directory and master key, pipes stdin, and checks exit codes, stdout and stderr.
 *
 * How the bin is built: `beforeAll` transpiles the current sources (test/build.ts, ~2 s), so the
 * child runs exactly the code in `src/` without depending on `dist/` being fresh.
 *
 * Running `main()` in-process was not chosen: the exit codes for usage and configuration errors are
 * set by the bin wrapper around `main()`, `--password-stdin` reads the real stdin, and `serve` ends
 * the process on SIGTERM — all of which only a child process exercises.
 *
 * stdout and stderr are pipes here, not TTYs: no output may carry ANSI colour codes.
 */
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwtUnverified, exportJwk, generateKeyPair } from '@tessera/jose';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { publishedLongEnough } from '../src/keys/signing_keys.js';
import { verifyPassword } from '../src/passwords.js';
import { createServer as createTesseraServer } from '../src/server.js';
import { createServices } from '../src/services.js';
import { buildSources, ROOT, type SourceBuild } from './build.js';
import { createTestDatabase, dropTestDatabase } from './helpers.js';

const ANSI = /\u001b\[/;
const STACK_TRACE = /\n\s+at .+[:(]/;

let cli = '';
const tempDirs: string[] = [];
const databases: string[] = [];

let build: SourceBuild | undefined;
beforeAll(() => {
  build = buildSources('cli-test');
  cli = build.cli;
});

afterAll(async () => {
  build?.remove();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  for (const url of databases) await dropTestDatabase(url);
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** The parent's environment without anything that would configure or colour the CLI. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(TESSERA_|DATABASE_URL$|NO_COLOR$|FORCE_COLOR$|NODE_OPTIONS$)/.test(name))
      continue;
    env[name] = value;
  }
  return env;
}

interface Home {
  dataDir: string;
  masterKey: string;
  /** The store's database when the suite runs on PostgreSQL (`DATABASE_URL` in `env`). */
  databaseUrl: string | undefined;
  env: Record<string, string>;
}

/**
 * A fresh installation: its own data directory and master key, and database on PostgreSQL. Its store
 * is made (migrations, signing keys, the web client) the way the first `tessera serve` makes it, less
 * the admin user, since no other command may create one; `{ store: false }` leaves it uncreated.
 */
async function home(options: { store?: boolean } = {}): Promise<Home> {
  const dataDir = tempDir('tessera-cli-');
  const masterKey = randomBytes(32).toString('base64url');
  const databaseUrl = await createTestDatabase();
  const env: Record<string, string> = { TESSERA_DATA_DIR: dataDir, TESSERA_MASTER_KEY: masterKey };
  if (databaseUrl) {
    databases.push(databaseUrl);
    env.DATABASE_URL = databaseUrl;
  }
  if (options.store !== false) {
    const services = await createServices(loadConfig({ ...env, TESSERA_LOG_LEVEL: 'silent' }));
    await services.close();
  }
  return { dataDir, masterKey, databaseUrl, env };
}

async function withDatabase<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Everything the store holds, as text, by where it is: the files of the data directory (the SQLite
 * database and its WAL) and, on PostgreSQL, every row of every table.
 */
async function storeContents({ dataDir, databaseUrl }: Home): Promise<[string, string | Buffer][]> {
  const contents: [string, string | Buffer][] = readdirSync(dataDir).map((file) => [
    file,
    readFileSync(join(dataDir, file)),
  ]);
  if (databaseUrl) {
    await withDatabase(databaseUrl, async (client) => {
      const tables = await client.query<{ name: string }>(
        `select table_name as name from information_schema.tables where table_schema = 'public'`,
      );
      for (const { name } of tables.rows) {
        const rows = await client.query<{ row: string }>(`select t::text as row from "${name}" t`);
        contents.push([name, rows.rows.map((r) => r.row).join('\n')]);
      }
    });
  }
  return contents;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Each run costs most of a second of CPU (loading fastify, kysely, argon2 …): run at most one per
// core at a time, however many the concurrent tests ask for, so none starves on a busy machine.
const SLOTS = Math.max(2, availableParallelism());
let running = 0;
const waiting: (() => void)[] = [];

async function inSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (running < SLOTS) running++;
  else await new Promise<void>((resolve) => waiting.push(resolve)); // the slot is handed over
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** Runs `tessera …args` to completion; `input` is piped to stdin (stdin is closed either way). */
async function tessera(
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<Result> {
  const cwd = tempDir('tessera-cwd-');
  const result = await inSlot(() => run(args, cwd, options));
  if (ANSI.test(result.stdout) || ANSI.test(result.stderr)) {
    throw new Error(`colour codes in output that is not a TTY: ${JSON.stringify(result)}`);
  }
  return result;
}

function run(
  args: string[],
  cwd: string,
  options: { env?: Record<string, string>; input?: string },
): Promise<Result> {
  return new Promise<Result>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: { ...baseEnv(), ...options.env },
      stdio: 'pipe',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdin.on('error', () => {}); // EPIPE when the command never reads stdin
    child.stdin.end(options.input);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Like {@link tessera}, expecting exit 0 and JSON on stdout. */
async function tesseraJson<T = unknown>(
  args: string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<T> {
  const result = await tessera([...args, '--json'], options);
  if (result.code !== 0) throw new Error(`tessera ${args.join(' ')} failed: ${JSON.stringify(result)}`);
  return JSON.parse(result.stdout) as T;
}

/** Exit 2, nothing on stdout, one clean error line on stderr (no stack trace). */
function expectUsageError(result: Result, message: string | RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^error: /);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(STACK_TRACE);
}

async function passwordHashOf({ dataDir, databaseUrl }: Home, username: string): Promise<string> {
  if (databaseUrl) {
    const { rows } = await withDatabase(databaseUrl, (client) =>
      client.query<{ password_hash: string }>('select password_hash from users where username = $1', [
        username,
      ]),
    );
    if (!rows[0]) throw new Error(`no user ${username}`);
    return rows[0].password_hash;
  }
  const db = new SQLite(join(dataDir, 'tessera.db'), { readonly: true });
  try {
    const row = db.prepare('select password_hash from users where username = ?').get(username) as
      | { password_hash: string }
      | undefined;
    if (!row) throw new Error(`no user ${username}`);
    return row.password_hash;
  } finally {
    db.close();
  }
}

// Generous timeouts for loaded machines; on an idle two-core machine the whole file takes ~25 s.
describe.concurrent('tessera CLI', { timeout: 180_000 }, () => {
  it('prints help for the top level and every command, even with a bad setting', async () => {
    const topics: [string[], string[]][] = [
      [
        ['--help'],
        ['serve', 'user', 'client', 'resource', 'receiver', 'keys', 'token', 'keygen', '--help', '--version'],
      ],
      [
        ['serve', '--help'],
        [
          'tessera serve',
          '--port <number>',
          '--data-dir <dir>',
          '--issuer <url>',
          'admin',
          '--redis-url <redis://…>',
          '--redis-prefix <prefix>',
          'TESSERA_REDIS_PREFIX, default tessera:',
          '--trust-proxy',
          '--print-config',
          'TESSERA_MASTER_KEY',
        ],
      ],
      [
        ['user', '--help'],
        [
          'user add',
          'user list',
          'user update',
          '--email-verified | --no-email-verified',
          'user enable',
          'user disable',
          'user delete',
          'user set-password',
          'user set-roles',
          'user set-permissions',
          '--password-stdin',
          '--generate',
        ],
      ],
      [
        ['user', 'add', '--help'],
        ['user add', 'user set-password'],
      ],
      [
        ['client', '--help'],
        [
          'client add',
          'client list',
          'client update',
          'client remove',
          'client rotate-secret',
          '--default-audience',
          '--kind spa|native|web|service',
          '--redirect-uri <uri>…',
          '--post-logout-redirect-uri <uri>…',
          '--grant-type <grant>…',
          '--auth-method <method>',
          '--jwks-file <path>',
          '--jwks-uri <url>',
          '--access-token-ttl <span>',
          '--refresh-token-ttl <span>',
          '--resource <uri>…',
          '--skip-consent | --no-skip-consent',
          '--web-origin <origin>…',
        ],
      ],
      [
        ['resource', '--help'],
        [
          'resource add <resource-uri>',
          'resource list',
          'resource remove <resource-uri>',
          '--format jwt|jwe',
          '--encryption-key-file <path>',
          'RFC 8707',
        ],
      ],
      [
        ['keys', '--help'],
        ['keys list', 'keys rotate', 'keys revoke [--] <kid>', 'keys reseal', 'TESSERA_MASTER_KEYRING'],
      ],
      [
        ['token', '--help'],
        ['token decode', 'token verify', 'token sign', '--user <username>'],
      ],
      [['help', 'user'], ['user set-roles']],
      [
        ['keygen', '--help'],
        ['keygen --alg', 'keygen --master'],
      ],
    ];
    const results = await Promise.all(
      topics.map(([args]) => tessera(args, { env: { TESSERA_PORT: 'not-a-port' } })),
    );
    results.forEach((result, i) => {
      const [args, mentions] = topics[i]!;
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stderr, args.join(' ')).toBe('');
      for (const word of mentions) expect(result.stdout, args.join(' ')).toContain(word);
    });
  });

  it('refuses unknown commands, subcommands and options with exit 2; no command shows the usage', async () => {
    // Each run gets its own home: two processes creating the same fresh store at once can collide
    // in the first migration, so every test below makes its store with one run before going parallel.
    const [none, unknown, unknownHelp, subcommand, option, missingValue] = await Promise.all([
      tessera([], await home({ store: false })),
      tessera(['frobnicate'], await home({ store: false })),
      tessera(['frobnicate', '--help'], await home({ store: false })),
      tessera(['user', 'frobnicate', 'bob'], await home({ store: false })),
      tessera(['keys', 'list', '--frobnicate'], await home({ store: false })),
      tessera(['keys', 'list', '--port'], await home({ store: false })),
    ]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('Usage: tessera <command>');
    expectUsageError(unknown, 'unknown command "frobnicate"; try tessera --help');
    expectUsageError(unknownHelp, 'unknown command "frobnicate"');
    expectUsageError(
      subcommand,
      'usage: tessera user add|list|update|enable|disable|delete|set-password|set-roles|set-permissions',
    );
    expectUsageError(option, "Unknown option '--frobnicate'");
    expectUsageError(missingValue, "Option '--port <value>' argument missing");
  });

  it('refuses a bad setting with exit 2, naming it, before touching the data directory', async () => {
    const me = await home({ store: false });
    const { env, dataDir } = me;
    const [port, key] = await Promise.all([
      tessera(['user', 'list'], { env: { ...env, TESSERA_PORT: 'abc' } }),
      tessera(['keys', 'list'], { env: { ...env, TESSERA_MASTER_KEY: 'too-short-secret-value' } }),
    ]);
    expectUsageError(port, /^error: port \(TESSERA_PORT, --port\): expected an integer .* got "abc"\n$/);
    expectUsageError(key, /masterKey \(TESSERA_MASTER_KEY\)/);
    expect(key.stderr).not.toContain('too-short-secret-value');
    expect(readdirSync(dataDir)).toEqual([]);
    // Nor the database, on PostgreSQL: not even the migrations ran.
    expect(await storeContents(me)).toEqual([]);
  });

  it('adds, lists, disables users and sets passwords', async () => {
    const me = await home();
    const { env } = me;
    const bobPassword = 'bob has a long password';

    const added = await tessera(['user', 'add', 'bob', '--password-stdin'], {
      env,
      input: `${bobPassword}\n`,
    });
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^created bob usr_\S+\n$/);
    expect(added.stdout + added.stderr).not.toContain(bobPassword);
    // The piped password is stored without its trailing newline.
    expect((await verifyPassword(await passwordHashOf(me, 'bob'), bobPassword)).ok).toBe(true);

    type Row = { id: string; username: string; disabled: boolean; roles: string[]; tokenVersion: number };
    const listed = await tesseraJson<Row[]>(['user', 'list'], { env });
    expect(listed).toEqual([
      {
        id: expect.stringMatching(/^usr_/),
        username: 'bob',
        disabled: false,
        roles: [],
        permissions: [],
        profile: { emailVerified: false },
        tokenVersion: 0,
      },
    ]);

    const [duplicate, short, generated] = await Promise.all([
      tessera(['user', 'add', 'bob', '--password-stdin'], { env, input: 'another long password\n' }),
      tessera(['user', 'add', 'carol', '--password-stdin'], { env, input: 'short\n' }),
      tessera(['user', 'add', 'dave', '--role', 'admin'], { env }),
    ]);
    expectUsageError(duplicate, 'user "bob" already exists');
    expectUsageError(short, 'password must be at least 12 characters');
    expect(generated.code).toBe(0);
    const shown = /^password (\S+) \(shown once\)$/m.exec(generated.stdout)?.[1];
    expect(shown).toMatch(/^[\w-]{24}$/);
    expect(generated.stdout.split(shown!).length - 1).toBe(1);
    expect((await verifyPassword(await passwordHashOf(me, 'dave'), shown!)).ok).toBe(true);

    const disabled = await tessera(['user', 'disable', 'bob'], { env });
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toBe('disabled bob; every session ended\n');

    const newPassword = 'bob has a brand new password';
    const [changed, changedShort, unknown] = await Promise.all([
      tessera(['user', 'set-password', 'bob', '--password-stdin'], { env, input: newPassword }),
      tessera(['user', 'set-password', 'dave', '--password-stdin'], { env, input: 'short' }),
      tessera(['user', 'disable', 'nobody'], { env }),
    ]);
    expect(changed.code).toBe(0);
    expect(changed.stdout).toBe('password changed for bob; every session ended\n');
    expect(changed.stdout + changed.stderr).not.toContain(newPassword);
    expectUsageError(changedShort, 'password must be at least 12 characters');
    expectUsageError(unknown, 'no user "nobody"');
    expect((await verifyPassword(await passwordHashOf(me, 'bob'), newPassword)).ok).toBe(true);
    expect((await verifyPassword(await passwordHashOf(me, 'bob'), bobPassword)).ok).toBe(false);

    const final = await tessera(['user', 'list', '--json'], { env });
    const rows = JSON.parse(final.stdout) as Row[];
    expect(rows.map((u) => [u.username, u.disabled, u.roles])).toEqual([
      ['bob', true, []],
      ['dave', false, ['admin']],
    ]);
    // disable and set-password each bumped bob's token version.
    expect(rows[0]!.tokenVersion).toBe(2);
    expect(final.stdout).not.toMatch(/argon2|password/i);
    expect(final.stdout).not.toContain(shown);
  });

  it('adds clients, printing a confidential secret once, and lists them without secrets', async () => {
    const me = await home();
    const { env } = me;
    const added = await tesseraJson<Record<string, string>>(
      ['client', 'add', 'svc', '--type', 'confidential', '--audience', 'api'],
      { env },
    );
    expect(added).toEqual({
      client_id: 'svc',
      type: 'confidential',
      kind: 'web',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['refresh_token'],
      client_secret: expect.stringMatching(/^[\w-]{43}$/),
    });
    const secret = added.client_secret!;
    const secretHash = createHash('sha256').update(secret).digest('base64url');
    // Stored only as a hash (the WAL included; on PostgreSQL, in any row of any table).
    const stored = await storeContents(me);
    expect(stored.some(([, content]) => content.includes(secretHash))).toBe(true);
    for (const [where, content] of stored) expect(content.includes(secret), where).toBe(false);

    const [publicClient, duplicate] = await Promise.all([
      tessera(
        ['client', 'add', 'app', '--type', 'public', '--audience', 'api', '--scope', 'openid profile'],
        {
          env,
        },
      ),
      tessera(['client', 'add', 'svc', '--type', 'confidential', '--audience', 'api'], { env }),
    ]);
    expect(publicClient.code).toBe(0);
    expect(publicClient.stdout).toBe('added client app (public, native; none; refresh_token)\n');
    expectUsageError(duplicate, 'client "svc" already exists');

    const [json, text] = await Promise.all([
      tessera(['client', 'list', '--json'], { env }),
      tessera(['client', 'list'], { env }),
    ]);
    expect(json.code).toBe(0);
    expect(text.code).toBe(0);
    const clients = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(clients.map((c) => [c.clientId, c.type, c.audiences, c.scopes])).toEqual([
      ['web', 'first-party', ['http://127.0.0.1:4000'], ['openid', 'profile', 'offline_access']],
      ['svc', 'confidential', ['api'], ['openid', 'profile', 'offline_access']],
      ['app', 'public', ['api'], ['openid', 'profile']],
    ]);
    for (const output of [json.stdout, text.stdout]) {
      expect(output).not.toContain(secret);
      expect(output).not.toContain(secretHash);
      // Neither the secret nor its hash, under any name (the auth method's name says "secret" only).
      expect(output.replaceAll('client_secret_basic', '')).not.toMatch(/secret|hash/i);
    }
    expect(text.stdout).toContain('svc confidential aud=api scope="openid profile offline_access"');
  });

  it("gives a client without audiences the server's audience setting when each token is issued", async () => {
    const { env } = await home();
    // Added by a process with other settings (another port): nothing of them may stick to the client.
    const elsewhere = { ...env, TESSERA_PORT: '5999' };
    await tesseraJson(['client', 'add', 'app', '--type', 'public', '--scope', 'openid'], { env: elsewhere });
    await tesseraJson(
      ['client', 'add', 'own', '--type', 'public', '--scope', 'openid', '--audience', 'urn:own'],
      {
        env: elsewhere,
      },
    );
    await tesseraJson(['user', 'add', 'alice', '--password-stdin'], {
      env,
      input: 'alice has a long password',
    });
    const listed = await tesseraJson<{ clientId: string; audiences: string[]; defaultAudience: boolean }[]>(
      ['client', 'list'],
      { env },
    );
    expect(listed.find((c) => c.clientId === 'app')).toMatchObject({
      audiences: ['http://127.0.0.1:4000'],
      defaultAudience: true,
    });

    /** The `aud` of a token from a login at a server with these extra settings. */
    async function audienceAt(settings: Record<string, string>, clientId?: string): Promise<unknown> {
      const server = await createTesseraServer(
        loadConfig({ ...env, TESSERA_LOG_LEVEL: 'silent', ...settings }),
        {
          logger: false,
        },
      );
      try {
        const login = await server.app.inject({
          method: 'POST',
          url: '/login',
          payload: { username: 'alice', password: 'alice has a long password', client_id: clientId },
        });
        expect(login.statusCode, login.body).toBe(200);
        return decodeJwtUnverified((login.json() as { access_token: string }).access_token).aud;
      } finally {
        await server.close();
      }
    }
    expect(await audienceAt({ TESSERA_AUDIENCE: 'https://api.example.com' }, 'app')).toBe(
      'https://api.example.com',
    );
    expect(await audienceAt({ TESSERA_PORT: '4100' }, 'app')).toBe('http://127.0.0.1:4100');
    expect(await audienceAt({ TESSERA_AUDIENCE: 'https://api.example.com' }, 'own')).toBe('urn:own');
    // The built-in web client too (its tokens also name the issuer, for the server's own endpoints).
    expect(await audienceAt({ TESSERA_AUDIENCE: 'https://api.example.com' })).toEqual([
      'https://api.example.com',
      'http://127.0.0.1:4000',
    ]);
  });

  it('updates and removes clients, and rotates a confidential secret, printed once', async () => {
    const me = await home();
    const { env } = me;
    const { client_secret: first } = await tesseraJson<{ client_secret: string }>(
      ['client', 'add', 'svc', '--type', 'confidential', '--audience', 'api'],
      { env },
    );
    await tesseraJson(['client', 'add', 'app', '--type', 'public', '--scope', 'openid'], { env });

    const rotated = await tessera(['client', 'rotate-secret', 'svc'], { env });
    expect(rotated.code).toBe(0);
    const second = /^client_secret (\S+) \(shown once\)$/m.exec(rotated.stdout)?.[1];
    expect(second).toMatch(/^[\w-]{43}$/);
    expect(rotated.stdout).toMatch(/^new secret for svc; the old one no longer works\n/);
    const services = await createServices(loadConfig({ ...env, TESSERA_LOG_LEVEL: 'silent' }));
    try {
      const svc = (await services.clients.byId('svc'))!;
      expect(services.clients.verifySecret(svc, first)).toBe(false);
      expect(services.clients.verifySecret(svc, second!)).toBe(true);
    } finally {
      await services.close();
    }
    for (const [where, content] of await storeContents(me))
      expect(content.includes(second!), where).toBe(false);

    const updated = await tesseraJson(
      [
        'client',
        'update',
        'svc',
        '--audience',
        'https://a',
        '--audience',
        'https://b',
        '--scope',
        'openid orders:read',
        '--name',
        'Orders API',
      ],
      { env },
    );
    expect(updated).toEqual({
      clientId: 'svc',
      type: 'confidential',
      name: 'Orders API',
      audiences: ['https://a', 'https://b'],
      defaultAudience: false,
      scopes: ['openid', 'orders:read'],
      kind: 'web',
      redirectUris: [],
      postLogoutRedirectUris: [],
      grantTypes: ['refresh_token'],
      responseTypes: [],
      tokenEndpointAuthMethod: 'client_secret_basic',
      resources: [],
      skipConsent: false,
      webOrigins: [],
      dpopBoundAccessTokens: false,
      tokenExchange: { targets: [], delegation: false, impersonation: false },
      backchannelLogoutSessionRequired: false,
    });
    const followed = await tesseraJson(['client', 'update', 'svc', '--default-audience'], { env });
    expect(followed).toMatchObject({ audiences: ['http://127.0.0.1:4000'], defaultAudience: true });

    const [publicSecret, nothing, badAudience, badScope, unknown, web, both] = await Promise.all([
      tessera(['client', 'rotate-secret', 'app'], { env }),
      tessera(['client', 'update', 'svc'], { env }),
      tessera(['client', 'update', 'svc', '--audience', 'has space'], { env }),
      tessera(['client', 'update', 'svc', '--scope', 'a"b'], { env }),
      tessera(['client', 'update', 'nope', '--name', 'x'], { env }),
      tessera(['client', 'remove', 'web'], { env }),
      tessera(['client', 'update', 'svc', '--audience', 'x', '--default-audience'], { env }),
    ]);
    expectUsageError(publicSecret, 'client "app" is public: it has no secret');
    expectUsageError(nothing, 'nothing to change: give an option to change (tessera client --help)');
    expectUsageError(badAudience, 'an audience is 1–512 characters without spaces or control characters');
    expectUsageError(badScope, 'RFC 6749 §3.3');
    expectUsageError(unknown, 'no client "nope"');
    expectUsageError(web, 'the built-in web client cannot be removed');
    expectUsageError(both, 'give --audience or --default-audience, not both');

    // Removing a client ends its sessions: its access tokens are refused at once.
    await tesseraJson(['user', 'add', 'alice', '--password-stdin'], {
      env,
      input: 'alice has a long password',
    });
    const server = await createTesseraServer(loadConfig({ ...env, TESSERA_LOG_LEVEL: 'silent' }), {
      logger: false,
    });
    let token: string;
    try {
      const login = await server.app.inject({
        method: 'POST',
        url: '/login',
        payload: { username: 'alice', password: 'alice has a long password', client_id: 'app' },
      });
      token = (login.json() as { access_token: string }).access_token;
    } finally {
      await server.close();
    }
    const removed = await tessera(['client', 'remove', 'app'], { env });
    expect(removed).toEqual({ code: 0, stdout: 'removed client app; 1 session ended\n', stderr: '' });
    const verified = await tessera(['token', 'verify', token, '--json'], { env });
    expect(JSON.parse(verified.stdout)).toMatchObject({ revoked: true });
    const remaining = await tesseraJson<{ clientId: string }[]>(['client', 'list'], { env });
    expect(remaining.map((c) => c.clientId)).toEqual(['web', 'svc']);
    expectUsageError(await tessera(['client', 'remove', 'app'], { env }), 'no client "app"');
  });

  it('registers web origins (CORS) for the web client and a spa, and refuses what is not an exact origin', async () => {
    const { env } = await home();
    const web = await tesseraJson<Record<string, unknown>>(
      [
        'client',
        'update',
        'web',
        '--web-origin',
        'http://localhost:5173',
        '--web-origin',
        'https://app.example.com',
      ],
      { env },
    );
    expect(web).toMatchObject({
      clientId: 'web',
      webOrigins: ['http://localhost:5173', 'https://app.example.com'],
    });
    await tesseraJson(
      [
        'client',
        'add',
        'spa',
        '--kind',
        'spa',
        '--redirect-uri',
        'https://spa.example.com/cb',
        '--web-origin',
        'https://admin.spa.example.com',
      ],
      { env },
    );
    const listed = await tessera(['client', 'list'], { env });
    expect(listed.stdout).toContain('  web_origins http://localhost:5173 https://app.example.com');
    expect(listed.stdout).toContain('  web_origins https://admin.spa.example.com');

    // Every rule is checked in-process (client_registration.test.ts); here, that it reaches the user.
    const refusals = await Promise.all([
      tessera(['client', 'update', 'web', '--web-origin', 'https://app.example.com/'], { env }),
      tessera(['client', 'update', 'web', '--web-origin', 'null'], { env }),
      tessera(['client', 'add', 'svc', '--kind', 'service', '--web-origin', 'https://app.example.com'], {
        env,
      }),
    ]);
    const messages = [
      'a web origin is written as browsers send it, without a path: "https://app.example.com", not "https://app.example.com/"',
      'the origin "null" (sandboxed frames, file: pages) names no one and cannot be registered',
      'a service client has no browser: it has no web origins',
    ];
    for (const [i, result] of refusals.entries()) expectUsageError(result, messages[i]!);

    // One empty value clears the list; nothing refused above changed it.
    const cleared = await tesseraJson<Record<string, unknown>>(
      ['client', 'update', 'web', '--web-origin', ''],
      {
        env,
      },
    );
    expect(cleared).toMatchObject({ webOrigins: [] });
  });

  it('sets a client’s token-exchange policy (RFC 8693), shows it, and refuses one a client cannot have', async () => {
    const { env } = await home();
    await tesseraJson(
      [
        'client',
        'add',
        'gateway',
        '--kind',
        'service',
        '--exchange-target',
        'https://orders.example.com',
        '--exchange-target',
        'urn:inventory',
        '--exchange-delegation',
      ],
      { env },
    );
    const listedJson = await tesseraJson<Record<string, unknown>[]>(['client', 'list'], { env });
    expect(listedJson.find((client) => client.clientId === 'gateway')?.tokenExchange).toEqual({
      targets: ['https://orders.example.com', 'urn:inventory'],
      delegation: true,
      impersonation: false,
    });
    const updated = await tesseraJson<Record<string, unknown>>(
      ['client', 'update', 'gateway', '--no-exchange-delegation', '--exchange-impersonation'],
      { env },
    );
    expect(updated.tokenExchange).toEqual({
      targets: ['https://orders.example.com', 'urn:inventory'],
      delegation: false,
      impersonation: true,
    });
    const listed = await tessera(['client', 'list'], { env });
    expect(listed.stdout).toContain(
      '  token_exchange https://orders.example.com urn:inventory +impersonation',
    );

    const refusals = await Promise.all([
      tessera(['client', 'add', 'mobile', '--kind', 'native', '--exchange-target', 'urn:inventory'], { env }),
      tessera(['client', 'add', 'svc', '--kind', 'service', '--exchange-delegation'], { env }),
      tessera(['client', 'update', 'gateway', '--exchange-delegation', '--no-exchange-delegation'], { env }),
    ]);
    const messages = [
      'only confidential clients may exchange tokens',
      'delegation and impersonation need token-exchange targets',
      'give --exchange-delegation or --no-exchange-delegation, not both',
    ];
    for (const [i, result] of refusals.entries()) expectUsageError(result, messages[i]!);
    // One empty value clears the targets, and with them the flags must go first.
    expectUsageError(
      await tessera(['client', 'update', 'gateway', '--exchange-target', ''], { env }),
      'delegation and impersonation need token-exchange targets',
    );
    const cleared = await tesseraJson<Record<string, unknown>>(
      ['client', 'update', 'gateway', '--exchange-target', '', '--no-exchange-impersonation'],
      { env },
    );
    expect(cleared.tokenExchange).toEqual({ targets: [], delegation: false, impersonation: false });
  });

  it('registers clients by kind, with redirect URIs, grant types, keys, lifetimes and resources', async () => {
    const { env } = await home();
    const dir = tempDir('tessera-keys-');
    const { publicKey, privateKey } = await generateKeyPair('ES256', { kid: 'svc-1' });
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [exportJwk(publicKey)] }));
    const privateFile = join(dir, 'private.json');
    const privateJwk = exportJwk(privateKey);
    writeFileSync(privateFile, JSON.stringify({ keys: [privateJwk] }));
    await tesseraJson(['resource', 'add', 'https://orders.example.com'], { env });

    const [spa, portal, svc] = await Promise.all([
      tesseraJson<Record<string, unknown>>(
        [
          'client',
          'add',
          'spa',
          '--kind',
          'spa',
          '--redirect-uri',
          'https://app.example.com/cb',
          '--redirect-uri',
          'http://127.0.0.1:5173/cb',
          '--post-logout-redirect-uri',
          'https://app.example.com/',
          '--access-token-ttl',
          '5m',
          '--refresh-token-ttl',
          '12h',
          '--resource',
          'https://orders.example.com',
          '--skip-consent',
        ],
        { env },
      ),
      tesseraJson<Record<string, unknown>>(
        [
          'client',
          'add',
          'portal',
          '--kind',
          'web',
          '--redirect-uri',
          'https://portal.example.com/cb',
          '--auth-method',
          'client_secret_post',
        ],
        { env },
      ),
      tesseraJson<Record<string, unknown>>(
        ['client', 'add', 'svc', '--kind', 'service', '--jwks-file', jwksFile, '--scope', 'orders:read'],
        { env },
      ),
    ]);
    // --type follows from --kind; each kind gets its grants and auth method, and a secret only if it uses one.
    expect(spa).toEqual({
      client_id: 'spa',
      type: 'public',
      kind: 'spa',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
    });
    expect(portal).toEqual({
      client_id: 'portal',
      type: 'confidential',
      kind: 'web',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      client_secret: expect.stringMatching(/^[\w-]{43}$/),
    });
    expect(svc).toEqual({
      client_id: 'svc',
      type: 'confidential',
      kind: 'service',
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
    });
    const portalSecret = portal.client_secret as string;

    const [json, text] = await Promise.all([
      tessera(['client', 'list', '--json'], { env }),
      tessera(['client', 'list'], { env }),
    ]);
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(listed.find((c) => c.clientId === 'spa')).toMatchObject({
      redirectUris: ['https://app.example.com/cb', 'http://127.0.0.1:5173/cb'],
      postLogoutRedirectUris: ['https://app.example.com/'],
      responseTypes: ['code'],
      accessTokenTtl: 300,
      refreshTokenTtl: 43_200,
      resources: ['https://orders.example.com'],
      skipConsent: true,
    });
    expect(listed.find((c) => c.clientId === 'svc')).toMatchObject({
      scopes: ['orders:read'],
      jwks: { keys: [exportJwk(publicKey)] },
    });
    expect(text.stdout).toContain(
      [
        'spa public aud=http://127.0.0.1:4000 (the server setting) scope="openid profile offline_access"',
        '  kind=spa auth=none grants=authorization_code,refresh_token skip-consent',
        '  redirect_uris https://app.example.com/cb http://127.0.0.1:5173/cb',
        '  post_logout_redirect_uris https://app.example.com/',
        '  resources https://orders.example.com',
        '  lifetimes access 5m, refresh 12h',
      ].join('\n'),
    );
    expect(text.stdout).toContain(
      'svc confidential aud=http://127.0.0.1:4000 (the server setting) scope="orders:read"\n  kind=service auth=private_key_jwt grants=client_credentials\n  jwks 1 public key',
    );
    for (const output of [json.stdout, text.stdout]) {
      expect(output).not.toContain(portalSecret);
      expect(output.replace(/client_secret_(basic|post)/g, '')).not.toMatch(/secret|hash/i);
    }

    const refusals = await Promise.all([
      tessera(['client', 'add', 'x', '--kind', 'spa', '--type', 'confidential'], { env }),
      tessera(['client', 'add', 'x', '--kind', 'desktop'], { env }),
      tessera(['client', 'add', 'x', '--scope', 'openid'], { env }),
      tessera(['client', 'add', 'x', '--kind', 'service', '--jwks-file', privateFile], { env }),
      tessera(['client', 'add', 'x', '--kind', 'spa', '--access-token-ttl', 'soon'], { env }),
      tessera(['client', 'add', 'x', '--kind', 'spa', '--access-token-ttl', '2d'], { env }),
      tessera(['client', 'add', 'x', '--kind', 'native', '--grant-type', 'implicit'], { env }),
      tessera(['client', 'add', 'x', '--kind', 'native', '--resource', 'https://unknown.example.com'], {
        env,
      }),
      tessera(['client', 'update', 'spa', '--kind', 'native'], { env }),
      tessera(['client', 'update', 'spa', '--redirect-uri', ''], { env }),
    ]);
    const messages = [
      'a spa client is public, not confidential',
      '--kind must be spa, native, web, service, got "desktop"',
      'give --kind spa|native|web|service, or --type public|confidential',
      'a client JWKS holds public keys only',
      "--access-token-ttl takes seconds or a span like '15m', '1h', '30d', got \"soon\"",
      'the access-token lifetime is 30–86400 seconds, got 172800',
      '--grant-type must be authorization_code, refresh_token, client_credentials, got "implicit"',
      'no such resource: https://unknown.example.com',
      '--kind is chosen when a client is added',
      'the authorization_code grant needs at least one redirect URI',
    ];
    for (const [i, result] of refusals.entries()) expectUsageError(result, messages[i]!);
    // Nothing of the private key is repeated.
    expect(refusals[3]!.stderr).not.toContain(privateJwk.d);

    // Update: a list replaces the list, "default" clears a lifetime, --no-skip-consent asks again.
    const updated = await tesseraJson<Record<string, unknown>>(
      [
        'client',
        'update',
        'spa',
        '--redirect-uri',
        'https://app.example.com/callback',
        '--access-token-ttl',
        'default',
        '--no-skip-consent',
        '--dpop-bound-access-tokens',
      ],
      { env },
    );
    expect(updated).toMatchObject({
      redirectUris: ['https://app.example.com/callback'],
      refreshTokenTtl: 43_200,
      skipConsent: false,
      // RFC 9449 §5.2: stored as the client's dpop_bound_access_tokens.
      dpopBoundAccessTokens: true,
    });
    expect(updated).not.toHaveProperty('accessTokenTtl');

    // To private_key_jwt: the secret goes. Back to a secret method: a new secret, printed once.
    const keyed = await tesseraJson<Record<string, unknown>>(
      [
        'client',
        'update',
        'portal',
        '--auth-method',
        'private_key_jwt',
        '--jwks-uri',
        'https://portal.example.com/jwks.json',
      ],
      { env },
    );
    expect(keyed).toMatchObject({
      tokenEndpointAuthMethod: 'private_key_jwt',
      jwksUri: 'https://portal.example.com/jwks.json',
    });
    expectUsageError(
      await tessera(['client', 'rotate-secret', 'portal'], { env }),
      'client "portal" authenticates with private_key_jwt: it has no secret',
    );
    const back = await tessera(['client', 'update', 'portal', '--auth-method', 'client_secret_basic'], {
      env,
    });
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(
      '  kind=web auth=client_secret_basic grants=authorization_code,refresh_token\n',
    );
    expect(back.stdout).not.toContain('jwks_uri');
    const newSecret = /^client_secret (\S+) \(shown once\)$/m.exec(back.stdout)?.[1];
    expect(newSecret).toMatch(/^[\w-]{43}$/);
    const services = await createServices(loadConfig({ ...env, TESSERA_LOG_LEVEL: 'silent' }));
    try {
      const client = (await services.clients.byId('portal'))!;
      expect(services.clients.verifySecret(client, newSecret!)).toBe(true);
      expect(services.clients.verifySecret(client, portalSecret)).toBe(false);
      const audited = (await services.audit.recent()).filter((row) => row.clientId === 'portal');
      expect(audited.map((row) => row.type).sort()).toEqual([
        'client_added',
        'client_secret_rotated',
        'client_updated',
        'client_updated',
      ]);
    } finally {
      await services.close();
    }
  });

  it('adds, lists and removes security event receivers; the bearer token from stdin is never printed', async () => {
    const { env } = await home();
    const token = 'receiver-token-7Qw2xZ9kLm';
    const added = await tesseraJson<{ name: string; hasBearerToken: boolean; events: string[] }>(
      [
        'receiver',
        'add',
        'hr',
        '--endpoint',
        'https://hr.example.com/events',
        '--audience',
        'https://hr.example.com',
        '--event',
        'account-disabled',
        '--bearer-token-stdin',
      ],
      { env, input: `${token}\n` },
    );
    expect(added).toMatchObject({ name: 'hr', hasBearerToken: true, events: ['account-disabled'] });
    expect(JSON.stringify(added)).not.toContain(token);
    const listed = await tessera(['receiver', 'list'], { env });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('hr https://hr.example.com/events aud=https://hr.example.com');
    expect(listed.stdout).not.toContain(token);
    expectUsageError(
      await tessera(['receiver', 'add', 'x', '--endpoint', 'http://hr.example.com/e', '--audience', 'a'], {
        env,
      }),
      /https \(http only on a loopback host\)/,
    );
    expectUsageError(
      await tessera(
        [
          'receiver',
          'add',
          'y',
          '--endpoint',
          'https://h.example/e',
          '--audience',
          'a',
          '--bearer-token-stdin',
        ],
        { env, input: '' },
      ),
      /nothing was read from standard input/,
    );
    expect((await tessera(['receiver', 'remove', 'hr'], { env })).code).toBe(0);
    expectUsageError(await tessera(['receiver', 'remove', 'hr'], { env }), /no receiver "hr"/);
  });

  it('adds, lists and removes resources; an encrypted one takes a public key only', async () => {
    const { env } = await home();
    const dir = tempDir('tessera-keys-');
    const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256', { kid: 'orders-enc' });
    const publicFile = join(dir, 'public.json');
    writeFileSync(publicFile, JSON.stringify(exportJwk(publicKey)));
    const privateFile = join(dir, 'private.json');
    const privateJwk = exportJwk(privateKey);
    writeFileSync(privateFile, JSON.stringify(privateJwk));

    const [catalog, orders] = await Promise.all([
      tesseraJson(
        ['resource', 'add', 'https://catalog.example.com', '--name', 'Catalog', '--access-token-ttl', '5m'],
        { env },
      ),
      tesseraJson(
        [
          'resource',
          'add',
          'https://orders.example.com',
          '--audience',
          'orders',
          '--encryption-key-file',
          publicFile,
        ],
        { env },
      ),
    ]);
    expect(catalog).toEqual({
      resource: 'https://catalog.example.com',
      name: 'Catalog',
      audience: 'https://catalog.example.com',
      accessTokenTtl: 300,
      accessTokenFormat: 'jwt',
    });
    // A key file means format jwe.
    expect(orders).toMatchObject({
      audience: 'orders',
      accessTokenFormat: 'jwe',
      encryptionJwk: exportJwk(publicKey),
    });

    const refusals = await Promise.all([
      tessera(['resource', 'add', 'https://keys.example.com', '--encryption-key-file', privateFile], { env }),
      tessera(['resource', 'add', 'https://keys.example.com', '--format', 'jwe'], { env }),
      tessera(['resource', 'add', 'orders'], { env }),
      tessera(['resource', 'add', 'https://catalog.example.com'], { env }),
      tessera(['resource', 'add', 'https://keys.example.com', '--audience', 'a', '--audience', 'b'], { env }),
      tessera(['resource', 'remove', 'https://nowhere.example.com'], { env }),
    ]);
    const messages = [
      "a resource's encryption key is its public key only",
      "format jwe needs the resource's public encryption key",
      'a resource is an absolute URI (RFC 8707 §2), got "orders"',
      'resource "https://catalog.example.com" already exists (remove it first)',
      'a resource has one --audience',
      'no resource "https://nowhere.example.com"',
    ];
    for (const [i, result] of refusals.entries()) expectUsageError(result, messages[i]!);
    expect(refusals[0]!.stderr).not.toContain(privateJwk.d);

    const text = await tessera(['resource', 'list'], { env });
    expect(text.code).toBe(0);
    // Added at once, so in either order.
    expect(text.stdout.split('\n').sort()).toEqual([
      '',
      'https://catalog.example.com aud=https://catalog.example.com format=jwt access=5m "Catalog"',
      'https://orders.example.com aud=orders format=jwe key=RSA:orders-enc',
    ]);

    // Clients naming a removed resource are named, so they can be updated.
    await tesseraJson(['client', 'add', 'app', '--kind', 'spa', '--resource', 'https://orders.example.com'], {
      env,
    });
    const removed = await tessera(['resource', 'remove', 'https://orders.example.com'], { env });
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe('removed resource https://orders.example.com\n');
    expect(removed.stderr).toContain('app still names it');
    const left = await tesseraJson<{ resource: string }[]>(['resource', 'list'], { env });
    expect(left.map((r) => r.resource)).toEqual(['https://catalog.example.com']);

    const services = await createServices(loadConfig({ ...env, TESSERA_LOG_LEVEL: 'silent' }));
    try {
      const audited = (await services.audit.recent()).filter((row) => row.type.startsWith('resource_'));
      expect(audited.map((row) => [row.type, row.detail.resource]).sort()).toEqual([
        ['resource_added', 'https://catalog.example.com'],
        ['resource_added', 'https://orders.example.com'],
        ['resource_removed', 'https://orders.example.com'],
      ]);
      expect(audited.find((row) => row.type === 'resource_removed')?.detail.clients).toEqual(['app']);
    } finally {
      await services.close();
    }
  });

  it("keeps users' names and email addresses, verified only when said so", async () => {
    const { env } = await home();
    const added = await tessera(
      ['user', 'add', 'frank', '--name', 'Frank Castle', '--email', 'frank@example.com', '--email-verified'],
      { env },
    );
    expect(added.code, added.stderr).toBe(0);
    const listed = await tessera(['user', 'list'], { env });
    expect(listed.stdout).toMatch(
      /^active {3}frank usr_\S+ {2}"Frank Castle" <frank@example\.com> \(verified\)\n$/,
    );

    type Row = { username: string; profile: Record<string, unknown> };
    const profile = async () =>
      (await tesseraJson<Row[]>(['user', 'list'], { env })).find((u) => u.username === 'frank')?.profile;
    expect(await profile()).toEqual({
      name: 'Frank Castle',
      email: 'frank@example.com',
      emailVerified: true,
    });

    // Another address is unverified until said otherwise.
    const moved = await tesseraJson(['user', 'update', 'frank', '--email', 'frank@new.example.com'], { env });
    expect(moved).toMatchObject({
      username: 'frank',
      profile: { name: 'Frank Castle', email: 'frank@new.example.com', emailVerified: false },
    });
    const verified = await tessera(['user', 'update', 'frank', '--email-verified'], { env });
    expect(verified).toEqual({
      code: 0,
      stdout: 'updated frank "Frank Castle" <frank@new.example.com> (verified)\n',
      stderr: '',
    });
    // An empty value removes a claim.
    const cleared = await tesseraJson(['user', 'update', 'frank', '--name', '', '--email', ''], { env });
    expect(cleared).toMatchObject({ profile: { emailVerified: false } });
    expect(await profile()).toEqual({ emailVerified: false });

    const refusals = await Promise.all([
      tessera(['user', 'update', 'frank'], { env }),
      tessera(['user', 'update', 'frank', '--email', 'not an address'], { env }),
      tessera(['user', 'update', 'frank', '--email-verified'], { env }),
      tessera(['user', 'update', 'frank', '--email-verified', '--no-email-verified'], { env }),
      tessera(['user', 'add', 'gina', '--email-verified'], { env }),
      tessera(['user', 'update', 'nobody', '--name', 'No One'], { env }),
    ]);
    const messages = [
      'nothing to change: give --name, --email, --email-verified or --no-email-verified',
      'not an email address: "not an address"',
      'an email can be verified only once the user has one',
      'give --email-verified or --no-email-verified, not both',
      '--email-verified needs --email',
      'no user "nobody"',
    ];
    for (const [i, result] of refusals.entries()) expectUsageError(result, messages[i]!);
  });

  it('lists signing keys and rotates them', async () => {
    const { env } = await home();
    type Key = { kid: string; alg: string; state: string; expiresAt: number | null };
    const before = await tesseraJson<Key[]>(['keys', 'list'], { env });
    // Access tokens' keys (ES256) first, then the ID tokens' (RS256).
    expect(before.map((k) => [k.state, k.alg])).toEqual([
      ['current', 'ES256'],
      ['next', 'ES256'],
      ['current', 'RS256'],
      ['next', 'RS256'],
    ]);
    for (const key of before) {
      expect(Object.keys(key).sort()).toEqual(
        ['activatedAt', 'alg', 'createdAt', 'expiresAt', 'kid', 'retiredAt', 'state'].sort(),
      );
    }
    const [current, next, idCurrent, idNext] = before as [Key, Key, Key, Key];

    // A rotation right after the keys were made is refused (verifiers may not hold the next key yet).
    const early = await tessera(['keys', 'rotate'], { env });
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^error: the next (ES256|RS256) key \S+ was published too recently/);
    expect(early.stderr).not.toMatch(STACK_TRACE);
    await backdateNextKey(env);
    const rotated = await tessera(['keys', 'rotate'], { env });
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(
      new RegExp(`^retired\\s+ES256\\s+${current.kid} created .* published until `, 'm'),
    );
    expect(rotated.stdout).toMatch(/^ES256 \(access tokens\)$/m);
    expect(rotated.stdout).toMatch(/^RS256 \(ID tokens\)$/m);

    const after = await tesseraJson<Key[]>(['keys', 'list'], { env });
    const byKid = new Map(after.map((k) => [k.kid, k]));
    // Both algorithms rotated together.
    expect(after).toHaveLength(6);
    for (const [was, then] of [
      [current, next],
      [idCurrent, idNext],
    ]) {
      expect(byKid.get(was!.kid)?.state).toBe('retired');
      expect(byKid.get(was!.kid)?.expiresAt).toEqual(expect.any(Number));
      expect(byKid.get(then!.kid)?.state).toBe('current');
    }
    expect(after.filter((k) => k.state === 'next').map((k) => k.alg)).toEqual(['ES256', 'RS256']);

    // --alg rotates one algorithm; one the server does not sign with is a usage error.
    const unknown = await tessera(['keys', 'rotate', '--alg', 'PS256'], { env });
    expectUsageError(unknown, 'this server signs with ES256 and RS256, not "PS256"');
  });

  it('signs, verifies and decodes access tokens', async () => {
    const { env } = await home();
    const alice = await tesseraJson<{ id: string }>(['user', 'add', 'alice', '--password-stdin'], {
      env,
      input: 'alice has a long password\n',
    });
    const signed = await tesseraJson<{ access_token: string; expires_in: number }>(
      ['token', 'sign', '--sub', alice.id, '--scope', 'read write'],
      { env },
    );
    expect(signed.expires_in).toBe(900);
    const token = signed.access_token;
    // By username too; exactly one of --user and --sub.
    const [byName, neither, both, nobody] = await Promise.all([
      tesseraJson<{ access_token: string }>(['token', 'sign', '--user', 'alice'], { env }),
      tessera(['token', 'sign'], { env }),
      tessera(['token', 'sign', '--user', 'alice', '--sub', alice.id], { env }),
      tessera(['token', 'sign', '--user', 'nobody'], { env }),
    ]);
    expect(decodeJwtUnverified(byName.access_token).sub).toBe(alice.id);
    expectUsageError(neither, 'tessera token sign needs --user <username> or --sub <user id>');
    expectUsageError(both, 'tessera token sign needs --user <username> or --sub <user id>');
    expectUsageError(nobody, 'no user "nobody"');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const i = Math.floor(signature.length / 2);
    const tampered = `${header}.${payload}.${signature.slice(0, i)}${signature[i] === 'A' ? 'B' : 'A'}${signature.slice(i + 1)}`;
    const [valid, badSignature, badText, decoded, decodedJson] = await Promise.all([
      tessera(['token', 'verify', token, '--json'], { env }),
      tessera(['token', 'verify', tampered, '--json'], { env }),
      tessera(['token', 'verify', tampered], { env }),
      tessera(['token', 'decode', token], { env }),
      tessera(['token', 'decode', token, '--json'], { env }),
    ]);

    expect(valid.code).toBe(0);
    expect(valid.stderr).toBe('');
    const verified = JSON.parse(valid.stdout);
    expect(verified).toMatchObject({
      valid: true,
      revoked: false,
      header: { alg: 'ES256', typ: 'at+jwt' },
      payload: { sub: alice.id, iss: 'http://127.0.0.1:4000', scope: 'read write' },
    });
    expect(badSignature.code).toBe(1);
    expect(JSON.parse(badSignature.stdout)).toEqual({
      valid: false,
      code: expect.stringMatching(/^ERR_[A-Z_]+$/),
      message: expect.any(String),
    });
    expect(badText.code).toBe(1);
    expect(badText.stdout).toBe('');
    expect(badText.stderr).toMatch(/^invalid: ERR_[A-Z_]+ /);

    expect(decoded.code).toBe(0);
    expect(decoded.stderr).toBe('not verified: this only shows what the token says\n');
    expect(JSON.parse(decoded.stdout)).toEqual({ header: verified.header, payload: verified.payload });
    expect(decodedJson.code).toBe(0);
    expect(decodedJson.stderr).toBe('');
    expect(JSON.parse(decodedJson.stdout)).toEqual({ header: verified.header, payload: verified.payload });

    // Disabling the user revokes the token it had.
    expect((await tessera(['user', 'disable', 'alice'], { env })).code).toBe(0);
    const revoked = await tessera(['token', 'verify', token, '--json'], { env });
    expect(revoked.code).toBe(1);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ valid: false, revoked: true });
  });

  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8')) as {
      version: string;
    };
    // Even with a bad setting: --version reads none.
    const [text, json, short] = await Promise.all([
      tessera(['--version'], { env: { TESSERA_PORT: 'not-a-port' } }),
      tessera(['--version', '--json']),
      tessera(['-v']),
    ]);
    expect(text).toEqual({ code: 0, stdout: `tessera ${version}\n`, stderr: '' });
    expect(JSON.parse(json.stdout)).toEqual({ version });
    expect(short.stdout).toBe(`tessera ${version}\n`);
  });

  it('serve --print-config shows what each flag set, secrets redacted, and creates nothing', async () => {
    const me = await home({ store: false });
    const dataDir = join(me.dataDir, 'fresh');
    const printed = await tesseraJson<Record<string, unknown>>(
      [
        'serve',
        '--print-config',
        '--data-dir',
        dataDir,
        '--port',
        '4321',
        '--redis-url',
        'redis://cache.example.com:6380',
        '--redis-prefix',
        'auth:',
        '--audience',
        'https://api.example.com',
        '--trust-proxy',
        '10.0.0.0/8',
        '--headers-timeout',
        '5s',
        '--request-timeout',
        '1m',
        '--metrics-port',
        '9464',
        '--revocation-stream-public',
        'true',
        '--revocation-rate-user',
        '10',
        '--audit-retention',
        '30d',
      ],
      { env: { ...me.env, TESSERA_METRICS_TOKEN: 'm'.repeat(40) } },
    );
    expect(printed).toMatchObject({
      dataDir,
      port: 4321,
      issuer: 'http://127.0.0.1:4321',
      redisUrl: '[redacted]',
      redisPrefix: 'auth:',
      audience: 'https://api.example.com',
      trustProxy: '10.0.0.0/8',
      headersTimeout: 5,
      requestTimeout: 60,
      metricsPort: 9464,
      revocationStreamPublic: 'true',
      revocationRateUser: 10,
      auditRetention: 2_592_000,
      masterKey: '[redacted]',
      metricsToken: '[redacted]',
    });
    expect(JSON.stringify(printed)).not.toContain(me.masterKey);
    expect(existsSync(dataDir)).toBe(false);
    expect(await storeContents(me)).toEqual([]);
  });

  it('refuses to create a data directory or master key anywhere but in serve', async () => {
    const me = await home({ store: false });
    const missing = join(me.dataDir, 'typo');
    const env = { ...me.env, TESSERA_DATA_DIR: missing };
    const results = await Promise.all([
      tessera(['user', 'list'], { env }),
      tessera(['user', 'add', 'bob', '--password-stdin'], { env, input: 'bob has a long password\n' }),
      tessera(['client', 'add', 'app', '--type', 'public'], { env }),
      tessera(['keys', 'rotate'], { env }),
      tessera(['token', 'sign', '--user', 'bob'], { env }),
    ]);
    for (const result of results) {
      if (me.databaseUrl) {
        // PostgreSQL holds the store: a database the server never ran on is not one, and is left alone.
        const { host, pathname } = new URL(me.databaseUrl);
        expectUsageError(
          result,
          `error: no Tessera store in the PostgreSQL database ${host}${pathname}: start the server on it first (tessera serve), or check --database-url or DATABASE_URL\n`,
        );
      } else {
        expectUsageError(
          result,
          `error: no Tessera data directory at ${missing}: start the server there first (tessera serve), or point --data-dir or TESSERA_DATA_DIR at the server's\n`,
        );
      }
    }
    expect(existsSync(missing)).toBe(false);
    expect(await storeContents(me)).toEqual([]);

    // An installation whose master key the command is not given: refused, nothing written.
    const installed = await home();
    const { TESSERA_MASTER_KEY: _, ...withoutKey } = installed.env;
    const noKey = await tessera(['user', 'list'], { env: withoutKey });
    expectUsageError(noKey, /^error: no master key: set TESSERA_MASTER_KEY to the server's/);
    expect(existsSync(join(installed.dataDir, 'master.key'))).toBe(false);
  });

  it('enables, deletes users and sets their roles and permissions; a removed grant ends their sessions', async () => {
    const { env } = await home();
    const added = await tessera(['user', 'add', 'erin', '--password-stdin', '--role', 'admin'], {
      env,
      input: 'erin has a long password\n',
    });
    expect(added.code, added.stderr).toBe(0);
    type Row = {
      username: string;
      disabled: boolean;
      roles: string[];
      permissions: string[];
      tokenVersion: number;
    };
    const erin = async () =>
      (await tesseraJson<Row[]>(['user', 'list'], { env })).find((u) => u.username === 'erin');
    const sign = async () =>
      (await tesseraJson<{ access_token: string }>(['token', 'sign', '--user', 'erin'], { env }))
        .access_token;
    const revoked = async (token: string) => {
      const result = await tessera(['token', 'verify', token, '--json'], { env });
      return (JSON.parse(result.stdout) as { revoked: boolean }).revoked;
    };

    // Adding grants ends nothing: the next token carries them.
    const before = await sign();
    const granted = await tesseraJson(['user', 'set-roles', 'erin', 'admin', 'support'], { env });
    expect(granted).toEqual({ id: expect.any(String), roles: ['admin', 'support'], sessionsEnded: false });
    expect(await erin()).toMatchObject({ roles: ['admin', 'support'], tokenVersion: 0 });
    expect(await revoked(before)).toBe(false);

    // Removing one ends every session: no token may keep the role.
    const text = await tessera(['user', 'set-roles', 'erin', 'support'], { env });
    expect(text).toEqual({
      code: 0,
      stdout: 'roles set for erin: support; removed admin, every session ended\n',
      stderr: '',
    });
    expect(await erin()).toMatchObject({ roles: ['support'], tokenVersion: 1 });
    expect(await revoked(before)).toBe(true);

    const permissions = await tesseraJson(
      ['user', 'set-permissions', 'erin', 'orders:read', 'orders:write'],
      {
        env,
      },
    );
    expect(permissions).toMatchObject({ permissions: ['orders:read', 'orders:write'], sessionsEnded: false });
    const cleared = await tesseraJson(['user', 'set-permissions', 'erin'], { env });
    expect(cleared).toMatchObject({ permissions: [], sessionsEnded: true });
    const [badName, noUser] = await Promise.all([
      tessera(['user', 'set-roles', 'erin', 'two words'], { env }),
      tessera(['user', 'set-roles', 'nobody', 'admin'], { env }),
    ]);
    expectUsageError(
      badName,
      'role names are 1–128 printable ASCII characters without spaces, got "two words"',
    );
    expectUsageError(noUser, 'no user "nobody"');

    // Disabled, then enabled: a token from before stays revoked (disabling raised the version).
    const beforeDisable = await sign();
    expect((await tessera(['user', 'disable', 'erin'], { env })).code).toBe(0);
    const enabled = await tessera(['user', 'enable', 'erin'], { env });
    expect(enabled).toEqual({ code: 0, stdout: 'enabled erin\n', stderr: '' });
    expect(await erin()).toMatchObject({ disabled: false });
    expect(await revoked(beforeDisable)).toBe(true);
    expect(await revoked(await sign())).toBe(false);

    // Deleted: gone from the list, every token of the account revoked; a second delete finds no one.
    const beforeDelete = await sign();
    const deleted = await tessera(['user', 'delete', 'erin'], { env });
    expect(deleted).toEqual({ code: 0, stdout: 'deleted erin; every session ended\n', stderr: '' });
    expect(await erin()).toBeUndefined();
    expect(await revoked(beforeDelete)).toBe(true);
    expectUsageError(await tessera(['user', 'delete', 'erin'], { env }), 'no user "erin"');
  });

  it('changes a password only from stdin or with an explicit --generate, never silently', async () => {
    const me = await home();
    const { env } = me;
    const original = 'frank has a long password';
    await tesseraJson(['user', 'add', 'frank', '--password-stdin'], { env, input: original });
    const [bare, both] = await Promise.all([
      tessera(['user', 'set-password', 'frank'], { env }),
      tessera(['user', 'set-password', 'frank', '--password-stdin', '--generate'], { env, input: 'x' }),
    ]);
    for (const refused of [bare, both])
      expectUsageError(
        refused,
        'error: tessera user set-password needs --password-stdin (the new password on standard input) or --generate (a random one, printed once)\n',
      );
    expect((await verifyPassword(await passwordHashOf(me, 'frank'), original)).ok).toBe(true);

    const generated = await tessera(['user', 'set-password', 'frank', '--generate'], { env });
    expect(generated.code).toBe(0);
    const shown = /^password (\S+) \(shown once\)$/m.exec(generated.stdout)?.[1];
    expect(shown).toMatch(/^[\w-]{24}$/);
    expect((await verifyPassword(await passwordHashOf(me, 'frank'), shown!)).ok).toBe(true);
  });

  it('revokes a signing key by kid', async () => {
    const { env } = await home();
    type Key = { kid: string; alg: string; state: string };
    const [current] = await tesseraJson<Key[]>(['keys', 'list'], { env });
    // A kid is a base64url thumbprint and may begin with "-"; after `--` it is never read as an option.
    const revoking = await tessera(['keys', 'revoke', '--json', '--', current!.kid], { env });
    expect(revoking.code, revoking.stderr).toBe(0);
    const revoked = JSON.parse(revoking.stdout) as Key[];
    expect(revoked.find((k) => k.kid === current!.kid)?.state).toBe('revoked');
    // Its algorithm's next key signs now; the other algorithm's keys are untouched.
    expect(revoked.filter((k) => k.state === 'current').map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    const [unknown, missing] = await Promise.all([
      tessera(['keys', 'revoke', 'no-such-kid'], { env }),
      tessera(['keys', 'revoke'], { env }),
    ]);
    expectUsageError(unknown, 'no published signing key has kid "no-such-kid"');
    expectUsageError(missing, 'a kid is required: tessera keys revoke <kid>');
  });

  it('reseals secrets under a new master key, after which the old one can leave the keyring', async () => {
    const me = await home();
    const next = randomBytes(32).toString('base64url');
    const newKeyOnly = { ...me.env, TESSERA_MASTER_KEY: next };
    const early = await tessera(['keys', 'list'], { env: newKeyOnly });
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(
      /^error: cannot open signing key \S+: it was sealed under a different master key .*TESSERA_MASTER_KEYRING\n$/,
    );
    expect(early.stderr).not.toMatch(STACK_TRACE);

    const report = await tesseraJson(['keys', 'reseal'], {
      env: { ...newKeyOnly, TESSERA_MASTER_KEYRING: me.masterKey },
    });
    expect(report).toEqual({
      keyId: expect.any(String),
      signingKeys: 4,
      refreshSuccessors: 0,
      receiverTokens: 0,
    });
    const after = await tessera(['keys', 'list'], { env: newKeyOnly });
    expect(after.code, after.stderr).toBe(0);
    for (const output of [early, after]) expect(output.stdout + output.stderr).not.toContain(next);
  });

  it('mints tokens only for enabled users, each in a session of its own that /logout ends, audited', async () => {
    const { env } = await home();
    const quiet = { ...env, TESSERA_LOG_LEVEL: 'silent' };
    const bob = await tesseraJson<{ id: string }>(['user', 'add', 'bob', '--password-stdin'], {
      env,
      input: 'bob has a long password',
    });
    const { access_token: token } = await tesseraJson<{ access_token: string }>(
      ['token', 'sign', '--user', 'bob', '--scope', 'orders:read'],
      { env },
    );
    const claims = decodeJwtUnverified(token);
    expect(claims).toMatchObject({ sub: bob.id, client_id: 'tessera-cli', scope: 'orders:read' });
    expect(claims.sid).toMatch(/^sid_[\da-f-]{36}$/);

    const minted = async () => {
      const services = await createServices(loadConfig(quiet));
      try {
        return (await services.audit.recent()).filter((row) => row.type === 'token_minted');
      } finally {
        await services.close();
      }
    };
    const rows = await minted();
    expect(rows).toEqual([
      {
        type: 'token_minted',
        userId: bob.id,
        clientId: 'tessera-cli',
        ip: null,
        detail: {
          mintedBy: expect.stringMatching(/^.+@.+$/),
          jti: claims.jti,
          sid: claims.sid,
          scope: 'orders:read',
          aud: ['http://127.0.0.1:4000'],
          exp: claims.exp,
        },
        createdAt: expect.any(Number),
      },
    ]);
    // The audit row says which token, never the token (nor its signature).
    expect(JSON.stringify(rows)).not.toContain(token.split('.')[2]);

    // The session is real: /logout with the token ends it, and the server refuses the token after.
    const server = await createTesseraServer(loadConfig(quiet), { logger: false });
    try {
      const headers = { authorization: `Bearer ${token}` };
      expect((await server.app.inject({ method: 'GET', url: '/userinfo', headers })).statusCode).toBe(200);
      expect((await server.app.inject({ method: 'POST', url: '/logout', headers })).statusCode).toBe(204);
      expect((await server.app.inject({ method: 'GET', url: '/userinfo', headers })).statusCode).toBe(401);
    } finally {
      await server.close();
    }
    const verified = await tessera(['token', 'verify', token, '--json'], { env });
    expect(JSON.parse(verified.stdout)).toMatchObject({ valid: false, revoked: true });

    // A disabled user gets no token, and nothing is audited as minted.
    expect((await tessera(['user', 'disable', 'bob'], { env })).code).toBe(0);
    const [disabled, badScope] = await Promise.all([
      tessera(['token', 'sign', '--user', 'bob'], { env }),
      tessera(['token', 'sign', '--user', 'bob', '--scope', 'a"b'], { env }),
    ]);
    expectUsageError(disabled, 'error: user "bob" is disabled: no token is minted for it\n');
    expectUsageError(badScope, 'RFC 6749 §3.3');
    expect(await minted()).toHaveLength(1);
  });

  it('generates signing keys and master keys', async () => {
    const [es256, master, noAlg, hs256] = await Promise.all([
      tessera(['keygen', '--alg', 'ES256', '--json']),
      tessera(['keygen', '--master']),
      tessera(['keygen']),
      tessera(['keygen', '--alg', 'HS256']),
    ]);
    expect(es256.code).toBe(0);
    const { jwk, pem } = JSON.parse(es256.stdout) as { jwk: Record<string, string>; pem: string };
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(jwk.d).toMatch(/^[\w-]{43}$/);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
    // The PEM and the JWK are the same key.
    expect(createPrivateKey(pem).export({ format: 'jwk' })).toMatchObject({ d: jwk.d, x: jwk.x, y: jwk.y });

    expect(master.code).toBe(0);
    expect(master.stdout).toMatch(/^TESSERA_MASTER_KEY=[\w-]{43}\n$/);
    const value = master.stdout.trim().split('=')[1]!;
    expect(Buffer.from(value, 'base64url')).toHaveLength(32);

    expectUsageError(noAlg, '--alg is required');
    expect(hs256.code).toBe(1);
    expect(hs256.stderr).toMatch(/^error: ERR_JOSE_NOT_SUPPORTED: /);
  });

  it('fails on a busy port with one line, before creating the data directory, admin or keys', async () => {
    const me = await home({ store: false });
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as { port: number }).port;
      const dataDir = join(me.dataDir, 'fresh');
      const result = await tessera(['serve', '--port', String(port)], {
        env: { ...me.env, TESSERA_DATA_DIR: dataDir },
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `error: cannot listen on 127.0.0.1:${port}: the port is in use (another server running? choose one with --port or TESSERA_PORT)\n`,
      );
      expect(existsSync(dataDir)).toBe(false);
      // Nor the database, on PostgreSQL: no migrations, no admin, no keys.
      expect(await storeContents(me)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('serves: prints the admin password once, the issuer and JWKS, answers, stops on SIGTERM', async () => {
    const { env } = await home({ store: false });
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;

    const first = await serve(env, port);
    try {
      const password = /^created user admin with password (\S+) {2}\(shown once\)$/m.exec(
        first.stdout(),
      )?.[1];
      expect(password).toMatch(/^[\w-]{24}$/);
      const banner = first.stdout();
      expect(banner).toContain(`  issuer  ${issuer}\n`);
      expect(banner).toContain(`  jwks    ${issuer}/.well-known/jwks.json\n`);
      expect(banner).toContain(`  listen  ${issuer}\n`);
      expect(banner).toContain(`  log in  curl -s ${issuer}/login -H 'content-type: application/json'`);
      expect(banner).toMatch(/^configuration \{.*"port":\d+.*\}$/m);
      expect(banner).not.toContain(env.TESSERA_MASTER_KEY);

      const health = await fetch(`${issuer}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
      // A current and a next key for access tokens (ES256) and for ID tokens (RS256).
      expect(jwks.keys).toHaveLength(4);
      // The printed password logs in.
      const login = await fetch(`${issuer}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password }),
      });
      expect(login.status).toBe(200);

      expect(await first.stop()).toEqual({ code: 0, signal: null });
      const all = first.stdout() + first.stderr();
      expect(all.split(password!).length - 1).toBe(1);
      expect(all).not.toContain(env.TESSERA_MASTER_KEY);
      expect(first.stderr()).not.toContain('WARNING');
      expect(all).not.toMatch(ANSI);
    } finally {
      first.kill();
    }

    const second = await serve(env, port);
    try {
      expect(second.stdout()).toContain('Tessera is running');
      expect(second.stdout()).not.toMatch(/created user|with password|shown once/);
      expect((await fetch(`${issuer}/healthz`)).status).toBe(200);
      expect(await second.stop()).toEqual({ code: 0, signal: null });
      expect(second.stdout() + second.stderr()).not.toMatch(ANSI);
    } finally {
      second.kill();
    }
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface Serving {
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running (cleanup after a failure). */
  kill(): void;
}

/** Starts `tessera serve` and resolves once it says it is running (and has printed its banner). */
async function serve(env: Record<string, string>, port: number): Promise<Serving> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', String(port)], {
    cwd: tempDir('tessera-cwd-'),
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stdout}${stderr}`)), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (/Tessera is running[\s\S]*\n {2}log in .*\n/.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    void exited.then((status) => {
      clearTimeout(timer);
      reject(new Error(`serve exited early (${JSON.stringify(status)}): ${stdout}${stderr}`));
    });
  });
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Makes the store's next key look published long enough ago for a rotation to promote it. */
async function backdateNextKey(env: Record<string, string>): Promise<void> {
  const services = await createServices(loadConfig(env));
  try {
    await services.db
      .updateTable('signing_keys')
      .set({ created_at: Date.now() - publishedLongEnough(services.config) })
      .where('state', '=', 'next')
      .execute();
  } finally {
    await services.close();
  }
}
