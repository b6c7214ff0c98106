/**
 * The command line's settings come from the one settings table in config.ts: every setting that has
 * a flag is an option of `tessera`, reaches the configuration, and is explained in `--help`.
 * In-process (the parser and loadConfig, as the bin runs them); cli.test.ts runs the bin itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOptions, parseCommandLine, settingFlags } from '../src/cli/args.js';
import { settingsHelp } from '../src/cli/help.js';
import { COMMANDS } from '../src/cli/main.js';
import { type Config, loadConfig, SETTINGS } from '../src/config.js';
import { ROOT } from './build.js';

/**
 * A valid value other than the default for every setting with a flag, and what the configuration
 * then holds. A setting added to the table without a line here fails the first test below.
 */
const SAMPLES: Record<string, [flagValue: string, expected: unknown]> = {
  host: ['0.0.0.0', '0.0.0.0'],
  port: ['4321', 4321],
  issuer: ['https://auth.example.com/', 'https://auth.example.com'],
  dataDir: ['/var/lib/tessera', '/var/lib/tessera'],
  databaseUrl: ['postgres://db.example.com/tessera', 'postgres://db.example.com/tessera'],
  redisUrl: ['redis://cache.example.com:6380', 'redis://cache.example.com:6380'],
  redisPrefix: ['auth:', 'auth:'],
  revocationBroker: ['amqps://mq.example.com?stream=auth', 'amqps://mq.example.com?stream=auth'],
  audience: ['https://api.example.com', 'https://api.example.com'],
  signingAlg: ['EdDSA', 'EdDSA'],
  idTokenSigningAlg: ['ES384', 'ES384'],
  accessTokenTtl: ['5m', 300],
  idTokenTtl: ['30m', 1800],
  ssoSessionTtl: ['12h', 43_200],
  refreshIdleTtl: ['2d', 172_800],
  refreshAbsoluteTtl: ['20d', 1_728_000],
  refreshGrace: ['10s', 10],
  dpopNonce: ['false', false],
  keyRotationInterval: ['7d', 604_800],
  logLevel: ['debug', 'debug'],
  trustProxy: ['10.0.0.0/8, ::1', ['10.0.0.0/8', '::1']],
  headersTimeout: ['5s', 5],
  requestTimeout: ['1m', 60],
  revocationStreamPublic: ['true', true],
  deliveryAllowPrivateNetworks: ['true', true],
  maxRevocationStreams: ['50', 50],
  maxRevocationStreamsPerAddress: ['4', 4],
  metricsPort: ['9464', 9464],
  metricsHost: ['0.0.0.0', '0.0.0.0'],
  revocationRateUser: ['10', 10],
  revocationRateClient: ['100', 100],
  auditRetention: ['30d', 2_592_000],
  auditUsernameRetention: ['1d', 86_400],
  webOrigins: [
    'http://localhost:5173,https://app.example.com',
    ['http://localhost:5173', 'https://app.example.com'],
  ],
};

const serve = COMMANDS.find((command) => command.name === 'serve')!;
const client = COMMANDS.find((command) => command.name === 'client')!;
const flagged = (Object.entries(SETTINGS) as [keyof Config, (typeof SETTINGS)[keyof Config]][]).filter(
  ([, setting]) => setting.flag !== undefined,
);

/** The configuration `tessera <argv>` would run with, given an empty environment. */
function configOf(argv: string[]): Config {
  const line = parseCommandLine(argv, COMMANDS);
  const command = COMMANDS.find((candidate) => candidate.name === line.command)!;
  checkOptions(line, command);
  return loadConfig({}, settingFlags(line.values, command));
}

