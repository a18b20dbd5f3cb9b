// `constellation containers`: this node's containers as its agent's monitor
// sees them (service, health, failures, restarts in the last hour, label
// problems), the recent restart decisions, the Docker connection and the
// WARP gateway's verdict.

import { exitOk, type Command } from "../command.ts";
import { getJson } from "../api-client.ts";
import { table } from "./members.ts";
import type { ContainersResponse } from "../../api/docker-api.ts";

/** Restart history lines shown; --json has them all. */
const historyShownMax = 20;

export const containersCommand: Command = {
  name: "containers",
  summary: "Show this node's containers: service, health, failures, restarts and label problems, with the restart history.",
  kind: "read",
  details:
    "A container is published as the service its constellation.service label names, else its com.docker.compose.service\n" +
    "label, else its whole container name. Exited one-shot containers (restart policy no, exit code 0) are not services.\n" +
    "Containers labelled deunhealth.restart.on.unhealthy=true are restarted when unhealthy, with backoff and an hourly budget.",
  flags: [],
  async run(context) {
    const response = (await getJson(context, "/api/v1/containers")) as ContainersResponse;
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(response, null, 2)}\n`), exitOk;
    const docker = response.docker;
    const extras = [docker.scope ? `scope ${docker.scope}` : "", docker.dry_run ? "restarts in dry-run" : ""].filter((x) => x !== "");
    context.out(`node ${response.node}: Docker ${docker.state} (${docker.socket}) since ${docker.since}${extras.length > 0 ? `, ${extras.join(", ")}` : ""}\n`);
    if (docker.state !== "connected") context.out(`  ${docker.detail}\n`);
    context.out("\n");
    if (response.containers.length === 0) context.out("no containers\n");
    else context.out(table(["NAME", "SERVICE", "STATUS", "PHASE", "FAILURES", "RESTARTS/H", "ENDPOINTS", "NOTES"], containerRows(response)));
    const problems = response.containers.filter((c) => c.problems.length > 0);
    if (problems.length > 0) {
      context.out("\nproblems:\n");
      for (const container of problems) for (const problem of container.problems) context.out(`  ${container.name}: ${problem}\n`);
    }
    const history = response.restart_history.slice(-historyShownMax);
    if (history.length > 0) {
      context.out(`\nrestart history (latest ${history.length} of ${response.restart_history.length}):\n`);
      context.out(table(["TIME", "CONTAINER", "ACTION", "ATTEMPT", "DETAIL"], history.map((e) => [e.at, e.container, e.action, String(e.attempt), e.detail])));
    }
    if (response.warp) {
      const warp = response.warp;
      context.out(`\nWARP: ${warp.healthy ? "healthy" : "unhealthy"}${warp.egress_ip ? `, egress ${warp.egress_ip}` : ""} (${warp.detail ?? "-"}), checked ${warp.checked_at}\n`);
    }
    return exitOk;
  },
};

function containerRows(response: ContainersResponse): string[][] {
  return response.containers.map((c) => {
    const notes = [
      c.published || c.service === null || c.status === null ? "" : "not published",
      c.restart_on_unhealthy ? "auto-restart" : "",
      c.next_restart_at ? `next restart ${c.next_restart_at}` : "",
      c.problems.length > 0 ? `${c.problems.length} problem${c.problems.length === 1 ? "" : "s"}` : "",
    ].filter((note) => note !== "");
    return [
      c.name,
      c.service ?? "-",
      c.status ?? "-",
      c.phase,
      String(c.consecutive_failures),
      String(c.restarts_last_hour),
      Object.values(c.endpoints).join(" ") || "-",
      notes.join(", ") || "-",
    ];
  });
}
