// The control API (default port 8080): health, status, membership, the
// routing table, Raft (raft-api.ts) and the keyring. Controllers are thin:
// they call plain functions on the source the agent hands in. Mutations need
// the bearer token (see auth.ts).

import { Elysia } from "elysia";
import { ErrorResponse, GossipStats, KeyringChange, KeyringView, MembersResponse, NodesResponse, ServicesResponse, StatusView } from "./models.ts";
import type { ClusterView } from "../state/model.ts";
import type { MutationAuth } from "./auth.ts";
import { RoutesResponse } from "../routing/table.ts";
import { raftApi, type RaftControl } from "./raft-api.ts";
import { leaseApi, type LeasesView } from "./lease-api.ts";

export type KeyringOperation = "install" | "use" | "remove";

export interface ControlSource {
  status(): StatusView;
  /** undefined while gossip is not running. */
  members(): MembersResponse | undefined;
  /** undefined while gossip is not running. */
  gossipStats(): GossipStats | undefined;
  keyring(): KeyringView;
  cluster(): ClusterView;
  changeKeyring(operation: KeyringOperation, keyBase64: string): { ok: true; keyring: KeyringView } | { ok: false; error: string };
  /**
   * The routing table this node's Traefik is given; undefined until the node
   * has a routing document. Absent while routing is not part of the agent.
   */
  routes?(): RoutesResponse | undefined;
  /** Raft status, peers and peer removal (raft-api.ts); absent while Raft is not part of the agent. */
  readonly raft?: RaftControl;
  /** The lease view (lease-api.ts); absent while Raft is not part of the agent. */
  readonly leases?: { view(): LeasesView };
  readonly auth: MutationAuth;
}

export function controlApi(source: ControlSource) {
  return new Elysia({ name: "control-api" })
    .use(raftApi(source))
    .use(leaseApi(source))
    .get("/health", () => ({ status: "ok" }))
    .get("/api/v1/status", () => source.status(), { response: StatusView })
    .get(
      "/api/v1/members",
      ({ set }) => {
        const members = source.members();
        if (members) return members;
        set.status = 503;
        return { error: "gossip is not running on this node" };
      },
      { response: { 200: MembersResponse, 503: ErrorResponse } },
    )
    .get(
      "/api/v1/gossip",
      ({ set }) => {
        const stats = source.gossipStats();
        if (stats) return stats;
        set.status = 503;
        return { error: "gossip is not running on this node" };
      },
      { response: { 200: GossipStats, 503: ErrorResponse } },
    )
    .get("/api/v1/nodes", () => ({ nodes: source.cluster().nodes }), { response: NodesResponse })
    .get("/api/v1/nodes/:name", ({ params, set }) => {
      const node = source.cluster().nodes[params.name];
      if (node) return node;
      set.status = 404;
      return { error: `no live node named "${params.name}"` };
    })
    .get("/api/v1/services", () => {
      const view = source.cluster();
      return { service_health: view.service_health, warp_health: view.warp_health };
    }, { response: ServicesResponse })
    .get("/api/v1/services/:name", ({ params, set }) => {
      const instances = Object.fromEntries(
        Object.entries(source.cluster().service_health).filter(([, health]) => health.service_name === params.name),
      );
      if (Object.keys(instances).length > 0) return { service_health: instances };
      set.status = 404;
      return { error: `no instance of a service named "${params.name}" on a live node` };
    })
    .get(
      "/api/v1/routes",
      ({ set }) => {
        const routes = source.routes?.();
        if (routes) return routes;
        set.status = 503;
        return {
          error: source.routes
            ? "no routing table yet: cluster state has not been synchronised on this node"
            : "routing is not running on this node",
        };
      },
      { response: { 200: RoutesResponse, 503: ErrorResponse } },
    )
    .get("/api/v1/keyring", () => source.keyring(), { response: KeyringView })
    .post(
      "/api/v1/keyring/:operation",
      ({ params, body, request, set }) => {
        const denied = source.auth.check(request.headers.get("authorization"));
        if (denied) {
          set.status = denied[0];
          return { error: denied[1] };
        }
        const operation = params.operation;
        if (operation !== "install" && operation !== "use" && operation !== "remove") {
          set.status = 404;
          return { error: `unknown keyring operation "${operation}"; use install, use or remove` };
        }
        const result = source.changeKeyring(operation, body.key);
        if (!result.ok) {
          set.status = 400;
          return { error: result.error };
        }
        return result.keyring;
      },
      { body: KeyringChange },
    );
}