describe('settings on the command line', () => {
  it('has a test value for every setting with a flag', () => {
    expect(flagged.map(([key]) => key).sort()).toEqual(Object.keys(SAMPLES).sort());
  });

  it("passes every setting's flag, alone, to the configuration", () => {
    for (const [key, setting] of flagged) {
      const [value, expected] = SAMPLES[key]!;
      expect(configOf(['serve', `--${setting.flag}`, value])[key], `--${setting.flag}`).toEqual(expected);
      // The same flag given to a command that opens the store (before the command, too).
      expect(configOf([`--${setting.flag}=${value}`, 'keys', 'list'])[key], `--${setting.flag}`).toEqual(
        expected,
      );
    }
  });

  it('passes every flag at once, each to its own setting', () => {
    const argv = ['serve', ...flagged.flatMap(([key, setting]) => [`--${setting.flag}`, SAMPLES[key]![0]])];
    const config = configOf(argv);
    for (const [key] of flagged) expect(config[key], key).toEqual(SAMPLES[key]![1]);
  });

  it('prefers a flag to the environment, and the environment to the default', () => {
    const line = parseCommandLine(['serve', '--port', '4001'], COMMANDS);
    const flags = settingFlags(line.values, serve);
    expect(loadConfig({ TESSERA_PORT: '4002' }, flags).port).toBe(4001);
    expect(loadConfig({ TESSERA_PORT: '4002' }, {}).port).toBe(4002);
    expect(loadConfig({}, {}).port).toBe(4000);
  });

  it('offers no flag for secrets: they would show in the process list', () => {
    for (const key of ['masterKey', 'adminPassword', 'metricsToken'] as const) {
      expect(SETTINGS[key].flag, key).toBeUndefined();
    }
    expect(() => parseCommandLine(['serve', '--master-key', 'x'], COMMANDS)).toThrow(
      /Unknown option '--master-key'/,
    );
  });

  it("keeps a command's own option apart from the setting of the same name", () => {
    // `client add --audience`: the client's audiences, several allowed; not the server's setting.
    const line = parseCommandLine(['client', 'add', 'api', '--audience', 'a', '--audience', 'b'], COMMANDS);
    expect(line.values.audience).toEqual(['a', 'b']);
    expect(settingFlags(line.values, client).audience).toBeUndefined();
    // For serve --audience is the setting, and takes one value.
    expect(configOf(['serve', '--audience', 'https://api.example.com']).audience).toBe(
      'https://api.example.com',
    );
    const twice = parseCommandLine(['serve', '--audience', 'a', '--audience', 'b'], COMMANDS);
    expect(() => settingFlags(twice.values, serve)).toThrow('--audience takes one value here');
  });

  it("refuses another command's option", () => {
    const line = parseCommandLine(['keys', 'list', '--type', 'public'], COMMANDS);
    const keys = COMMANDS.find((command) => command.name === 'keys')!;
    expect(() => checkOptions(line, keys)).toThrow(
      '--type is not an option of tessera keys; try tessera keys --help',
    );
    const keygen = COMMANDS.find((command) => command.name === 'keygen')!;
    expect(() => checkOptions(parseCommandLine(['keygen', '--port', '1'], COMMANDS), keygen)).toThrow(
      '--port is not an option of tessera keygen',
    );
  });
});

describe('the settings table', () => {
  it('describes every setting', () => {
    for (const [key, setting] of Object.entries(SETTINGS)) {
      expect(setting.help.length, key).toBeGreaterThan(10);
      expect(setting.help, key).not.toMatch(/^\s|\s$|\.$/);
      if (setting.flag !== undefined) expect('value' in setting, `${key} has a placeholder`).toBe(true);
    }
  });

  it('states each default as loadConfig applies it', () => {
    const defaults = loadConfig({}, {});
    for (const [key, setting] of Object.entries(SETTINGS) as [
      keyof Config,
      { env: string; default?: string },
    ][]) {
      if (setting.default === undefined) continue;
      expect(loadConfig({ [setting.env]: setting.default }, {})[key], key).toEqual(defaults[key]);
    }
  });

  it('lists every flag with its help, variable and default in tessera serve --help', () => {
    const help = serve.help();
    expect(help).toBe(`${help.split('\n\nSettings')[0]}\n\n${settingsHelp()}`);
    for (const setting of Object.values(SETTINGS)) {
      expect(help).toContain(setting.env);
      expect(help).toContain(setting.help);
      if (setting.flag !== undefined) expect(help).toContain(`--${setting.flag} <`);
      if ('default' in setting) expect(help).toContain(`${setting.env}, default ${setting.default}`);
    }
  });

  it("is the server README's configuration table: every variable and flag is in it", () => {
    const readme = readFileSync(join(ROOT, 'packages/server/README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Endpoints'));
    for (const setting of Object.values(SETTINGS)) {
      expect(table).toContain(`\`${setting.env}\``);
      if (setting.flag !== undefined) expect(table).toContain(`\`--${setting.flag}\``);
    }
  });
});
