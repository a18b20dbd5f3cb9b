// The SWIM core's inputs and outputs: timers as data, effects for the shell
// to carry out, events for the rest of the agent, and the delegate through
// which the application rides on gossip (user messages, push/pull state).

import type { NodeState, StreamMessage } from "./messages.ts";

/**
 * Timers the core asks for. The shell delivers each one back through
 * `Swim.handleTimer` when due; a timer that has gone stale (its probe ended,
 * its suspicion was refuted) is recognised by its sequence number or token
 * and ignored, so nothing ever needs cancelling.
 */
export type SwimTimer =
  | { kind: "probe" }
  | { kind: "probe-timeout"; seqNo: number }
  | { kind: "ack-expire"; seqNo: number }
  | { kind: "relay-nack"; seqNo: number }
  | { kind: "gossip" }
  | { kind: "push-pull" }
  | { kind: "suspicion"; node: string; token: number }
  | { kind: "join-retry"; token: number }
  | { kind: "leave-timeout" };

export interface MemberView {
  name: string;
  /** "ip:port" of the member's gossip socket. */
  address: string;
  host: string;
  port: number;
  state: NodeState;
  incarnation: number;
  meta: Uint8Array;
  /** Protocol versions [PMin, PMax, PCur, DMin, DMax, DCur]. */
  vsn: readonly number[];
}

export type MemberEvent =
  | { kind: "join"; member: MemberView }
  | { kind: "update"; member: MemberView }
  /** Dead (failed) or left (graceful), as `member.state` says. */
  | { kind: "leave"; member: MemberView }
  | { kind: "suspect"; member: MemberView; from: string }
  | { kind: "refuted"; incarnation: number }
  | { kind: "conflict"; name: string; existing: string; claimed: string }
  | { kind: "joined"; contacted: number }
  | { kind: "join-failed"; attempt: number; nextRetryMs: number; errors: string[] }
  | { kind: "left" };

/**
 * What the shell must do, in the order given: send packets (each `parts`
 * entry is one encoded message; more than one means a compound packet, and
 * `crc` asks for the CRC header because the target speaks protocol 5), open
 * streams and report their replies with `Swim.handleStreamReply`, arm timers,
 * and publish events.
 */
export type SwimEffect =
  | { kind: "send-packet"; to: string; parts: Uint8Array[]; crc: boolean }
  | { kind: "stream"; requestId: number; to: string; message: StreamMessage; expectReply: boolean }
  | { kind: "set-timer"; atMs: number; timer: SwimTimer }
  | { kind: "event"; event: MemberEvent };

/** The application's hooks into gossip. All calls are synchronous and must not do I/O. */
export interface SwimDelegate {
  /** State to send in a push/pull exchange. */
  localState(join: boolean): Uint8Array;
  mergeRemoteState(state: Uint8Array, join: boolean): void;
  /** A user message arrived (packet or stream). */
  notifyMessage(payload: Uint8Array): void;
  /** User broadcasts to piggyback: each result costs `overheadBytes` more; together at most `limitBytes`. */
  broadcasts(overheadBytes: number, limitBytes: number): Uint8Array[];
}

export const nullDelegate: SwimDelegate = {
  localState: () => new Uint8Array(0),
  mergeRemoteState: () => {},
  notifyMessage: () => {},
  broadcasts: () => [],
};
