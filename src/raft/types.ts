// The vocabulary of the Raft core: node ids, log entries, the hard state that
// must survive a crash, cluster membership and snapshots, and the bounds that
// every value crossing the core's edge must respect. Everything here is plain
// data so that storage and transport can encode it however they like.

import { assert } from "../lib/assert.ts";

/** A node's name in the Raft group; the empty string means "nobody". */
export type NodeId = string;
export const noNode: NodeId = "";

/**
 * Kinds of log entry. `noop` is the empty entry a new leader appends to commit
 * entries of earlier terms; `config` carries a whole membership (ConfState) as
 * its data; `normal` carries the caller's state machine command.
 */
export type EntryKind = "normal" | "noop" | "config";

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  /** Whom this node voted for in `term`, or noNode. */
  readonly vote: NodeId;
  readonly commit: number;
}

export const emptyHardState: HardState = { term: 0, vote: noNode, commit: 0 };

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  /** Sorted, unique. */
  readonly voters: readonly NodeId[];
  /** Sorted, unique, disjoint from voters. */
  readonly learners: readonly NodeId[];
}

export const emptyConfState: ConfState = { voters: [], learners: [] };

export interface SnapshotMeta {
  /** Index and term of the last entry the snapshot covers. */
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's image at `meta.index`, opaque to Raft. */
  readonly data: Uint8Array;
}

export const emptySnapshot: Snapshot = { meta: { index: 0, term: 0, conf: emptyConfState }, data: new Uint8Array(0) };

/** Longest node id, in bytes of UTF-16 code units (ids are short host names). */
export const nodeIdLengthMax = 128;
/** Most voters a group may have; the product keeps at most 7, we allow a little slack. */
export const votersMax = 9;
/** Most learners at once. */
export const learnersMax = 16;
/** Largest data of one entry. */
export const entryBytesMax = 1024 * 1024;
/** Most entries in one append message. */
export const entriesPerMessageMax = 4096;
/** Largest snapshot image. */
export const snapshotBytesMax = 64 * 1024 * 1024;
/** Fixed cost charged per entry on top of its data, for byte budgets. */
export const entryOverheadBytes = 24;

export function entryBytes(entry: Entry): number {
  return entry.data.length + entryOverheadBytes;
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entryBytes(entry);
  return total;
}

export function isEmptySnapshot(snapshot: Snapshot): boolean {
  return snapshot.meta.index === 0;
}

/** Checks the shape invariants of a ConfState (sorted, unique, disjoint, bounded). */
export function assertConfState(conf: ConfState): void {
  assert(conf.voters.length <= votersMax, `more than ${votersMax} voters`);
  assert(conf.learners.length <= learnersMax, `more than ${learnersMax} learners`);
  for (const list of [conf.voters, conf.learners]) {
    for (let i = 1; i < list.length; i++) assert(list[i - 1]! < list[i]!, `membership list not sorted and unique: ${list.join(",")}`);
  }
  for (const learner of conf.learners) assert(!conf.voters.includes(learner), `${learner} is both voter and learner`);
}

/** Checks that `entries` are contiguous, each with a positive index and term. */
export function assertContiguous(entries: readonly Entry[]): void {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    assert(entry.index > 0 && entry.term > 0, `entry ${entry.index} has index or term 0`);
    if (i > 0) {
      const previous = entries[i - 1]!;
      assert(entry.index === previous.index + 1, `entries not contiguous at ${previous.index} -> ${entry.index}`);
      assert(entry.term >= previous.term, `entry terms go backwards at ${entry.index}`);
    }
  }
}
