import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createRevocationSet,
  encodeBrokerHeartbeat,
  encodeBrokerRevocation,
  encodeRevocationEvent,
  MAX_BROKER_MESSAGE_BYTES,
  MAX_VALUE_LENGTH,
  parseBrokerMessage,
  parseRevocationData,
  parseStreamFields,
  type RevocationEntry,
  streamFields,
} from '../src/index.js';

interface Contract {
  events: {
    entry: RevocationEntry;
    eventId: string;
    sse: string;
    rowId: number;
    streamFields: string[];
    brokerMessage: string;
  }[];
  malformedData: string[];
  brokerHeartbeat: { at: number; instance: string; message: string };
  malformedBrokerMessages: string[];
}
const contract = JSON.parse(
  readFileSync(new URL('./contract/revocation_events.json', import.meta.url), 'utf8'),
) as Contract;

/** The `data:` line of an SSE event. */
const dataOf = (sse: string) => (/^data: (.*)$/m.exec(sse) as RegExpExecArray)[1] as string;

describe('the revocation wire format (the contract server and guard share)', () => {
  for (const { entry, eventId, sse, rowId, streamFields: fields } of contract.events) {
    it(`writes and reads a ${entry.kind} entry as an SSE event and as Redis stream fields`, () => {
      expect(encodeRevocationEvent(entry, eventId)).toBe(sse);
      expect(parseRevocationData(dataOf(sse))).toEqual(entry);
      expect(streamFields(entry, rowId)).toEqual(fields);
      expect(parseStreamFields(fields)).toEqual({ entry, rowId });
    });
  }

  for (const { entry, rowId, brokerMessage } of contract.events) {
    it(`writes and reads a ${entry.kind} entry as a broker message (RabbitMQ stream, NATS JetStream)`, () => {
      expect(encodeBrokerRevocation(entry, rowId).toString('utf8')).toBe(brokerMessage);
      expect(parseBrokerMessage(Buffer.from(brokerMessage))).toEqual({ type: 'revocation', entry, rowId });
    });
  }

  it('writes and reads a heartbeat as a broker message', () => {
    const { at, instance, message } = contract.brokerHeartbeat;
    expect(encodeBrokerHeartbeat(at, instance).toString('utf8')).toBe(message);
    expect(parseBrokerMessage(Buffer.from(message))).toEqual({ type: 'heartbeat', at, instance });
  });

  it('refuses malformed broker messages and oversized ones', () => {
    for (const message of contract.malformedBrokerMessages)
      expect(parseBrokerMessage(Buffer.from(message)), message).toBeUndefined();
    const big = JSON.stringify({
      type: 'revocation',
      kind: 'jti',
      value: 'x'.repeat(MAX_BROKER_MESSAGE_BYTES),
      ver: null,
      exp: 1,
    });
    expect(parseBrokerMessage(Buffer.from(big))).toBeUndefined();
  });

  it('refuses malformed event data: unknown kinds, empty or non-string values, a string ver or expiry', () => {
    for (const data of contract.malformedData) expect(parseRevocationData(data)).toBeUndefined();
    const long = JSON.stringify({
      kind: 'jti',
      value: 'x'.repeat(MAX_VALUE_LENGTH + 1),
      ver: null,
      expires_at: 1,
    });
    expect(parseRevocationData(long)).toBeUndefined();
  });

  it('refuses malformed stream fields and ignores fields it does not know', () => {
    const good = ['kind', 'sid', 'value', 's', 'ver', '', 'exp', '1767225600', 'rid', '3', 'extra', 'x'];
    expect(parseStreamFields(good)?.entry).toEqual({
      kind: 'sid',
      value: 's',
      ver: null,
      expiresAt: 1767225600,
    });
    for (const [field, bad] of [
      ['kind', 'aud'],
      ['value', ''],
      ['ver', 'three'],
      ['ver', '1.5'],
      ['exp', 'soon'],
    ] as const) {
      const fields = [...good];
      fields[fields.indexOf(field) + 1] = bad;
      expect(parseStreamFields(fields)).toBeUndefined();
    }
    expect(parseStreamFields(['kind', 'jti', 'value', 'j', 'exp', '1'])).toBeUndefined(); // no ver field
  });
});

