import { SETTINGS } from '../config.js';
import type { Command } from './command.js';

/** `tessera --help`: the commands, each with its one-line summary. */
export function topLevelHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length)) + 2;
  return `tessera — the Tessera auth server

Usage: tessera <command> [options]

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}${command.summary}`).join('\n')}

Options: --help (every command has it), --version, --json (output for scripts).
Settings come from flags, else TESSERA_* environment variables, else defaults: tessera serve --help.`;
}

/**
 * Every setting, made from the settings table in config.ts: its flag, what it is, its environment
 * variable and its default. Settings without a flag (secrets) are listed by variable only: a flag
 * would show them to anyone who can list processes.
 */
export function settingsHelp(): string {
  const withFlag = Object.values(SETTINGS).filter((setting) => setting.flag !== undefined);
  const label = (setting: (typeof withFlag)[number]) =>
    `--${setting.flag}${'value' in setting ? ` <${setting.value}>` : ''}`;
  const width = Math.max(...withFlag.map((setting) => label(setting).length)) + 2;
  const where = (setting: { env: string; default?: string }) =>
    `${setting.env}${setting.default !== undefined ? `, default ${setting.default}` : ''}`;
  const lines = withFlag.map(
    (setting) => `  ${label(setting).padEnd(width)}${setting.help}\n  ${' '.repeat(width)}${where(setting)}`,
  );
  const secrets = Object.values(SETTINGS)
    .filter((setting) => setting.flag === undefined)
    .map((setting) => `  ${setting.env.padEnd(width)}${setting.help}`);
  return `Settings (flag, else environment variable, else default; spans take seconds or '15m', '14d'):
${lines.join('\n')}

Environment only (secrets stay out of the process list):
${secrets.join('\n')}`;
}
