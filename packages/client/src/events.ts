import type { AuthError } from './errors.js';
import type { AuthState } from './session.js';

/** Why a session ended: this tab's `logout()`, another tab's, or the server refusing it. */
export type LogoutReason = 'logout' | 'other_tab' | 'session_ended' | 'unauthorized';

/** The events and what their listeners receive. */
export interface AuthEvents {
  /** A session began in this tab: a login, a callback, a restore on start or one shared by another tab. */
  login: AuthState;
  /** The tokens were renewed (here or, shared, in another tab). */
  refresh: AuthState;
  logout: { reason: LogoutReason };
  /** A background failure (a refresh that could not reach the server); the session may go on. */
  error: AuthError;
}

export type AuthEventName = keyof AuthEvents;
export type AuthListener<E extends AuthEventName> = (detail: AuthEvents[E]) => void;

/** A tiny typed emitter; a throwing listener does not keep the others from running. */
export class Emitter {
  readonly #listeners = new Map<AuthEventName, Set<(detail: never) => void>>();

  on<E extends AuthEventName>(event: E, listener: AuthListener<E>): () => void {
    const set = this.#listeners.get(event) ?? new Set();
    this.#listeners.set(event, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  emit<E extends AuthEventName>(event: E, detail: AuthEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as AuthListener<E>)(detail);
      } catch (err) {
        // Report it without breaking the client's own bookkeeping.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
