// Flags that set configuration keys. `agent` and `config check` share them,
// so `constellation config check <same flags>` shows exactly what the agent
// would run with.

import type { FlagSpec } from "./args.ts";
import { configFlag, type CommandContext } from "./command.ts";

export const configKeyFlags: FlagSpec[] = [
  { name: "profile", kind: "string", value: "lan|wan|local", configPath: "profile", description: "Timing profile (default lan)." },
  { name: "node-name", kind: "string", value: "NAME", configPath: "nodeName", description: "This node's name (default: hostname; env TS_HOSTNAME)." },
  { name: "bind-addr", kind: "string", value: "IP", configPath: "bindAddr", description: "Address to bind every socket to (default 127.0.0.1)." },
  { name: "advertise-addr", kind: "string", value: "IP", configPath: "advertiseAddr", description: "Address other nodes use to reach this one (default: bind address)." },
  { name: "gossip-port", kind: "integer", value: "PORT", configPath: "gossipPort", description: "Gossip port, UDP and TCP (default 7946; env BIND_PORT)." },
  { name: "raft-port", kind: "integer", value: "PORT", configPath: "raftPort", description: "Raft port (default 8300; env RAFT_PORT)." },
  { name: "api-port", kind: "integer", value: "PORT", configPath: "apiPort", description: "Control API port (default 8080; env API_PORT)." },
  { name: "provider-port", kind: "integer", value: "PORT", configPath: "providerPort", description: "Traefik provider port (default 8081; env TRAEFIK_HTTP_PROVIDER_PORT)." },
  { name: "join", kind: "list", value: "HOST:PORT,...", configPath: "join", description: "Seed members to join." },
  { name: "data-dir", kind: "string", value: "DIR", configPath: "dataDir", description: "State directory (default /opt/constellation/data as root; env DATA_DIR)." },
  { name: "domain", kind: "string", value: "DOMAIN", configPath: "domain", description: "Domain services are published under (default localhost; env DOMAIN)." },
  { name: "public-ip", kind: "string", value: "IP", configPath: "publicIp", description: "Public IP for DNS records (env PUBLIC_IP)." },
  { name: "bootstrap-expect", kind: "integer", value: "N", configPath: "bootstrapExpect", description: "Raft members to wait for before bootstrapping (default 1)." },
  { name: "max-voters", kind: "integer", value: "N", configPath: "maxVoters", description: "Most Raft voters, odd (default 5)." },
  { name: "priority", kind: "integer", value: "N", configPath: "priority", description: "Leadership preference, lower wins (default 100; env NODE_PRIORITY)." },
  { name: "gossip-key-file", kind: "string", value: "PATH", configPath: "gossipKeyFile", description: "Keyring file that enables gossip and Raft encryption." },
  { name: "log-level", kind: "string", value: "LEVEL", configPath: "logLevel", description: "debug, info, warn or error (default info)." },
];

export const configFlags: FlagSpec[] = [configFlag, ...configKeyFlags];

/** The configuration keys set on the command line, keyed by config path. */
export function configOverrides(context: CommandContext): Record<string, string | number | boolean | string[]> {
  const overrides: Record<string, string | number | boolean | string[]> = {};
  for (const flag of configKeyFlags) {
    const value = context.args.flags.get(flag.name);
    if (value !== undefined && flag.configPath) overrides[flag.configPath] = value;
  }
  return overrides;
}

export function configFileFlag(context: CommandContext): string | undefined {
  const value = context.args.flags.get("config");
  return typeof value === "string" ? value : undefined;
}
