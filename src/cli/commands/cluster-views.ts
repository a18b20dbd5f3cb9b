// `constellation nodes` and `constellation services`: the replicated cluster
// state as this agent sees it (live nodes only).

import { exitOk, type Command } from "../command.ts";
import { getJson } from "../api-client.ts";
import { table } from "./members.ts";
import type { NodesResponse, ServicesResponse } from "../../api/models.ts";

export const nodesCommand: Command = {
  name: "nodes",
  summary: "List live nodes with their replicated metadata (IPs, priority, cordon).",
  kind: "read",
  flags: [],
  async run(context) {
    const response = (await getJson(context, "/api/v1/nodes")) as NodesResponse;
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(response, null, 2)}\n`), exitOk;
    const rows = Object.values(response.nodes)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => [n.name, n.tailscale_ip || "-", n.public_ip || "-", String(n.priority), n.cordoned ? "yes" : "no", n.capabilities.join(",") || "-"]);
    context.out(table(["NAME", "TAILSCALE IP", "PUBLIC IP", "PRIORITY", "CORDONED", "CAPABILITIES"], rows));
    return exitOk;
  },
};

export const servicesCommand: Command = {
  name: "services",
  summary: "List service instances on live nodes with their health, endpoints and failures.",
  kind: "read",
  flags: [],
  async run(context) {
    const response = (await getJson(context, "/api/v1/services")) as ServicesResponse;
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(response, null, 2)}\n`), exitOk;
    const rows = Object.entries(response.service_health)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, s]) => [s.service_name, s.node_name, s.status, String(s.consecutive_failures), Object.values(s.endpoints).join(" ") || "-", s.checked_at]);
    if (rows.length === 0) context.out("no service instances on live nodes\n");
    else context.out(table(["SERVICE", "NODE", "STATUS", "FAILURES", "ENDPOINTS", "CHECKED"], rows));
    const warp = Object.values(response.warp_health);
    if (warp.length > 0) {
      context.out(`\n${table(["WARP NODE", "HEALTHY", "EGRESS IP", "CHECKED"], warp.map((w) => [w.node_name, w.healthy ? "yes" : "no", w.egress_ip ?? "-", w.checked_at]))}`);
    }
    return exitOk;
  },
};
