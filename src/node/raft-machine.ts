// The state machine the agent's Raft node applies committed entries to, and
// the snapshot policy. The machine is a placeholder for the lease machine: it
// applies entries strictly in index order, remembers the applied index and
// the membership in force at it, and counts commands; its snapshot image is a
// small JSON record. The policy takes a snapshot once `everyEntries` entries
// were applied since the last one, then compacts the log but keeps a short
// tail, so that a follower a little behind catches up from entries instead of
// needing the whole snapshot.

import { assert } from "../lib/assert.ts";
import {
  type ConfState,
  type Entry,
  type RaftStorage,
  type Snapshot,
  decodeConfState,
  emptyConfState,
} from "../raft/index.ts";

/** Entries kept behind a snapshot at most; the policy keeps min(this, everyEntries / 2). */
export const entriesKeptAfterSnapshotMax = 1024;

interface MachineImage {
  applied_index: number;
  commands: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class PlaceholderMachine {
  /** Index of the last entry applied (or of the snapshot installed). */
  appliedIndex = 0;
  /** Membership as of appliedIndex. */
  conf: ConfState = emptyConfState;
  /** Normal entries applied since the cluster began (carried by snapshots). */
  commands = 0;

  /** Start from a snapshot (the storage's at start-up, or one the leader sent). */
  restore(snapshot: Snapshot): void {
    this.appliedIndex = snapshot.meta.index;
    this.conf = snapshot.meta.conf;
    this.commands = 0;
    if (snapshot.data.length === 0) return;
    try {
      const image = JSON.parse(decoder.decode(snapshot.data)) as Partial<MachineImage>;
      if (Number.isSafeInteger(image.commands) && image.commands! >= 0) this.commands = image.commands!;
    } catch {
      // A snapshot image from a later machine that this placeholder cannot
      // read: the index and membership, which Raft keeps itself, still hold.
    }
  }

  /** Apply one committed entry; returns the new membership when the entry changed it. */
  apply(entry: Entry): ConfState | undefined {
    assert(entry.index === this.appliedIndex + 1, `entry ${entry.index} applied after ${this.appliedIndex}`);
    this.appliedIndex = entry.index;
    switch (entry.kind) {
      case "normal":
        this.commands++;
        return undefined;
      case "noop":
        return undefined;
      case "config": {
        const conf = decodeConfState(entry.data);
        // The core validated this entry when it was appended.
        assert(conf !== undefined, `config entry ${entry.index} holds no valid membership`);
        this.conf = conf;
        return conf;
      }
      default: {
        const unknown: never = entry.kind;
        return unknown;
      }
    }
  }

  image(): Uint8Array {
    const image: MachineImage = { applied_index: this.appliedIndex, commands: this.commands };
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
export function snapshotIfDue(storage: RaftStorage, machine: PlaceholderMachine, everyEntries: number): SnapshotTaken | undefined {
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
