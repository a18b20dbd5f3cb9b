// `constellation status`: what the agent knows about itself and the cluster.

import { exitOk, type Command } from "../command.ts";
import { getJson } from "../api-client.ts";
import type { StatusView } from "../../api/models.ts";


export const statusCommand: Command = {
  name: "status",
  summary: "Show the agent's node, version, uptime and the state of each component.",
  kind: "read",
  flags: [],
  async run(context) {
    const status = (await getJson(context, "/api/v1/status")) as StatusView;
    if (context.args.flags.get("json")) {
      context.out(`${JSON.stringify(status, null, 2)}\n`);
      return exitOk;
    }
    const lines = [
      `node:     ${status.node}`,
      `version:  ${status.version} (commit ${status.commit})`,
      `profile:  ${status.profile}`,
      `started:  ${status.started_at} (up ${status.uptime_seconds} s)`,
      `cluster:  ${status.cluster.nodes} nodes, ${status.cluster.healthy_services}/${status.cluster.services} services healthy, state version ${status.cluster.state_version}`,
      "components:",
      ...Object.entries(status.components ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, state]) => `  ${name.padEnd(10)} ${state}`),
    ];
    context.out(`${lines.join("\n")}\n`);
    return exitOk;
  },
};
