// `constellation config check`: validate the configuration from every source
// and print the effective values with where each came from. Secret values are
// never printed (only the paths of the files that hold them, and whether those
// files are safe to use).

import { statSync } from "node:fs";
import { configFileFlag, configFlags, configOverrides } from "../agent-flags.ts";
import { exitFailure, exitOk, jsonFlag, type Command } from "../command.ts";
import { loadConfigFromEnvironment } from "../load-config.ts";

function secretFileState(path: string): string {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return "not a regular file";
    if ((stat.mode & 0o077) !== 0) return `present but readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600`;
    return "present";
  } catch {
    return "absent";
  }
}

export const configCheckCommand: Command = {
  name: "config check",
  summary: "Validate the configuration and print the effective values and their sources.",
  kind: "action",
  details:
    "Sources, lowest precedence first: defaults (from the profile), the JSON file (--config, CONSTELLATION_CONFIG\n" +
    "or CONFIG_FILE), environment variables (CONSTELLATION_<KEY> such as CONSTELLATION_GOSSIP_PROBE_INTERVAL_MS,\n" +
    "and the original agent's TS_HOSTNAME, DOMAIN, PUBLIC_IP, NODE_PRIORITY, BIND_PORT, RAFT_PORT, API_PORT,\n" +
    "TRAEFIK_HTTP_PROVIDER_PORT, TRAEFIK_CERT_RESOLVER, CLOUDFLARE_ZONE_ID, DATA_DIR, SECRETS_PATH, STACK_NAME),\n" +
    "then flags. Exits 1 with every problem listed when the configuration is invalid.",
  flags: [...configFlags, jsonFlag],
  async run(context) {
    const loaded = loadConfigFromEnvironment(context.env, configOverrides(context), configFileFlag(context));
    // The configuration names secret files, never secret values, so it is shown as it is.
    const config = loaded.config;
    const secrets: Record<string, string> = {
      apiTokenFile: secretFileState(config.apiTokenFile),
      "cloudflare.apiTokenFile": secretFileState(config.cloudflare.apiTokenFile),
    };
    if (config.gossipKeyFile) secrets.gossipKeyFile = secretFileState(config.gossipKeyFile);
    const unsafe = Object.values(secrets).some((state) => state.includes("readable by group"));
    if (context.args.flags.get("json")) {
      context.out(`${JSON.stringify({ config, sources: loaded.sources, secret_files: secrets }, null, 2)}\n`);
      return unsafe ? exitFailure : exitOk;
    }
    const rows = Object.entries(loaded.sources)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([path, source]) => {
        let value: unknown = config;
        for (const part of path.split(".")) value = (value as Record<string, unknown>)[part];
        return `${path} = ${JSON.stringify(value)}`.padEnd(56) + `  # ${source}`;
      });
    const secretRows = Object.entries(secrets).map(([key, state]) => `${key}: ${state}`);
    context.out(`configuration is valid\n\n${rows.join("\n")}\n\nsecret files:\n  ${secretRows.join("\n  ")}\n`);
    if (unsafe) context.err("some secret files are readable by other users; the agent refuses to read them\n");
    return unsafe ? exitFailure : exitOk;
  },
};
