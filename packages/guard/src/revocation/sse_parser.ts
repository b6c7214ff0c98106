/**
 * What a `text/event-stream` carries, as the WHATWG HTML standard (§9.2 "Server-sent events")
 * parses it: events (`event`, `data`, `id` fields ended by a blank line), comments (lines starting
 * with `:`) and the reconnection time (`retry`).
 */
export interface SseHandlers {
  /** A dispatched event; `lastEventId` is the stream's last event ID after it. */
  event(type: string, data: string, lastEventId: string): void;
  /** A comment line, without the colon and one leading space. */
  comment(text: string): void;
  /** A `retry` field: the reconnection time in milliseconds. */
  retry(ms: number): void;
}

/** A line or an event exceeded the size cap: the stream is broken or hostile, so drop it. */
export class SseLimitExceeded extends Error {
  constructor(what: string, limit: number) {
    super(`${what} is longer than ${limit} characters`);
    this.name = 'SseLimitExceeded';
  }
}

export interface SseParser {
  /** Feeds decoded text; calls the handlers for whatever it completes. */
  push(text: string): void;
  /** The last event ID (set when an event is dispatched, even one without data). */
  readonly lastEventId: string;
}

/** Default cap on one line and on one event's data: revocation events are a few hundred bytes. */
export const MAX_SSE_LENGTH = 64 * 1024;

/**
 * An incremental event-stream parser. Lines end in CRLF, LF or CR (a CR at the end of one chunk
 * and an LF at the start of the next are one line end). A line, or one event's accumulated data,
 * longer than `maxLength` throws {@link SseLimitExceeded}, so a hostile stream cannot grow our
 * buffers without bound.
 */
export function createSseParser(handlers: SseHandlers, maxLength = MAX_SSE_LENGTH): SseParser {
  let line = '';
  let afterCR = false;
  let first = true;
  let data = '';
  let hasData = false;
  let eventType = '';
  let idBuffer = '';
  let lastEventId = '';

  function dispatch(): void {
    // WHATWG: the last event ID is set at dispatch, whether or not the event has data.
    lastEventId = idBuffer;
    if (!hasData) {
      eventType = '';
      return;
    }
    const type = eventType === '' ? 'message' : eventType;
    const payload = data;
    data = '';
    hasData = false;
    eventType = '';
    handlers.event(type, payload, lastEventId);
  }

  function processLine(text: string): void {
    if (text.length === 0) {
      dispatch();
      return;
    }
    if (text.charCodeAt(0) === 58 /* : */) {
      handlers.comment(text.charCodeAt(1) === 32 ? text.slice(2) : text.slice(1));
      return;
    }
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        if (data.length + value.length + 1 > maxLength) throw new SseLimitExceeded('an event', maxLength);
        data = hasData ? `${data}\n${value}` : value;
        hasData = true;
        break;
      case 'event':
        eventType = value;
        break;
      case 'id':
        // WHATWG: an id containing NULL is ignored.
        if (!value.includes('\0')) idBuffer = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) handlers.retry(Number(value));
        break;
      // Other fields are ignored.
    }
  }

  return {
    push(text) {
      let start = 0;
      if (first && text.length > 0) {
        first = false;
        // A leading byte order mark is not part of the first line.
        if (text.charCodeAt(0) === 0xfeff) start = 1;
      }
      if (afterCR && text.charCodeAt(start) === 10) start++;
      afterCR = false;
      for (let i = start; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code !== 10 && code !== 13) continue;
        const piece = text.slice(start, i);
        const complete = line.length === 0 ? piece : line + piece;
        line = '';
        if (complete.length > maxLength) throw new SseLimitExceeded('a line', maxLength);
        if (code === 13) {
          if (i + 1 === text.length) afterCR = true;
          else if (text.charCodeAt(i + 1) === 10) i++;
        }
        start = i + 1;
        processLine(complete);
      }
      if (start < text.length) {
        line += text.slice(start);
        if (line.length > maxLength) throw new SseLimitExceeded('a line', maxLength);
      }
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}
