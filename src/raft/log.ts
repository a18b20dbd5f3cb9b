// The Raft log as the core sees it: stable entries read through the storage
// interface, followed by the unstable tail not yet persisted, plus the commit
// and apply cursors. It enforces the log rules that do not depend on roles:
// appends only after a matching (index, term), never overwriting a committed
// entry, commit never moving back, apply never passing commit.

import { assert } from "../lib/assert.ts";
import type { RaftStorageReader } from "./storage.ts";
import { Unstable } from "./unstable.ts";
import { type Entry, type Snapshot, assertContiguous, entryBytes } from "./types.ts";

export interface AppendOutcome {
  /** Index of the last entry the append covered (prevIndex + entries.length). */
  lastNewIndex: number;
  /** First index actually written (0 when every entry was already present). */
  writtenFrom: number;
}

export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(
    private readonly storage: RaftStorageReader,
    appliedIndex: number,
  ) {
    this.unstable = new Unstable(storage.lastIndex());
    // Entries at or below the applied index are in the state machine already;
    // the core commits and hands out only what comes after it.
    assert(appliedIndex >= storage.firstIndex() - 1, `applied index ${appliedIndex} is below the compacted index ${storage.firstIndex() - 1}`);
    assert(appliedIndex <= storage.lastIndex(), `applied index ${appliedIndex} is past the last index ${storage.lastIndex()}`);
    this.committed = appliedIndex;
    this.applied = appliedIndex;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term at `index` for index in [firstIndex - 1, lastIndex], else undefined. */
  term(index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, `term of the last index ${this.lastIndex()} unknown`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Would a candidate whose log ends at (lastIndex, lastTerm) be at least as up to date as us? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries from `lo` to the end within `bytesMax`; undefined when `lo` was compacted. */
  entriesFrom(lo: number, bytesMax: number): Entry[] | undefined {
    if (lo > this.lastIndex()) return [];
    if (lo < this.firstIndex()) return undefined;
    return this.slice(lo, this.lastIndex() + 1, bytesMax);
  }

  /** Entries [lo, hi) within `bytesMax` (at least one when lo < hi). */
  slice(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(lo >= this.firstIndex() && lo <= hi && hi <= this.lastIndex() + 1, `log slice [${lo}, ${hi}) out of range`);
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let result: Entry[] = [];
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      result = this.storage.entries(lo, storedHi, bytesMax);
      assert(result.length > 0 && result[0]!.index === lo, `storage returned no entry at ${lo}`);
      if (result.length < storedHi - lo) return result;
    }
    if (hi > offset) {
      let bytes = 0;
      for (const entry of result) bytes += entryBytes(entry);
      for (const entry of this.unstable.slice(Math.max(lo, offset), hi)) {
        bytes += entryBytes(entry);
        if (result.length > 0 && bytes > bytesMax) break;
        result.push(entry);
      }
    }
    return result;
  }

  /** Append after our last entry (leader side); returns the new last index. */
  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (!first) return this.lastIndex();
    assertContiguous(entries);
    assert(first.index - 1 >= this.committed, `append at ${first.index} would overwrite committed entries up to ${this.committed}`);
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Follower side of AppendEntries; undefined when (prevIndex, prevTerm) does not match. */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): AppendOutcome | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed entry (commit ${this.committed})`);
      this.append(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return { lastNewIndex, writtenFrom: conflict };
  }

  /** The first entry that is new or differs from ours, or 0 when all are present. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    return 0;
  }

  /**
   * The last index at or below `index` whose term is at most `term`, with that
   * term (0 when unknown). Used on both sides of a rejection to skip a whole
   * term of conflicting entries per round trip instead of one entry.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let candidate = Math.min(index, this.lastIndex());
    while (candidate >= 0) {
      const ourTerm = this.term(candidate);
      if (ourTerm === undefined) return { index: candidate, term: 0 };
      if (ourTerm <= term) return { index: candidate, term: ourTerm };
      candidate--;
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} past the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Leader side: commit `index` if it is past the commit index and from `term` (the current term). */
  maybeCommit(index: number, term: number): boolean {
    if (index <= this.committed || this.term(index) !== term) return false;
    this.commitTo(index);
    return true;
  }

  appliedTo(index: number): void {
    assert(index >= this.applied && index <= this.committed, `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** Committed entries not yet handed out for apply, within `bytesMax`; none while a snapshot is pending. */
  nextCommittedEntries(bytesMax: number): Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = this.applied + 1;
    if (lo > this.committed) return [];
    assert(lo >= this.firstIndex(), `entry ${lo} to apply was compacted`);
    return this.slice(lo, this.committed + 1, bytesMax);
  }

  hasNextCommittedEntries(): boolean {
    return !this.unstable.snapshot && this.committed > this.applied;
  }

  /** Replace the log by a snapshot from the leader. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.meta.index > this.committed, `restore of snapshot ${snapshot.meta.index} at or below commit ${this.committed}`);
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }

  /** The snapshot was persisted and installed: the state machine is now at its index. */
  appliedSnapshot(snapshot: Snapshot): void {
    this.unstable.stableSnapshotTo(snapshot.meta.index);
    this.applied = Math.max(this.applied, snapshot.meta.index);
  }
}
