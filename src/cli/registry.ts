// Every command the CLI knows, in the order help lists them.

import type { Command } from "./command.ts";
import { agentCommand } from "./commands/agent.ts";
import { configCheckCommand } from "./commands/config-check.ts";
import { keygenCommand } from "./commands/keygen.ts";
import { keyringCommand } from "./commands/keyring.ts";
import { membersCommand } from "./commands/members.ts";
import { nodesCommand, servicesCommand } from "./commands/cluster-views.ts";
import { pendingCommands } from "./commands/pending.ts";
import { statusCommand } from "./commands/status.ts";
import { versionCommand } from "./commands/version.ts";

export const commands: readonly Command[] = [
  agentCommand,
  statusCommand,
  membersCommand,
  nodesCommand,
  servicesCommand,
  ...pendingCommands.filter((c) => c.kind === "read"),
  configCheckCommand,
  keygenCommand,
  keyringCommand,
  ...pendingCommands.filter((c) => c.kind === "action"),
  versionCommand,
];
