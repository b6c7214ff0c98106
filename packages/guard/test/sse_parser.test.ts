import { describe, expect, it } from 'vitest';
import { createSseParser, SseLimitExceeded } from '../src/revocation/sse_parser.js';

function collect(maxLength?: number) {
  const seen: string[] = [];
  const parser = createSseParser(
    {
      event: (type, data, id) => seen.push(`event ${type} ${JSON.stringify(data)} id=${id}`),
      comment: (text) => seen.push(`comment ${text}`),
      retry: (ms) => seen.push(`retry ${ms}`),
    },
    maxLength,
  );
  return { parser, seen };
}

describe('the text/event-stream parser (WHATWG HTML §9.2)', () => {
  it("reads the server's stream: retry, events with ids, comments", () => {
    const { parser, seen } = collect();
    parser.push(
      'retry: 1000\n\nid: 1\nevent: revocation\ndata: {"kind":"jti"}\n\n: snapshot complete\n\n: heartbeat\n\n',
    );
    expect(seen).toEqual([
      'retry 1000',
      'event revocation "{\\"kind\\":\\"jti\\"}" id=1',
      'comment snapshot complete',
      'comment heartbeat',
    ]);
    expect(parser.lastEventId).toBe('1');
  });

  it('accepts CRLF, CR and LF line ends, split anywhere across chunks', () => {
    const text = 'id: 7\r\nevent: revocation\rdata: a\r\n\r\n: heartbeat\r\rdata: b\n\n';
    for (let split = 0; split <= text.length; split++) {
      const { parser, seen } = collect();
      parser.push(text.slice(0, split));
      parser.push(text.slice(split));
      expect(seen).toEqual(['event revocation "a" id=7', 'comment heartbeat', 'event message "b" id=7']);
    }
  });

  it('feeds one character at a time', () => {
    const { parser, seen } = collect();
    for (const char of '\uFEFFid: x\ndata: one\ndata: two\n\n') parser.push(char);
    expect(seen).toEqual(['event message "one\\ntwo" id=x']);
  });

  it('keeps the last event id across events, sets it even for events without data, ignores ids with NUL', () => {
    const { parser, seen } = collect();
    parser.push('id: 5\n\n');
    expect(parser.lastEventId).toBe('5');
    parser.push('data: a\n\nid: 6\u0000\ndata: b\n\nid\ndata: c\n\n');
    expect(seen).toEqual(['event message "a" id=5', 'event message "b" id=5', 'event message "c" id=']);
  });

  it('does not dispatch an event that never ended', () => {
    const { parser, seen } = collect();
    parser.push('id: 9\nevent: revocation\ndata: partial');
    expect(seen).toEqual([]);
    expect(parser.lastEventId).toBe('');
  });

  it('ignores unknown fields and a retry that is not a number', () => {
    const { parser, seen } = collect();
    parser.push('foo: bar\nretry: soon\nretry\ndata\n\n');
    expect(seen).toEqual(['event message "" id=']);
  });

  it('throws on a line or an event longer than the cap', () => {
    expect(() => collect(16).parser.push('x'.repeat(17))).toThrow(SseLimitExceeded);
    expect(() => collect(16).parser.push(`data: ${'x'.repeat(17)}\n`)).toThrow(SseLimitExceeded);
    const { parser } = collect(16);
    parser.push('data: 0123456789\n');
    expect(() => parser.push('data: 0123456789\n')).toThrow(SseLimitExceeded);
    const { parser: split } = collect(16);
    split.push('x'.repeat(10));
    expect(() => split.push('x'.repeat(10))).toThrow(SseLimitExceeded);
  });
});
