// Construction options of a Raft node, their defaults and bounds, and the
// conversion from the configuration's milliseconds to ticks. The core never
// sees milliseconds: the shell calls tick() every tickIntervalMs of its own
// clock, and every timeout inside the core is a whole number of ticks.

import { assert, assertRange } from "../lib/assert.ts";
import type { Prng } from "../lib/prng.ts";
import type { RaftStorageReader } from "./storage.ts";
import { type NodeId, entryBytesMax, nodeIdLengthMax } from "./types.ts";

export interface RaftOptions {
  id: NodeId;
  storage: RaftStorageReader;
  /** Source of the randomised election timeouts. */
  prng: Prng;
  /** Base election timeout; each wait is drawn from [electionTicks, 2 x electionTicks). */
  electionTicks: number;
  /** Leader heartbeat interval; must be well below electionTicks. */
  heartbeatTicks: number;
  /** Campaign only after a pre-election shows a quorum would vote (default true). */
  preVote?: boolean;
  /** Leader steps down after an election timeout without hearing from a quorum (default true). */
  checkQuorum?: boolean;
  /** Unacknowledged append messages per follower in replicate state (default 64). */
  inflightMessagesMax?: number;
  /** Entry bytes per append message (default 256 KiB; one larger entry still goes alone). */
  appendBytesMax?: number;
  /** Proposals are refused while the uncommitted tail exceeds this (default 8 MiB). */
  uncommittedBytesMax?: number;
  /** Committed entry bytes handed out per Ready (default 1 MiB). */
  applyBytesMax?: number;
  /** A learner may be promoted once it is at most this many entries behind (default 64). */
  learnerCatchUpEntriesMax?: number;
  /** Ticks to wait for a snapshot's acknowledgement before resending (default 4 x electionTicks). */
  snapshotTimeoutTicks?: number;
  /** Index the caller's state machine already holds (default: the storage snapshot's index). */
  appliedIndex?: number;
}

export type ResolvedOptions = Required<RaftOptions>;

export const electionTicksMax = 1000;
export const inflightMessagesMaxLimit = 4096;
export const appendBytesMaxLimit = 16 * 1024 * 1024;

export function resolveOptions(options: RaftOptions): ResolvedOptions {
  assert(options.id.length > 0 && options.id.length <= nodeIdLengthMax, `node id must be 1 to ${nodeIdLengthMax} characters`);
  assertRange(options.heartbeatTicks, 1, electionTicksMax, "heartbeatTicks");
  assertRange(options.electionTicks, 2, electionTicksMax, "electionTicks");
  assert(options.electionTicks > options.heartbeatTicks, "electionTicks must exceed heartbeatTicks");
  const resolved: ResolvedOptions = {
    preVote: true,
    checkQuorum: true,
    inflightMessagesMax: 64,
    appendBytesMax: 256 * 1024,
    uncommittedBytesMax: 8 * 1024 * 1024,
    applyBytesMax: 1024 * 1024,
    learnerCatchUpEntriesMax: 64,
    snapshotTimeoutTicks: 4 * options.electionTicks,
    appliedIndex: options.storage.snapshot().meta.index,
    ...stripUndefined(options),
  };
  assertRange(resolved.inflightMessagesMax, 1, inflightMessagesMaxLimit, "inflightMessagesMax");
  assertRange(resolved.appendBytesMax, 1, appendBytesMaxLimit, "appendBytesMax");
  assertRange(resolved.uncommittedBytesMax, entryBytesMax, Number.MAX_SAFE_INTEGER, "uncommittedBytesMax");
  assertRange(resolved.applyBytesMax, 1, Number.MAX_SAFE_INTEGER, "applyBytesMax");
  assertRange(resolved.learnerCatchUpEntriesMax, 0, Number.MAX_SAFE_INTEGER, "learnerCatchUpEntriesMax");
  assertRange(resolved.snapshotTimeoutTicks, 1, 100 * electionTicksMax, "snapshotTimeoutTicks");
  return resolved;
}

function stripUndefined(options: RaftOptions): RaftOptions {
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) copy[key] = value;
  return copy as unknown as RaftOptions;
}

export interface TickTiming {
  tickIntervalMs: number;
  heartbeatTicks: number;
  electionTicks: number;
}

/**
 * Ticks from the configuration's raft timing: one tick per heartbeat
 * interval, and the election timeout rounded up to whole heartbeats
 * (lan: 50 ms ticks, heartbeat 1 tick, election 10 ticks).
 */
export function ticksFromTiming(timing: { heartbeatIntervalMs: number; electionTimeoutMs: number }): TickTiming {
  const { heartbeatIntervalMs, electionTimeoutMs } = timing;
  assert(heartbeatIntervalMs > 0 && Number.isFinite(heartbeatIntervalMs), `heartbeat interval ${heartbeatIntervalMs} ms`);
  const electionTicks = Math.ceil(electionTimeoutMs / heartbeatIntervalMs);
  assertRange(electionTicks, 2, electionTicksMax, "electionTimeoutMs / heartbeatIntervalMs");
  return { tickIntervalMs: heartbeatIntervalMs, heartbeatTicks: 1, electionTicks };
}
