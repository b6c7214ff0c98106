import type { Config } from '../config.js';
import type { Output } from './output.js';

/** An option of `node:util` parseArgs: every value a string, or a switch. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  /** The subcommand (`add` in `tessera user add bob`), if any. */
  sub: string | undefined;
  /** The positionals after it (`bob`). */
  args: string[];
  values: Values;
  out: Output;
  /** The validated configuration: flags, then the environment, then defaults. Throws ConfigError. */
  config(): Config;
}

/** One `tessera` command: its help, its own options, and what it does. One file per command. */
export interface Command {
  name: string;
  /** One line for `tessera --help`. */
  summary: string;
  /** `tessera <name> --help`. */
  help(): string;
  /** Options only this command takes (a setting's flag of the same name then means this instead). */
  options: Record<string, OptionSpec>;
  /** Whether the settings' flags apply (they do to every command that reads the configuration). */
  settings: boolean;
  /** Resolves to the exit code. */
  run(context: CommandContext): Promise<number>;
}
