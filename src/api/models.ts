// TypeBox models of the control API's responses: the single source of the
// types that the server returns and the CLI reads.

import { Type, type Static } from "@sinclair/typebox";
import { NodeMetadata, ServiceHealth, WARPHealth } from "../state/model.ts";

export const StatusView = Type.Object({
  node: Type.String({ description: "This node's name." }),
  version: Type.String(),
  commit: Type.String(),
  profile: Type.String({ description: "Timing profile: lan, wan or local." }),
  uptime_seconds: Type.Integer({ minimum: 0 }),
  started_at: Type.String({ description: "Start time, ISO 8601." }),
  components: Type.Record(Type.String(), Type.String(), { description: "Component name -> one-line state." }),
  cluster: Type.Object({
    nodes: Type.Integer({ description: "Live nodes with replicated metadata." }),
    services: Type.Integer({ description: "Service instances on live nodes." }),
    healthy_services: Type.Integer(),
    state_version: Type.Integer({ description: "Changes applied to this node's replica since it started." }),
  }),
});
export type StatusView = Static<typeof StatusView>;

export const MemberView = Type.Object({
  name: Type.String(),
  address: Type.String({ description: "ip:port of the member's gossip socket." }),
  state: Type.Union([Type.Literal("alive"), Type.Literal("suspect"), Type.Literal("dead"), Type.Literal("left")]),
  incarnation: Type.Integer({ minimum: 0 }),
  meta: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: "The member's Constellation metadata, or null when it is not a Constellation agent.",
  }),
  meta_base64: Type.String({ description: "The raw gossip metadata bytes." }),
  protocol: Type.Object({ min: Type.Integer(), max: Type.Integer(), current: Type.Integer() }),
});
export type MemberView = Static<typeof MemberView>;

export const MembersResponse = Type.Object({
  self: Type.String(),
  members: Type.Array(MemberView),
});
export type MembersResponse = Static<typeof MembersResponse>;

export const KeyringView = Type.Object({
  enabled: Type.Boolean(),
  /** Keys are never shown: each is identified by the first 16 hex digits of its SHA-256. */
  keys: Type.Array(Type.Object({ fingerprint: Type.String(), primary: Type.Boolean(), bytes: Type.Integer() })),
});
export type KeyringView = Static<typeof KeyringView>;

export const KeyringChange = Type.Object({
  key: Type.String({ minLength: 1, maxLength: 100, description: "Base64 key of 16, 24 or 32 bytes." }),
});

export const ErrorResponse = Type.Object({ error: Type.String() });

export const GossipStats = Type.Object({
  health_score: Type.Integer({ description: "Lifeguard local health: 0 is healthy; probe timing is multiplied by score + 1." }),
  incarnation: Type.Integer(),
  members_alive: Type.Integer(),
  members_total: Type.Integer(),
  queued_broadcasts: Type.Integer(),
  state_entries: Type.Integer({ description: "Entries (with tombstones) in this node's replica of the cluster state." }),
  state_bytes: Type.Integer({ description: "Size of the replica as sent in a push/pull, before compression." }),
  state_bytes_compressed: Type.Integer({ description: "The same after the stream's LZW compression." }),
  counters: Type.Record(Type.String(), Type.Number(), { description: "Packets, bytes and drops since start." }),
});
export type GossipStats = Static<typeof GossipStats>;

export const NodesResponse = Type.Object({
  nodes: Type.Record(Type.String(), NodeMetadata, { description: "Live nodes by name, from the replicated state." }),
});
export type NodesResponse = Static<typeof NodesResponse>;

export const ServicesResponse = Type.Object({
  service_health: Type.Record(Type.String(), ServiceHealth, { description: "Instances on live nodes, keyed <service>@<node>." }),
  warp_health: Type.Record(Type.String(), WARPHealth),
});
export type ServicesResponse = Static<typeof ServicesResponse>;
