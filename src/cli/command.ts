// What a CLI command is. Commands are small objects in a registry; main.ts
// parses flags against each command's declared list, so every command gets
// the same --help, exit codes and error style.
//
// Exit codes: 0 success, 1 failure (the command ran and something went
// wrong), 2 usage (the command line itself is wrong).

import type { FlagSpec, ParsedArgs } from "./args.ts";

export const exitOk = 0;
export const exitFailure = 1;
export const exitUsage = 2;

export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
}

export interface CommandContext extends CommandIo {
  args: ParsedArgs;
}

export type CommandKind =
  /** Reads a running agent's state through its control API; has --api and --json. */
  | "read"
  /** Does something locally or against an agent. */
  | "action";

export interface Command {
  /** One or two words, e.g. "status" or "config check". */
  name: string;
  summary: string;
  kind: CommandKind;
  /** Extra help text shown under the usage line. */
  details?: string;
  /** Positional arguments shown in the usage line, e.g. "STACK_FILE". */
  positionals?: string;
  flags: FlagSpec[];
  run(context: CommandContext): Promise<number>;
}

export const helpFlag: FlagSpec = { name: "help", kind: "boolean", description: "Show this help and exit." };
export const jsonFlag: FlagSpec = { name: "json", kind: "boolean", description: "Print machine-readable JSON." };
export const apiFlag: FlagSpec = {
  name: "api",
  kind: "string",
  value: "URL",
  description: "Control API of the agent to ask. Default: the local agent, http://<bindAddr>:<apiPort> from the configuration.",
};
export const configFlag: FlagSpec = {
  name: "config",
  kind: "string",
  value: "PATH",
  description: "JSON configuration file (also CONSTELLATION_CONFIG or CONFIG_FILE).",
};

/** The flags a command accepts, including the ones every command of its kind gets. */
export function flagsOf(command: Command): FlagSpec[] {
  const common = command.kind === "read" ? [helpFlag, jsonFlag, apiFlag, configFlag] : [helpFlag];
  const own = command.flags.filter((flag) => !common.some((c) => c.name === flag.name));
  return [...own, ...common];
}
