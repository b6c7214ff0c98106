// The public surface of @tessera/server. This file only re-exports.

export { type Config, ConfigError, describeConfig, loadConfig } from './config.js';
export { type AppOptions, buildApp } from './http/app.js';
export { createServer, type TesseraServer } from './server.js';
export { createServices, type ServerHooks, type Services } from './services.js';
export {
  type ClaimsTarget,
  type ExtraClaimsContext,
  ExtraClaimsError,
  type ExtraClaimsHook,
  RESERVED_CLAIMS,
} from './tokens/extra_claims.js';
