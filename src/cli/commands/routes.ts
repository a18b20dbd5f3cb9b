// `constellation routes`: the routing table this agent gives its Traefik, one
// line per backend under each host, with its health, whether it gets traffic
// and where that traffic goes (or why it gets none), then any labels or
// records that could not be routed as written.

import { exitOk, type Command } from "../command.ts";
import { getJson } from "../api-client.ts";
import { table } from "./members.ts";
import { describeProblem, type RoutesResponse } from "../../routing/table.ts";

export const routesCommand: Command = {
  name: "routes",
  summary: "Show the Traefik routes this agent serves: host -> backends with health, and routing problems.",
  kind: "read",
  details:
    "HTTP and TCP services answer at <service>.<domain> (all served instances) and <service>.<node>.<domain> (one\n" +
    "instance); other nodes' instances are reached through their Traefik's mesh entry point. An instance gets no\n" +
    "traffic when it is unhealthy or stopped, its node is cordoned, or it cannot be reached; its host then answers 503.",
  flags: [],
  async run(context) {
    const response = (await getJson(context, "/api/v1/routes")) as RoutesResponse;
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(response, null, 2)}\n`), exitOk;
    context.out(`node ${response.node}, domain ${response.domain}, mesh entry point "${response.mesh.entry_point}" on port ${response.mesh.port}\n\n`);
    if (response.routes.length === 0) context.out("no routed services (containers opt in with the label traefik.enable=true)\n");
    else context.out(table(["HOST", "PROTOCOL", "ROUTER", "NODE", "STATUS", "TRAFFIC", "TARGET"], routeRows(response)));
    const problemCount = response.problems.length + response.problems_dropped;
    if (problemCount > 0) {
      context.out(`\n${problemCount} routing problem${problemCount === 1 ? "" : "s"}:\n`);
      for (const problem of response.problems) context.out(`  ${describeProblem(problem)}\n`);
      if (response.problems_dropped > 0) context.out(`  ... and ${response.problems_dropped} more\n`);
    }
    return exitOk;
  },
};

function routeRows(response: RoutesResponse): string[][] {
  const rows: string[][] = [];
  for (const route of response.routes) {
    route.backends.forEach((backend, index) => {
      const first = index === 0;
      rows.push([
        first ? route.host : "",
        first ? route.protocol : "",
        first ? route.router : "",
        backend.node,
        backend.status,
        backend.serving ? "yes" : "no",
        backend.serving ? `${backend.target} (${backend.via})` : (backend.reason ?? "-"),
      ]);
    });
  }
  return rows;
}
