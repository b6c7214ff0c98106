/**
 * Security event tokens on NATS JetStream: with `revocationBroker: nats://…` every SET is also
 * published, through the outbox, on the revocation feed's connection, to a stream of its own, with
 * its `jti` as `Nats-Msg-Id`; while NATS is away the row waits and goes out once it is back.
 */
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SECURITY_EVENT_TYPES } from '../src/security_events/event_types.js';
import { natsSecurityEventNames } from '../src/security_events/nats_broker.js';
import { eventually, post, startServer, stopServer, type TestServer } from './helpers.js';
import { addClients, loginApp } from './http.js';
import { deleteStream, NATS_URL, natsConnection, natsSkip, type TestStream, uniqueStream } from './nats.js';
import { TcpProxy } from './tcp_proxy.js';

const skip = await natsSkip('the NATS security event tests');
const SESSION_REVOKED = SECURITY_EVENT_TYPES['session-revoked'];

/** Every SET the stream holds now: the message, its subject and its Nats-Msg-Id. */
async function published(
  stream: string,
): Promise<{ set: string; subject: string; msgId: string | undefined }[]> {
  const nc = await natsConnection();
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (!info || info.state.messages === 0) return [];
    const out = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const stored = await jsm.streams.getMessage(stream, { seq });
      out.push({
        set: new TextDecoder().decode(stored.data),
        subject: stored.subject,
        msgId: stored.header?.get('Nats-Msg-Id') || undefined,
      });
    }
    return out;
  } finally {
    await nc.close();
  }
}

describe.skipIf(skip)('security events on NATS JetStream', () => {
  let nats: TestStream;
  let names: { stream: string; subject: string };
  let server: TestServer | undefined;
  let proxy: TcpProxy | undefined;

  beforeEach(() => {
    nats = uniqueStream();
    names = natsSecurityEventNames(nats);
  });

  afterEach(async () => {
    if (server) await stopServer(server);
    server = undefined;
    await proxy?.close();
    proxy = undefined;
    await deleteStream(nats.stream);
    await deleteStream(names.stream);
  });

  it('publishes each SET to a stream of its own, no aud, its jti the message id', async () => {
    server = await startServer({ revocationBroker: nats.url() });
    await addClients(server);
    const login = await loginApp(server);
    const res = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(res.status).toBe(204);
    let messages: Awaited<ReturnType<typeof published>> = [];
    await eventually(async () => {
      server!.delivery.wake();
      messages = await published(names.stream);
      return messages.length === 1;
    }, 'the SET on the stream');
    const [message] = messages;
    expect(message!.subject).toBe(`${nats.subject}.security-events`);
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const { payload, protectedHeader } = await jwtVerify(
      message!.set,
      createLocalJWKSet({ keys: jwks.keys }),
      {
        issuer: server.services.config.issuer,
        typ: 'secevent+jwt',
      },
    );
    expect(protectedHeader.typ).toBe('secevent+jwt');
    expect(payload.aud).toBeUndefined();
    expect(message!.msgId).toBe(payload.jti);
    expect(Object.keys(payload.events as object)).toEqual([SESSION_REVOKED]);
    const rows = await server.services.db
      .selectFrom('outbox')
      .selectAll()
      .where('kind', '=', 'security_event_broker')
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.delivered_at).not.toBeNull();
    // The revocation stream holds no SET, the SET stream no revocation.
    expect((await published(nats.stream)).every((m) => !m.subject.endsWith('.security-events'))).toBe(true);
  });

  it('while NATS is away the SET waits in the outbox, and goes out once it is back', async () => {
    const upstream = new URL(NATS_URL);
    proxy = await TcpProxy.start(upstream.hostname, Number(upstream.port || 4222));
    server = await startServer({ revocationBroker: nats.url(`nats://127.0.0.1:${proxy.port}`) });
    await addClients(server);
    // Connected once (the SET stream is created on the first publish, after NATS is back).
    await eventually(() => server!.services.revocations.feed.live(), 'the feed live');
    proxy.cut();
    const login = await loginApp(server);
    const res = await post(`${server.url}/logout`, {}, { authorization: `Bearer ${login.access_token}` });
    expect(res.status).toBe(204);
    const row = async () =>
      (
        await server!.services.db
          .selectFrom('outbox')
          .selectAll()
          .where('kind', '=', 'security_event_broker')
          .execute()
      )[0];
    await eventually(async () => {
      server!.delivery.wake();
      return (await row())?.last_error != null;
    }, 'a failed publish');
    expect((await row())!.delivered_at).toBeNull();
    proxy.restore();
    await eventually(
      async () => {
        const pending = await row();
        if (pending && pending.lease_owner === null && pending.next_attempt_at > server!.now())
          server!.advance(pending.next_attempt_at - server!.now());
        server!.delivery.wake();
        return pending?.delivered_at != null;
      },
      'the SET delivered once NATS is back',
      20_000,
    );
    expect(await published(names.stream)).toHaveLength(1);
  });
});
