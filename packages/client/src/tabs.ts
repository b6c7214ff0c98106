import { randomString } from './lib/base64url.js';
import type { TokenSet } from './session.js';

/** What tabs of one origin tell each other about one issuer and client. */
export type TabMessage =
  | { type: 'tokens'; tokens: TokenSet }
  | { type: 'logout' }
  /** A new tab asks for the session; each other tab answers `tokens` or `none`. */
  | { type: 'hello' }
  | { type: 'none' };

/**
 * The other tabs of this origin, over BroadcastChannel (a message reaches every other tab in
 * milliseconds, never this one). Each tab also holds a Web Lock named after itself for its lifetime,
 * so a new tab can count the others (`navigator.locks.query()`) and knows how many answers to wait
 * for. Without BroadcastChannel every method does nothing.
 */
export class Tabs {
  readonly #channel: BroadcastChannel | undefined;
  readonly #presencePrefix: string;
  readonly #presence: string;
  #leave: (() => void) | undefined;
  #answer: ((message: TabMessage) => void) | undefined;
  #closed = false;

  constructor(name: string, onMessage: (message: TabMessage) => void) {
    this.#presencePrefix = `${name}:tab:`;
    this.#presence = `${this.#presencePrefix}${randomString(9)}`;
    if (typeof BroadcastChannel === 'undefined') return;
    this.#channel = new BroadcastChannel(name);
    // Node: a channel must not keep the process alive.
    (this.#channel as { unref?: () => void }).unref?.();
    this.#channel.onmessage = (event: MessageEvent<TabMessage>) => {
      this.#answer?.(event.data);
      onMessage(event.data);
    };
    const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
    void locks?.request(
      this.#presence,
      () =>
        new Promise<void>((release) => {
          if (this.#closed) release();
          else this.#leave = release;
        }),
    );
  }

  post(message: TabMessage): void {
    this.#channel?.postMessage(message);
  }

  /**
   * The session of another open tab, if one has it. Resolves once a tab answers with tokens or
   * every other tab has answered that it has none (at most `timeout` ms, for a tab that hangs).
   * Without Web Locks the other tabs cannot be counted, and none are asked.
   */
  async askOthers(timeout = 1000): Promise<TokenSet | undefined> {
    const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
    if (!this.#channel || !locks) return undefined;
    const { held = [] } = await locks.query();
    const others = held.filter(
      (lock) => lock.name?.startsWith(this.#presencePrefix) && lock.name !== this.#presence,
    ).length;
    if (others === 0) return undefined;
    return new Promise((resolve) => {
      let none = 0;
      const done = (tokens: TokenSet | undefined) => {
        this.#answer = undefined;
        clearTimeout(timer);
        resolve(tokens);
      };
      const timer = setTimeout(() => done(undefined), timeout);
      this.#answer = (message) => {
        if (message.type === 'tokens') done(message.tokens);
        else if (message.type === 'none' && ++none >= others) done(undefined);
      };
      this.post({ type: 'hello' });
    });
  }

  close(): void {
    this.#closed = true;
    this.#channel?.close();
    this.#leave?.();
  }
}
