// Dispatch: find the command, parse its flags, run it, and turn errors into
// exit codes. Kept apart from main.ts so tests can run the CLI in-process.

import { parseArgs, UsageError } from "./args.ts";
import { exitFailure, exitOk, exitUsage, flagsOf, type Command, type CommandIo } from "./command.ts";
import { commandHelp, mainHelp } from "./help.ts";
import { commands } from "./registry.ts";
import { ApiError } from "./api-client.ts";
import { ConfigError } from "../config/load.ts";
import { versionLine } from "../version.ts";

function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  const two = `${argv[0]} ${argv[1]}`;
  const byTwo = commands.find((c) => c.name === two);
  if (byTwo) return { command: byTwo, rest: argv.slice(2) };
  const byOne = commands.find((c) => c.name === argv[0]);
  if (byOne) return { command: byOne, rest: argv.slice(1) };
  return undefined;
}

export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  const first = argv[0];
  if (first === undefined) {
    io.err(mainHelp(commands));
    return exitUsage;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const topic = argv.slice(1);
    const found = topic.length > 0 ? findCommand(topic) : undefined;
    io.out(found ? commandHelp(found.command) : mainHelp(commands));
    return exitOk;
  }
  if (first === "--version" || first === "-v") {
    io.out(`${versionLine()}\n`);
    return exitOk;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `)).map((c) => c.name);
    const hint = group.length > 0 ? `; did you mean ${group.join(", ")}?` : "; run `constellation --help` for the list";
    io.err(`constellation: unknown command "${argv.slice(0, group.length > 0 ? 2 : 1).join(" ")}"${hint}\n`);
    return exitUsage;
  }
  const { command, rest } = found;
  try {
    const args = parseArgs(rest, flagsOf(command));
    if (args.flags.get("help")) {
      io.out(commandHelp(command));
      return exitOk;
    }
    if (args.positionals.length > 0 && !command.positionals) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    return await command.run({ ...io, args });
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`constellation ${command.name}: ${error.message}\nRun \`constellation ${command.name} --help\` for usage.\n`);
      return exitUsage;
    }
    if (error instanceof ConfigError || error instanceof ApiError) {
      io.err(`constellation ${command.name}: ${error.message}\n`);
      return exitFailure;
    }
    io.err(`constellation ${command.name}: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return exitFailure;
  }
}
