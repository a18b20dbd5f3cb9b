// Commands that are part of the interface but whose feature is not built in
// this version. They are listed in help so the command set is visible, and
// they say plainly that they are not available instead of pretending.

import { exitFailure, type Command, type CommandKind } from "../command.ts";

function pending(name: string, summary: string, kind: CommandKind, positionals?: string): Command {
  return {
    name,
    summary,
    kind,
    positionals,
    flags: [],
    async run(context) {
      context.err(`constellation ${name}: not available in this version yet (${summary.replace(/\.$/, "").toLowerCase()})\n`);
      return exitFailure;
    },
  };
}

export const pendingCommands: Command[] = [
  pending("dns plan", "Show the DNS changes the dns_writer would make.", "read"),
  pending("cordon", "Stop sending traffic to a node and keep it from leading.", "action", "NODE"),
  pending("uncordon", "Undo cordon.", "action", "NODE"),
  pending("deploy", "Deploy the services defined in a TypeScript stack file.", "action", "STACK_FILE"),
  pending("install", "Install this binary as an agent on a node over SSH.", "action", "USER@HOST"),
];
