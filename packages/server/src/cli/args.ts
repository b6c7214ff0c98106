import { parseArgs } from 'node:util';
import { SETTINGS } from '../config.js';
import type { Command, OptionSpec, Values } from './command.js';
import { UsageError } from './errors.js';

/** Options every command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  version: { type: 'boolean', short: 'v' },
};

/** One flag per setting that has one (secrets have none), straight from the settings table. */
export const SETTING_OPTIONS: Record<string, OptionSpec> = Object.fromEntries(
  Object.values(SETTINGS).flatMap((setting) =>
    setting.flag === undefined ? [] : [[setting.flag, { type: 'string' } satisfies OptionSpec]],
  ),
);

export interface CommandLine {
  command: string;
  sub: string | undefined;
  args: string[];
  values: Values;
}

/**
 * Parses the whole command line against every option any command knows (so options may come before
 * or after the command), then refuses an option the chosen command does not take. Unknown options,
 * missing values and values given to switches are refused by parseArgs itself
 * (`ERR_PARSE_ARGS_*`).
 */
export function parseCommandLine(argv: readonly string[], commands: readonly Command[]): CommandLine {
  const options: Record<string, OptionSpec> = { ...SETTING_OPTIONS };
  for (const command of commands) Object.assign(options, command.options);
  Object.assign(options, COMMON_OPTIONS);
  const { values, positionals } = parseArgs({
    args: [...argv],
    options,
    allowPositionals: true,
    strict: true,
  });
  const [command = '', sub, ...args] = positionals;
  // Strings for string options, booleans for switches: parseArgs's type joins both for every name.
  return { command, sub, args, values: values as Values };
}

/** Refuses options that belong to other commands (`tessera keys list --type public`). */
export function checkOptions(line: CommandLine, command: Command): void {
  for (const name of Object.keys(line.values)) {
    if (
      Object.hasOwn(COMMON_OPTIONS, name) ||
      Object.hasOwn(command.options, name) ||
      (command.settings && Object.hasOwn(SETTING_OPTIONS, name))
    )
      continue;
    throw new UsageError(
      `--${name} is not an option of tessera ${command.name}; try tessera ${command.name} --help`,
    );
  }
}

/**
 * The settings given as flags, keyed by flag name, for loadConfig. A command's own option of the
 * same name (`client add --audience`, the client's audiences) is not the setting.
 */
export function settingFlags(values: Values, command: Command): Record<string, string | undefined> {
  const flags: Record<string, string | undefined> = {};
  if (!command.settings) return flags;
  for (const setting of Object.values(SETTINGS)) {
    const flag = setting.flag;
    if (flag === undefined || Object.hasOwn(command.options, flag)) continue;
    const value = values[flag];
    if (Array.isArray(value)) {
      // Another command's option of the same name takes several values; a setting takes one.
      if (value.length > 1) throw new UsageError(`--${flag} takes one value here`);
      flags[flag] = value[0];
    } else if (typeof value === 'string') {
      flags[flag] = value;
    }
  }
  return flags;
}
