// Help text for the whole CLI and for each command.

import { flagsOf, type Command } from "./command.ts";
import type { FlagSpec } from "./args.ts";

function flagLine(flag: FlagSpec): string {
  const head = flag.kind === "boolean" ? `--${flag.name}` : `--${flag.name} ${flag.value ?? flag.kind.toUpperCase()}`;
  return `  ${head.padEnd(30)} ${flag.description}`;
}

export function commandHelp(command: Command): string {
  const lines = [
    `Usage: constellation ${command.name}${command.positionals ? ` ${command.positionals}` : ""} [flags]`,
    "",
    command.summary,
  ];
  if (command.details) lines.push("", command.details);
  lines.push("", "Flags:", ...flagsOf(command).map(flagLine));
  return `${lines.join("\n")}\n`;
}

export function mainHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "constellation: a masterless cluster agent and its operator CLI.",
    "",
    "Usage: constellation <command> [flags]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    "",
    "Flags for every command: --help. Read commands also take --json and --api URL.",
    "constellation --version prints the version. Exit codes: 0 ok, 1 failure, 2 usage error.",
    "",
  ].join("\n");
}
