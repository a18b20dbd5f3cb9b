// `constellation keygen`: a new random 32-byte key (AES-256) for the gossip and
// Raft keyring, base64 encoded like memberlist and Consul keys.

import { randomBytes } from "node:crypto";
import { exitOk, type Command } from "../command.ts";

export const keygenCommand: Command = {
  name: "keygen",
  summary: "Print a new random 32-byte base64 key for the gossip and Raft keyring.",
  kind: "action",
  details: "Put it in a file readable only by root (chmod 600) and pass it to every agent with --gossip-key-file.",
  flags: [],
  async run(context) {
    context.out(`${randomBytes(32).toString("base64")}\n`);
    return exitOk;
  },
};
