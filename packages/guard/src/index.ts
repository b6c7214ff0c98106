// The public surface of @tessera/guard. This file only re-exports; nothing imports from it.

export type { AuthenticatableRequest, HeaderRecord, HeadersLike } from './bearer.js';
export type { ClientOption } from './client_credentials.js';
export type { DecryptionKey } from './decryption_keys.js';
export type { DpopOptions, DpopReplayOption } from './dpop/options.js';
export {
  GuardError,
  type GuardErrorBody,
  type GuardErrorCode,
} from './errors.js';
export { createGuard, type Guard } from './guard.js';
export type { GuardHealth } from './health.js';
export type { GuardLogger, LogLevel } from './logger.js';
export type { GuardOptions, RevocationsOption } from './options.js';
export type { AccessTokenClaims, Actor, Principal } from './principal.js';
export type { Requirements } from './requirements.js';
export type { RevocationState } from './revocation/liveness.js';
export type { NatsConnectionLike } from './revocation/nats.js';
export type { AmqpChannelLike, AmqpConnectionLike, AmqpMessageLike } from './revocation/rabbitmq.js';
export type { RedisConnectionLike, RedisLikeClient } from './revocation/redis.js';
