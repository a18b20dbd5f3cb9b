// The lease part of the control API: GET /api/v1/leases shows both leases as
// this node sees them (holder, fencing token, time left, whether this node
// acts on it) and how often this node gained and lost each. Read-only: the
// leases follow Raft leadership, so there is nothing for an operator to set.

import { Elysia } from "elysia";
import { Type, type Static } from "@sinclair/typebox";

export const LeaseRow = Type.Object({
  lease: Type.String({ description: "lb_leader or dns_writer." }),
  holder: Type.String({ description: "The holding node; empty when free." }),
  token: Type.Integer({ description: "Fencing token: the Raft index of the current grant; grows with every new grant." }),
  version: Type.Integer({ description: "Raft index of the last grant, renewal or release." }),
  released: Type.Boolean({ description: "The last holder released it (on shutdown)." }),
  acting: Type.Boolean({ description: "This node holds it and may act on it now." }),
  remaining_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: "Time left: exact when this node acts; otherwise estimated from when this node last saw it renewed. Null when free.",
  }),
  takeover_in_ms: Type.Union([Type.Integer(), Type.Null()], {
    description: "This node leads and waits out another node's lease before taking it: time left.",
  }),
  gained: Type.Integer({ description: "Times this node gained it since start." }),
  lost: Type.Integer({ description: "Times this node lost it since start." }),
});

export const LeasesView = Type.Object({
  node: Type.String(),
  timestamp: Type.String(),
  ttl_ms: Type.Integer({ description: "TTL of this node's grants and renewals." }),
  leases: Type.Array(LeaseRow),
  counters: Type.Record(Type.String(), Type.Number()),
});
export type LeasesView = Static<typeof LeasesView>;

export interface LeaseApiSource {
  /** Absent when this agent runs no Raft. */
  readonly leases?: { view(): LeasesView };
}

export function leaseApi(source: LeaseApiSource) {
  return new Elysia({ name: "lease-api" }).get(
    "/api/v1/leases",
    ({ set }) => {
      if (source.leases) return source.leases.view();
      set.status = 503;
      return { error: "leases are not running on this node" };
    },
    { response: { 200: LeasesView, 503: Type.Object({ error: Type.String() }) } },
  );
}
