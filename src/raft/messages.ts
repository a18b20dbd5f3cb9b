// The messages Raft nodes exchange, as one closed union. Local inputs (ticks,
// proposals, membership changes, leadership transfer requests) are method
// calls on the node, not messages, so everything in this union may come from
// the network and is validated by the codec before it reaches the core.

import type { Entry, NodeId, Snapshot } from "./types.ts";

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term (for a granted pre-vote, the term it would campaign in). */
  readonly term: number;
}

/** AppendEntries: entries after (prevIndex, prevTerm), and the leader's commit index. */
export interface AppendRequest extends Envelope {
  readonly type: "append";
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * Answer to an append or snapshot. On success `index` is the follower's last
 * index known to match the leader. On reject, `index` is the rejected
 * prevIndex and (hintIndex, hintTerm) point at where the leader should probe
 * next: the follower's last entry at or below prevIndex with term <= prevTerm.
 */
export interface AppendResponse extends Envelope {
  readonly type: "append-response";
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Heartbeat; `commit` is min(follower's match, leader's commit) so it never points past the follower's log. */
export interface HeartbeatRequest extends Envelope {
  readonly type: "heartbeat";
  readonly commit: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: "heartbeat-response";
}

/**
 * RequestVote, for a real election ("vote") or a pre-election ("pre-vote").
 * `transfer` marks a campaign started by TimeoutNow: voters grant it even
 * while they still hear from a leader, since that leader asked for it.
 */
export interface VoteRequest extends Envelope {
  readonly type: "vote" | "pre-vote";
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: "vote-response" | "pre-vote-response";
  readonly reject: boolean;
}

/** InstallSnapshot, sent whole (the transport splits it into frames if it must). */
export interface SnapshotRequest extends Envelope {
  readonly type: "snapshot";
  readonly snapshot: Snapshot;
}

/** Leadership transfer: the leader tells a caught-up voter to campaign at once. */
export interface TimeoutNow extends Envelope {
  readonly type: "timeout-now";
}

export type Message =
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | VoteRequest
  | VoteResponse
  | SnapshotRequest
  | TimeoutNow;

export type MessageType = Message["type"];

export const messageTypes: readonly MessageType[] = [
  "append",
  "append-response",
  "heartbeat",
  "heartbeat-response",
  "vote",
  "pre-vote",
  "vote-response",
  "pre-vote-response",
  "snapshot",
  "timeout-now",
];

/** Messages that only a leader sends, and that make their receiver follow it. */
export function isFromLeader(message: Message): message is AppendRequest | HeartbeatRequest | SnapshotRequest {
  return message.type === "append" || message.type === "heartbeat" || message.type === "snapshot";
}

export function isVoteRequest(message: Message): message is VoteRequest {
  return message.type === "vote" || message.type === "pre-vote";
}
