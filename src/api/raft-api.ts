// The Raft part of the control API, as one Elysia plugin: status and leader
// (the original agent's paths; `leader` is the leader's node name), the peer
// list, and removing a peer (a mutation: bearer token). Models are TypeBox,
// shared with the CLI. Controllers are thin: the agent's Raft service does
// the work and says why it refuses.

import { Elysia } from "elysia";
import { Type, type Static } from "@sinclair/typebox";
import type { MutationAuth } from "./auth.ts";
import { nodeIdLengthMax } from "../raft/index.ts";

const GossipState = Type.Union([Type.Literal("alive"), Type.Literal("suspect"), Type.Literal("dead"), Type.Literal("left"), Type.Literal("unknown")]);
const Role = Type.Union([Type.Literal("follower"), Type.Literal("pre-candidate"), Type.Literal("candidate"), Type.Literal("leader")]);

export const RaftPeerProgress = Type.Object({
  match: Type.Integer({ description: "Highest log index known to be replicated on the peer." }),
  next: Type.Integer({ description: "Next log index the leader sends it." }),
  state: Type.String({ description: "probe, replicate or snapshot." }),
  recent_active: Type.Boolean(),
  is_learner: Type.Boolean(),
});

export const RaftStatusView = Type.Object({
  is_leader: Type.Boolean(),
  leader: Type.String({ description: "The leader's node name; empty while none is known." }),
  timestamp: Type.String({ description: "When this answer was made, ISO 8601." }),
  node: Type.String({ description: "This node's Raft id (its node name)." }),
  state: Type.Union([Type.Literal("starting"), Type.Literal("running"), Type.Literal("failed"), Type.Literal("stopped")]),
  error: Type.Optional(Type.String({ description: "Why Raft stopped on this node, when it failed." })),
  cluster_id: Type.Union([Type.String(), Type.Null()], { description: "The cluster this node belongs to; null before it belongs to one." }),
  waiting: Type.Optional(Type.String({ description: "What this node waits for before it belongs to a cluster." })),
  role: Role,
  term: Type.Integer(),
  voters: Type.Array(Type.String()),
  learners: Type.Array(Type.String()),
  commit_index: Type.Integer(),
  applied_index: Type.Integer(),
  first_index: Type.Integer(),
  last_index: Type.Integer(),
  snapshot_index: Type.Integer(),
  peers: Type.Record(Type.String(), RaftPeerProgress, { description: "Replication progress of every other member (leader only)." }),
  counters: Type.Record(Type.String(), Type.Number(), { description: "Messages and actions since start." }),
});
export type RaftStatusView = Static<typeof RaftStatusView>;

export const RaftLeaderView = Type.Object({
  leader: Type.String({ description: "The leader's node name; empty while none is known." }),
  term: Type.Integer(),
  timestamp: Type.String(),
});
export type RaftLeaderView = Static<typeof RaftLeaderView>;

export const RaftPeerView = Type.Object({
  id: Type.String(),
  suffrage: Type.Union([Type.Literal("voter"), Type.Literal("learner")]),
  leader: Type.Boolean(),
  self: Type.Boolean(),
  gossip: GossipState,
  address: Type.Union([Type.String(), Type.Null()], { description: "ip:port of its Raft listener, from gossip." }),
  priority: Type.Union([Type.Integer(), Type.Null()]),
  match: Type.Union([Type.Integer(), Type.Null()], { description: "Replicated index (known on the leader only)." }),
});
export type RaftPeerView = Static<typeof RaftPeerView>;

export const RaftPeersView = Type.Object({
  self: Type.String(),
  leader: Type.String(),
  term: Type.Integer(),
  cluster_id: Type.Union([Type.String(), Type.Null()]),
  last_index: Type.Integer(),
  peers: Type.Array(RaftPeerView, { description: "Voters then learners, each sorted by id." }),
});
export type RaftPeersView = Static<typeof RaftPeersView>;

export const RemovePeerRequest = Type.Object({
  id: Type.String({ minLength: 1, maxLength: nodeIdLengthMax, description: "The node to remove." }),
  force: Type.Optional(Type.Boolean({ description: "Remove it even though gossip says it is alive (or it is this node)." })),
});
export type RemovePeerRequest = Static<typeof RemovePeerRequest>;

export const RemovePeerAccepted = Type.Object({
  id: Type.String(),
  index: Type.Integer({ description: "Log index of the new configuration; it takes effect once committed." }),
  term: Type.Integer(),
});
export type RemovePeerAccepted = Static<typeof RemovePeerAccepted>;

export const RaftErrorResponse = Type.Object({
  error: Type.String(),
  leader: Type.Optional(Type.String({ description: "The leader's node name, when this node is not it." })),
  leader_api: Type.Optional(Type.String({ description: "The leader's control API, to send the request there." })),
});
export type RaftErrorResponse = Static<typeof RaftErrorResponse>;

export type RemovePeerResult = { ok: true; accepted: RemovePeerAccepted } | { ok: false; status: number; error: RaftErrorResponse };

/** What the agent's Raft service offers the API. */
export interface RaftControl {
  status(): RaftStatusView;
  leader(): RaftLeaderView;
  peers(): RaftPeersView;
  removePeer(id: string, force: boolean): RemovePeerResult;
}

export interface RaftApiSource {
  /** Absent when this agent runs no Raft. */
  readonly raft?: RaftControl;
  readonly auth: MutationAuth;
}

const notRunning = { error: "Raft is not running on this node" };

export function raftApi(source: RaftApiSource) {
  return new Elysia({ name: "raft-api" })
    .get(
      "/api/v1/raft/status",
      ({ set }) => {
        if (source.raft) return source.raft.status();
        set.status = 503;
        return notRunning;
      },
      { response: { 200: RaftStatusView, 503: RaftErrorResponse } },
    )
    .get(
      "/api/v1/raft/leader",
      ({ set }) => {
        if (source.raft) return source.raft.leader();
        set.status = 503;
        return notRunning;
      },
      { response: { 200: RaftLeaderView, 503: RaftErrorResponse } },
    )
    .get(
      "/api/v1/raft/peers",
      ({ set }) => {
        if (source.raft) return source.raft.peers();
        set.status = 503;
        return notRunning;
      },
      { response: { 200: RaftPeersView, 503: RaftErrorResponse } },
    )
    .post(
      "/api/v1/raft/remove-peer",
      ({ body, request, set }) => {
        const denied = source.auth.check(request.headers.get("authorization"));
        if (denied) {
          set.status = denied[0];
          return { error: denied[1] };
        }
        if (!source.raft) {
          set.status = 503;
          return notRunning;
        }
        const result = source.raft.removePeer(body.id, body.force ?? false);
        if (result.ok) return result.accepted;
        set.status = result.status;
        return result.error;
      },
      { body: RemovePeerRequest },
    );
}
