import { describe, expect, it } from 'vitest';
import { createGuard, type GuardOptions } from '../src/index.js';
import { AUDIENCE } from './helpers/issuer.js';

// Every bad option is a TypeError at createGuard, naming the option: a misconfiguration found at
// start-up, never a 500 later. These throw before the guard starts anything.
const base = { issuer: 'https://auth.example.com', audience: AUDIENCE, revocations: 'off' as const };

/** Options that must be accepted: the guard is created (offline: every fetch fails) and closed. */
async function accepted(options: Partial<GuardOptions>): Promise<void> {
  const offline = async (): Promise<Response> => {
    throw new Error('offline');
  };
  await createGuard({ ...base, fetch: offline, ...options }).close();
}

describe('createGuard options', () => {
  it('refuses HS* and none: the guard holds public keys only (RFC 8725 §3.1)', () => {
    expect(() => createGuard({ ...base, algorithms: ['HS256'] })).toThrow(/asymmetric/);
    expect(() => createGuard({ ...base, algorithms: ['ES256', 'HS512'] })).toThrow(TypeError);
    expect(() => createGuard({ ...base, algorithms: ['none'] })).toThrow(/none/);
    expect(() => createGuard({ ...base, algorithms: ['XX1'] })).toThrow(TypeError);
    expect(() => createGuard({ ...base, algorithms: [] })).toThrow(TypeError);
  });

  it('refuses a missing issuer or audience, and plain http to a remote host', () => {
    expect(() => createGuard({ ...base, issuer: '' })).toThrow(TypeError);
    expect(() => createGuard({ ...base, audience: [] })).toThrow(TypeError);
    expect(() => createGuard({ ...base, issuer: 'http://auth.example.com' })).toThrow(/https/);
    expect(() => createGuard({ ...base, issuer: 'https://auth.example.com?x=1' })).toThrow(/query/);
    expect(() => createGuard({ ...base, staleAfter: 0 })).toThrow(TypeError);
    expect(() => createGuard({ ...base, onStale: 'open' as 'fail-open' })).toThrow(TypeError);
    expect(() => createGuard({ ...base, revocations: { redis: 'localhost' } })).toThrow(TypeError);
  });

  it('takes a broker stream by the name the server gives it (?stream=), each by its broker rule', () => {
    // Both brokers' options build without connecting (the feed starts with guard.ready()).
    expect(() =>
      createGuard({ ...base, revocations: { rabbitmq: 'amqp://mq:5672', stream: 'auth.revocations' } }),
    ).not.toThrow();
    expect(() =>
      createGuard({ ...base, revocations: { nats: 'nats://nats:4222', stream: 'AUTH_REVOCATIONS' } }),
    ).not.toThrow();
    // A RabbitMQ queue name the server refuses, and a NATS stream name with a dot (JetStream refuses it).
    expect(() =>
      createGuard({ ...base, revocations: { rabbitmq: 'amqp://mq:5672', stream: 'a/b' } }),
    ).toThrow(/options\.revocations\.stream/);
    expect(() => createGuard({ ...base, revocations: { nats: 'nats://nats:4222', stream: 'a.b' } })).toThrow(
      /options\.revocations\.stream/,
    );
    expect(() => createGuard({ ...base, revocations: { kafka: 'x' } as never })).toThrow(
      /\{ rabbitmq, stream\? \} or \{ nats, stream\? \}/,
    );
  });

  it('refuses a logger whose levels are not methods', () => {
    const warn = () => {};
    expect(() => createGuard({ ...base, logger: {} as GuardOptions['logger'] })).toThrow(/options\.logger/);
    for (const level of ['error', 'info', 'debug']) {
      expect(() =>
        createGuard({ ...base, logger: { warn, [level]: 'yes' } as GuardOptions['logger'] }),
      ).toThrow(new TypeError(`options.logger.${level} must be a method (fields, message), or absent`));
    }
  });

  it('refuses log levels that do not exist, and misspelt kinds', async () => {
    const levels = (value: unknown) => () =>
      createGuard({ ...base, logLevels: value as GuardOptions['logLevels'] });
    expect(levels({ refusal: 'trace' })).toThrow(
      new TypeError('options.logLevels.refusal must be one of error, warn, info, debug, silent'),
    );
    expect(levels({ unavailable: 'WARN' })).toThrow(/options\.logLevels\.unavailable must be one of/);
    expect(levels({ refusals: 'debug' })).toThrow(/options\.logLevels has no "refusals"/);
    expect(levels('debug')).toThrow(TypeError);
    await accepted({ logLevels: { refusal: 'silent', unavailable: 'error' } });
    await accepted({ logLevels: { refusal: undefined } });
  });

  it('refuses a maxTokenAge that is not a positive span of seconds', async () => {
    const age = (value: unknown) => () =>
      createGuard({ ...base, maxTokenAge: value as GuardOptions['maxTokenAge'] });
    for (const value of [0, -1, '0s', 'soon', '15 fortnights', '', Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(age(value), String(value)).toThrow(TypeError);
    }
    expect(age('soon')).toThrow(/options\.maxTokenAge must be seconds or a span like '15m'/);
    expect(age({ minutes: 15 })).toThrow(/options\.maxTokenAge/);
    expect(age(0)).toThrow(new TypeError('options.maxTokenAge must be at least one second'));
    for (const value of [900, '15m', '1 hour', '1.5h']) await accepted({ maxTokenAge: value });
  });

  it('refuses a client without a printable id and secret, never repeating the secret', () => {
    const stream = { ...base, revocations: 'stream' as const };
    const client = (value: unknown) => () =>
      createGuard({ ...stream, client: value as GuardOptions['client'] });
    expect(client('orders-api:secret')).toThrow(/options\.client must be \{ id, secret \}/);
    expect(client({ secret: 's3cret' })).toThrow(
      new TypeError('options.client.id must be a non-empty string'),
    );
    expect(client({ id: 'orders-api', secret: '' })).toThrow(
      new TypeError('options.client.secret must be a non-empty string'),
    );
    expect(client({ id: 'orders-api', secret: 42 })).toThrow(/options\.client\.secret/);
    // A secret read from a file with its newline: RFC 6749 Appendix A allows no control characters.
    let err: Error | undefined;
    try {
      client({ id: 'orders-api', secret: 's3cret-from-a-file\n' })();
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(err?.message).toMatch(/options\.client\.secret must be printable ASCII \(RFC 6749 Appendix A/);
    expect(err?.message).not.toContain('s3cret');
  });

  it('refuses a client that would never be sent: revocations off or from Redis', () => {
    const client = { id: 'orders-api', secret: 's3cret' };
    expect(() => createGuard({ ...base, client })).toThrow(
      new TypeError(
        "options.client is sent to the issuer's revocation stream only; with revocations 'off' it would never be used",
      ),
    );
    expect(() => createGuard({ ...base, revocations: { redis: 'redis://127.0.0.1:6379' }, client })).toThrow(
      /with revocations \{ redis \} it would never be used/,
    );
  });
});
