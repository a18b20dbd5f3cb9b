// Every command the CLI knows, in the order help lists them.

import type { Command } from "./command.ts";
import { agentCommand } from "./commands/agent.ts";
import { configCheckCommand } from "./commands/config-check.ts";
import { containersCommand } from "./commands/containers.ts";
import { keygenCommand } from "./commands/keygen.ts";
import { leasesCommand } from "./commands/leases.ts";
import { keyringCommand } from "./commands/keyring.ts";
import { membersCommand } from "./commands/members.ts";
import { nodesCommand, servicesCommand } from "./commands/cluster-views.ts";
import { pendingCommands } from "./commands/pending.ts";
import { raftPeersCommand, raftRecoverCommand, raftRemovePeerCommand } from "./commands/raft.ts";
import { routesCommand } from "./commands/routes.ts";
import { statusCommand } from "./commands/status.ts";
import { versionCommand } from "./commands/version.ts";

export const commands: readonly Command[] = [
  agentCommand,
  statusCommand,
  membersCommand,
  nodesCommand,
  servicesCommand,
  containersCommand,
  routesCommand,
  raftPeersCommand,
  leasesCommand,
  ...pendingCommands.filter((c) => c.kind === "read"),
  configCheckCommand,
  keygenCommand,
  keyringCommand,
  raftRemovePeerCommand,
  raftRecoverCommand,
  ...pendingCommands.filter((c) => c.kind === "action"),
  versionCommand,
];