const NOW = 1_700_000_000_000;
const later = NOW / 1000 + 3600;

describe('the revocation set (the one matching rule)', () => {
  it('matches jti, sid, sub below a version, and the kid that signed the token', () => {
    const set = createRevocationSet();
    set.add({ kind: 'jti', value: 'j', ver: null, expiresAt: later }, NOW);
    set.add({ kind: 'sid', value: 's', ver: null, expiresAt: later }, NOW);
    set.add({ kind: 'sub', value: 'u', ver: 4, expiresAt: later }, NOW);
    set.add({ kind: 'kid', value: 'k1', ver: null, expiresAt: later }, NOW);
    expect(set.match({ jti: 'j' })).toBe('jti');
    expect(set.match({ sid: 's' })).toBe('sid');
    expect(set.match({ sub: 'u', ver: 3 })).toBe('sub');
    expect(set.match({ sub: 'u', ver: 4 })).toBeUndefined();
    expect(set.match({ sub: 'u' })).toBe('sub');
    expect(set.match({ sub: 'u', ver: '9' })).toBe('sub');
    expect(set.match({ jti: 'other' }, 'k1')).toBe('kid');
    expect(set.match({ jti: 'other' }, 'k2')).toBeUndefined();
    // A kid is matched only from the header argument, never from a claim of the same name.
    expect(set.match({ kid: 'k1' } as never)).toBeUndefined();
    expect(set.match({ jti: 'k', sid: 't', sub: 'v' })).toBeUndefined();
    // Handles are compared as strings only.
    expect(set.match({ jti: ['j'] })).toBeUndefined();
    expect(set.match({}, ['k1'])).toBeUndefined();
  });

  it('treats a sub entry without ver as version 0', () => {
    const set = createRevocationSet();
    set.add({ kind: 'sub', value: 'u', ver: null, expiresAt: later }, NOW);
    expect(set.match({ sub: 'u' })).toBe('sub');
    expect(set.match({ sub: 'u', ver: 0 })).toBeUndefined();
    expect(set.match({ sub: 'u', ver: -1 })).toBe('sub');
  });

  it('keeps the highest version and the latest expiry of a subject', () => {
    const set = createRevocationSet();
    set.add({ kind: 'sub', value: 'u', ver: 5, expiresAt: NOW / 1000 + 60 }, NOW);
    set.add({ kind: 'sub', value: 'u', ver: 2, expiresAt: NOW / 1000 + 600 }, NOW);
    expect(set.match({ sub: 'u', ver: 4 })).toBe('sub');
    expect(set.prune(NOW + 61_000)).toBe(0);
    expect(set.match({ sub: 'u', ver: 4 })).toBe('sub');
    expect(set.prune(NOW + 600_000)).toBe(1);
    expect(set.size).toBe(0);
  });

  it('ignores entries that have already expired and prunes the others, of every kind, at their expiry', () => {
    const set = createRevocationSet();
    expect(set.add({ kind: 'jti', value: 'old', ver: null, expiresAt: NOW / 1000 }, NOW)).toBe(false);
    set.add({ kind: 'jti', value: 'a', ver: null, expiresAt: NOW / 1000 + 10 }, NOW);
    set.add({ kind: 'jti', value: 'a', ver: null, expiresAt: NOW / 1000 + 20 }, NOW);
    set.add({ kind: 'sid', value: 'b', ver: null, expiresAt: NOW / 1000 + 10 }, NOW);
    set.add({ kind: 'kid', value: 'k', ver: null, expiresAt: NOW / 1000 + 10 }, NOW);
    expect(set.size).toBe(3);
    expect(set.prune(NOW + 10_000)).toBe(2);
    expect(set.match({ jti: 'a' })).toBe('jti');
    expect(set.match({ sid: 'b' }, 'k')).toBeUndefined();
    expect(set.prune(NOW + 20_000)).toBe(1);
    expect(set.size).toBe(0);
  });
});
