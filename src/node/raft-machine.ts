// The state machine the agent's Raft node applies committed entries to, and
// the snapshot policy. The machine applies entries strictly in index order,
// remembers the applied index and the membership in force at it, and keeps
// the lease table (src/lease/table.ts): every normal entry carries a lease
// command. A command this version cannot read is counted and applied as
// nothing, identically on every node, so the replicas never diverge. Its
// snapshot image is a small JSON record. The policy takes a snapshot once
// `everyEntries` entries were applied since the last one, then compacts the
// log but keeps a short tail, so that a follower a little behind catches up
// from entries instead of needing the whole snapshot.

import { assert } from "../lib/assert.ts";
import {
  type ConfState,
  type Entry,
  type RaftStorage,
  type Snapshot,
  decodeConfState,
  emptyConfState,
} from "../raft/index.ts";
import { type LeaseCommand, type LeaseOutcome, LeaseTable, decodeLeaseCommand } from "../lease/table.ts";

/** Entries kept behind a snapshot at most; the policy keeps min(this, everyEntries / 2). */
export const entriesKeptAfterSnapshotMax = 1024;

interface MachineImage {
  applied_index: number;
  commands: number;
  leases?: unknown;
}

/** What applying one entry did. */
export type Applied =
  | { kind: "none" }
  | { kind: "config"; conf: ConfState }
  | { kind: "lease"; command: LeaseCommand; outcome: LeaseOutcome }
  | { kind: "unreadable"; error: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ClusterMachine {
  /** Index of the last entry applied (or of the snapshot installed). */
  appliedIndex = 0;
  /** Membership as of appliedIndex. */
  conf: ConfState = emptyConfState;
  /** Normal entries applied since the cluster began (carried by snapshots). */
  commands = 0;
  /** Normal entries this node could not read since it started. */
  unreadable = 0;
  readonly leases = new LeaseTable();

  /**
   * Start from a snapshot (the storage's at start-up, or one the leader
   * sent). Returns a complaint when the image could not be read in full:
   * the index and membership, which Raft keeps itself, still hold.
   */
  restore(snapshot: Snapshot): string | undefined {
    this.appliedIndex = snapshot.meta.index;
    this.conf = snapshot.meta.conf;
    this.commands = 0;
    this.leases.restore(undefined);
    if (snapshot.data.length === 0) return undefined;
    let image: Partial<MachineImage>;
    try {
      image = JSON.parse(decoder.decode(snapshot.data)) as Partial<MachineImage>;
    } catch {
      return "the snapshot image is not JSON";
    }
    if (Number.isSafeInteger(image.commands) && image.commands! >= 0) this.commands = image.commands!;
    return this.leases.restore(image.leases);
  }

  /** Apply one committed entry. */
  apply(entry: Entry): Applied {
    assert(entry.index === this.appliedIndex + 1, `entry ${entry.index} applied after ${this.appliedIndex}`);
    this.appliedIndex = entry.index;
    switch (entry.kind) {
      case "normal": {
        this.commands++;
        const decoded = decodeLeaseCommand(entry.data);
        if (!decoded.ok) {
          this.unreadable++;
          return { kind: "unreadable", error: decoded.error };
        }
        return { kind: "lease", command: decoded.command, outcome: this.leases.apply(entry.index, decoded.command) };
      }
      case "noop":
        return { kind: "none" };
      case "config": {
        const conf = decodeConfState(entry.data);
        // The core validated this entry when it was appended.
        assert(conf !== undefined, `config entry ${entry.index} holds no valid membership`);
        this.conf = conf;
        return { kind: "config", conf };
      }
      default: {
        const unknown: never = entry.kind;
        return unknown;
      }
    }
  }

  image(): Uint8Array {
    const image: MachineImage = { applied_index: this.appliedIndex, commands: this.commands, leases: this.leases.image() };
    return encoder.encode(JSON.stringify(image));
  }
}

export interface SnapshotTaken {
  index: number;
  /** The log now starts after this index. */
  compactedThrough: number;
}

/**
 * Snapshot and compact when `everyEntries` entries were applied since the
 * storage's latest snapshot; undefined when not due. The writes are synced
 * before it returns (SqliteRaftStorage requires a sync after both).
 */
export function snapshotIfDue(storage: RaftStorage, machine: ClusterMachine, everyEntries: number): SnapshotTaken | undefined {
  assert(Number.isSafeInteger(everyEntries) && everyEntries >= 1, `snapshot interval ${everyEntries} entries`);
  const previous = storage.snapshot().meta.index;
  if (machine.appliedIndex - previous < everyEntries) return undefined;
  storage.createSnapshot(machine.appliedIndex, machine.conf, machine.image());
  const keep = Math.min(entriesKeptAfterSnapshotMax, Math.floor(everyEntries / 2));
  const compactedThrough = Math.max(storage.firstIndex() - 1, machine.appliedIndex - keep);
  storage.compact(compactedThrough);
  storage.sync();
  return { index: machine.appliedIndex, compactedThrough };
}
