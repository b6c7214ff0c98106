#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isJoseError } from '@tessera/jose';
import { ConfigError, loadConfig } from '../config.js';
import { checkOptions, parseCommandLine, settingFlags } from './args.js';
import type { Command } from './command.js';
import { clientCommand } from './commands/client.js';
import { keygenCommand } from './commands/keygen.js';
import { keysCommand } from './commands/keys.js';
import { receiverCommand } from './commands/receiver.js';
import { resourceCommand } from './commands/resource.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { userCommand } from './commands/user.js';
import { CommandFailed, UsageError } from './errors.js';
import { topLevelHelp } from './help.js';
import { createOutput, red } from './output.js';
import { serverVersion } from './version.js';

/** Every command, in the order `tessera --help` lists them. */
export const COMMANDS: readonly Command[] = [
  serveCommand,
  userCommand,
  clientCommand,
  resourceCommand,
  receiverCommand,
  keysCommand,
  tokenCommand,
  keygenCommand,
];

/** Runs `tessera <argv>`; resolves to the exit code. Usage and configuration errors throw. */
export async function main(argv: readonly string[]): Promise<number> {
  const line = parseCommandLine(argv, COMMANDS);
  const { values } = line;
  if (values.version === true) {
    process.stdout.write(
      values.json === true
        ? `${JSON.stringify({ version: serverVersion() })}\n`
        : `tessera ${serverVersion()}\n`,
    );
    return 0;
  }
  // `tessera help user` is `tessera user --help`.
  const name = line.command === 'help' ? (line.sub ?? '') : line.command;
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (name !== '' && !command)
    throw new UsageError(`unknown command ${JSON.stringify(name)}; try tessera --help`);
  if (values.help === true || line.command === 'help' || !command) {
    process.stdout.write(`${command ? command.help() : topLevelHelp(COMMANDS)}\n`);
    // A bare `tessera` shows the usage, and is not a successful run.
    return line.command === '' && values.help !== true ? 1 : 0;
  }
  checkOptions(line, command);
  const flags = settingFlags(values, command);
  return command.run({
    sub: line.sub,
    args: line.args,
    values,
    out: createOutput(values.json === true),
    config: () => loadConfig(process.env, flags),
  });
}

/** Exit codes: 0 done, 1 failed (the command's verdict, or the server could not listen), 2 usage. */
function exit(err: unknown): never {
  const line = (message: string) => process.stderr.write(`${red('error')}: ${message}\n`);
  if (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    // Unknown option, missing or unexpected option value, unexpected positional.
    String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS_')
  ) {
    line((err as Error).message);
    process.exit(2);
  }
  if (err instanceof CommandFailed) {
    line(err.message);
    process.exit(1);
  }
  if (isJoseError(err)) {
    line(`${err.code}: ${err.message}`);
    process.exit(1);
  }
  line((err as Error).stack ?? String(err));
  process.exit(1);
}

/** Runs the command line on this process's arguments and exits with its code (bin/tessera.js). */
export function run(): void {
  main(process.argv.slice(2)).then((code) => process.exit(code), exit);
}

// Run when executed directly (`node dist/cli/main.js serve`, as `npm start` does).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) run();
