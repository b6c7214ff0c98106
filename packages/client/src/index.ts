export { type AuthClient, createAuthClient, type LoginCredentials, type LogoutOptions } from './client.js';
export { AuthError, type AuthErrorCode } from './errors.js';
export type { AuthEventName, AuthEvents, AuthListener, LogoutReason } from './events.js';
export type { AuthClientOptions } from './options.js';
export type { RedirectLoginOptions } from './redirect.js';
export type { AuthState, UserClaims } from './session.js';
