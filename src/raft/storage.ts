// The storage interface of a Raft node: its log, its hard state and its latest
// snapshot. The core only reads through it (RaftStorageReader); the shell
// writes what each Ready asks for and calls sync() before sending anything
// (see Ready in rawnode.ts). Implementations: MemoryStorage (memory-storage.ts)
// for tests and diskless nodes, the simulator's SimDisk-backed storage with
// crash semantics, and an SQLite one in production. All are synchronous,
// because bun:sqlite is, and an fsync must finish before messages go out.
//
// Layout: the log holds entries (compactedIndex, lastIndex]; the term of
// compactedIndex is still known (it is the prevTerm of the first entry). The
// snapshot covers [1, snapshot.index] with snapshot.index >= compactedIndex,
// so compacting never discards an entry that no snapshot covers.

import { assert } from "../lib/assert.ts";
import type { Ready } from "./rawnode.ts";
import { encodeConfState } from "./membership.ts";
import { type ConfState, type Entry, type HardState, type Snapshot, emptyHardState, hardStateEqual } from "./types.ts";

export interface RaftStorageReader {
  /** The hard state written last; emptyHardState for a fresh store. */
  hardState(): HardState;
  /** Index of the first entry held (compactedIndex + 1). */
  firstIndex(): number;
  /** Index of the last entry held, or compactedIndex when there is none. */
  lastIndex(): number;
  /** Term of the entry at `index` for index in [firstIndex - 1, lastIndex]; undefined outside. */
  term(index: number): number | undefined;
  /**
   * Entries [lo, hi) with firstIndex <= lo <= hi <= lastIndex + 1, stopping
   * before the total size would exceed `bytesMax` but always at least one
   * entry when lo < hi.
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  /** The latest snapshot (emptySnapshot when none was ever taken). */
  snapshot(): Snapshot;
}

export interface RaftStorage extends RaftStorageReader {
  /**
   * Append `entries` (contiguous), first discarding any held entry at or after
   * entries[0].index. entries[0].index must be in [firstIndex, lastIndex + 1].
   */
  append(entries: readonly Entry[]): void;
  setHardState(hardState: HardState): void;
  /** Replace the whole log by a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): void;
  /**
   * Record a snapshot the state machine took at `index` (<= the applied index)
   * with membership `conf`; entries are kept until compact().
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot;
  /** Discard entries up to `index` (at most the snapshot index). */
  compact(index: number): void;
  /** Make every write so far durable; returns once they are. */
  sync(): void;
}

/**
 * The persistence step of a Ready, in the contract's order: the snapshot,
 * then the entries, then the hard state, then one fsync. Shells call this
 * before sending the Ready's messages.
 */
export function persistReady(storage: RaftStorage, ready: Ready): void {
  if (ready.snapshot) storage.applySnapshot(ready.snapshot);
  if (ready.entries.length > 0) storage.append(ready.entries);
  if (ready.hardState) storage.setHardState(ready.hardState);
  if (ready.mustSync || ready.snapshot) storage.sync();
}

/**
 * Write the first configuration of a brand-new group: one config entry at
 * index 1, term 1, already committed. Every founding member must bootstrap
 * with the same `conf`, so that their logs agree on entry 1. Refuses (returns
 * false) when the store is not empty.
 */
export function bootstrapStorage(storage: RaftStorage, conf: ConfState): boolean {
  if (storage.lastIndex() !== 0 || !hardStateEqual(storage.hardState(), emptyHardState)) return false;
  assert(conf.voters.length > 0, "bootstrap needs at least one voter");
  storage.append([{ index: 1, term: 1, kind: "config", data: encodeConfState(conf) }]);
  storage.setHardState({ term: 1, vote: "", commit: 1 });
  storage.sync();
  return true;
}
