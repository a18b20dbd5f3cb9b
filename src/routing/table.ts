// The routing table a person reads (`constellation routes`, GET
// /api/v1/routes): each public host with its backends, their health, where
// this node sends their traffic, and why an instance gets none. Written from
// the same plan as the Traefik document, so it shows what Traefik is told.
// The TypeBox model is the single source of the response's type.

import { Type, type Static } from "@sinclair/typebox";
import { ServiceStatus } from "../state/model.ts";
import { assertNever } from "../lib/assert.ts";
import type { Exclusion, PlannedBackend, RoutingPlan } from "./plan.ts";
import { objectNames } from "./plan.ts";

export const RouteBackendView = Type.Object({
  node: Type.String(),
  status: ServiceStatus,
  via: Type.Union([Type.Literal("local"), Type.Literal("mesh"), Type.Literal("host-port")], {
    description: "local: container address; mesh: the node's Traefik mesh entry point; host-port: the port the container publishes on its node.",
  }),
  target: Type.Union([Type.String(), Type.Null()], { description: "Where this node sends the traffic, when it knows." }),
  serving: Type.Boolean(),
  reason: Type.Union([Type.String(), Type.Null()], { description: "Why the instance gets no traffic; null when serving." }),
});
export type RouteBackendView = Static<typeof RouteBackendView>;

export const RouteView = Type.Object({
  host: Type.String({ description: "Host name (HTTP, TCP), or udp:<entry points> for UDP, which has no host." }),
  protocol: Type.Union([Type.Literal("http"), Type.Literal("tcp"), Type.Literal("udp")]),
  kind: Type.Union([Type.Literal("failover"), Type.Literal("direct"), Type.Literal("udp")]),
  router: Type.String(),
  entry_points: Type.Array(Type.String()),
  middlewares: Type.Array(Type.String()),
  backends: Type.Array(RouteBackendView),
});
export type RouteView = Static<typeof RouteView>;

export const RoutingProblemView = Type.Object({
  service: Type.Optional(Type.String()),
  node: Type.Optional(Type.String()),
  label: Type.Optional(Type.String()),
  message: Type.String(),
});

export const RoutesResponse = Type.Object({
  node: Type.String({ description: "The node whose Traefik this table describes." }),
  domain: Type.String(),
  mesh: Type.Object({ entry_point: Type.String(), port: Type.Integer() }),
  routes: Type.Array(RouteView),
  problems: Type.Array(RoutingProblemView, { description: "Labels and records that could not be routed as written." }),
  problems_dropped: Type.Integer({ minimum: 0 }),
});
export type RoutesResponse = Static<typeof RoutesResponse>;

/** One line for a person: "<service>@<node> <label>: <message>". */
export function describeProblem(problem: Static<typeof RoutingProblemView>): string {
  const instance = problem.service && problem.node ? `${problem.service}@${problem.node}` : (problem.service ?? (problem.node ? `node ${problem.node}` : ""));
  const where = [instance, problem.label].filter((part) => part).join(" ");
  return where ? `${where}: ${problem.message}` : problem.message;
}

export function exclusionReason(exclusion: Exclusion): string {
  switch (exclusion) {
    case "unknown-node":
      return "its node has published no metadata yet";
    case "stopped":
      return "stopped";
    case "unhealthy":
      return "unhealthy";
    case "cordoned":
      return "node is cordoned";
    case "no-address":
      return "no valid endpoint address";
    case "no-mesh-address":
      return "node has no valid Tailscale address";
    case "no-host-port":
      return "no constellation.udp.hostport label, so other nodes cannot reach it";
    default:
      return assertNever(exclusion, "exclusion");
  }
}

function backendView(backend: PlannedBackend): RouteBackendView {
  return {
    node: backend.node,
    status: backend.status,
    via: backend.via,
    target: backend.target ?? null,
    serving: backend.exclusion === undefined,
    reason: backend.exclusion === undefined ? null : exclusionReason(backend.exclusion),
  };
}

export function routesTable(plan: RoutingPlan): RoutesResponse {
  const { options } = plan;
  const routes: RouteView[] = [];
  for (const service of plan.services) {
    const host = `${service.name}.${options.domain}`;
    for (const [protocol, planned] of [["http", service.http], ["tcp", service.tcp]] as const) {
      if (!planned) continue;
      const entryPoints = [...(planned.settings.entryPoints ?? options.entryPoints)];
      const middlewares = protocol === "http" ? [...service.http!.settings.middlewares] : [];
      const failover = protocol === "http" ? objectNames.httpFailover(service.name) : objectNames.tcpFailover(service.name);
      routes.push({ host, protocol, kind: "failover", router: failover, entry_points: entryPoints, middlewares, backends: planned.backends.map(backendView) });
      for (const backend of planned.backends) {
        if (!backend.direct) continue;
        routes.push({ host: backend.direct.host, protocol, kind: "direct", router: backend.direct.name, entry_points: entryPoints, middlewares, backends: [backendView(backend)] });
      }
    }
    if (service.udp) {
      const entryPoints = [...service.udp.settings.entryPoints];
      routes.push({ host: `udp:${entryPoints.join(",")}`, protocol: "udp", kind: "udp", router: objectNames.udp(service.name), entry_points: entryPoints, middlewares: [], backends: service.udp.backends.map(backendView) });
    }
  }
  routes.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
  return {
    node: options.nodeName,
    domain: options.domain,
    mesh: { entry_point: options.meshEntryPoint, port: options.meshPort },
    routes,
    problems: plan.problems.map((problem) => ({ ...problem })),
    problems_dropped: plan.problemsDropped,
  };
}
