// The public surface of @tessera/server. This file only re-exports.

export { type Config, ConfigError, describeConfig, loadConfig } from './config.js';
export { type AppOptions, buildApp } from './http/app.js';
export { createServer, type TesseraServer } from './server.js';
export { createServices, type Services } from './services.js';
