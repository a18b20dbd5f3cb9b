// RaftStorage in memory: the reference implementation of the storage contract,
// used by unit tests and by nodes that run without a data directory. Every
// write takes effect at once and sync() only counts calls; the simulator
// subclasses it to mirror writes onto a SimDisk that loses unsynced writes
// when its node crashes.

import { assert } from "../lib/assert.ts";
import type { RaftStorage } from "./storage.ts";
import {
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  assertConfState,
  assertContiguous,
  emptyHardState,
  emptySnapshot,
  entryBytes,
} from "./types.ts";

export class MemoryStorage implements RaftStorage {
  protected hard: HardState = emptyHardState;
  protected snap: Snapshot = emptySnapshot;
  /** Index and term of the entry just before the first held one. */
  protected compactedIndex = 0;
  protected compactedTerm = 0;
  protected log: Entry[] = [];
  syncCount = 0;

  hardState(): HardState {
    return this.hard;
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.compactedIndex + this.log.length;
  }

  term(index: number): number | undefined {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.lastIndex()) return undefined;
    return this.log[index - this.compactedIndex - 1]!.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(lo >= this.firstIndex() && lo <= hi && hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.log[index - this.compactedIndex - 1]!;
      bytes += entryBytes(entry);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    assertContiguous(entries);
    const first = entries[0]!.index;
    assert(first >= this.firstIndex() && first <= this.lastIndex() + 1, `append at ${first} outside [${this.firstIndex()}, ${this.lastIndex() + 1}]`);
    const previousTerm = this.term(first - 1);
    assert(previousTerm !== undefined && previousTerm <= entries[0]!.term, `append at ${first} after an entry of a later term`);
    assert(first > this.hard.commit || this.term(first) === entries[0]!.term, `append at ${first} would overwrite committed entry`);
    this.log = this.log.slice(0, first - this.compactedIndex - 1).concat(entries);
  }

  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hard.term, `hard state term went back from ${this.hard.term} to ${hardState.term}`);
    assert(hardState.commit <= Math.max(this.lastIndex(), this.snap.meta.index), `commit ${hardState.commit} past the log's end`);
    this.hard = hardState;
  }

  applySnapshot(snapshot: Snapshot): void {
    assert(snapshot.meta.index > this.snap.meta.index, `snapshot ${snapshot.meta.index} is not newer than ${this.snap.meta.index}`);
    assertConfState(snapshot.meta.conf);
    this.snap = snapshot;
    this.compactedIndex = snapshot.meta.index;
    this.compactedTerm = snapshot.meta.term;
    this.log = [];
  }

  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.snap.meta.index, `snapshot at ${index} is not newer than ${this.snap.meta.index}`);
    assert(index <= this.hard.commit, `snapshot at ${index} past the commit index ${this.hard.commit}`);
    const term = this.term(index);
    assert(term !== undefined, `snapshot at ${index}: entry not held`);
    assertConfState(conf);
    this.snap = { meta: { index, term, conf }, data: data.slice() };
    return this.snap;
  }

  compact(index: number): void {
    assert(index <= this.snap.meta.index, `compact to ${index} past the snapshot at ${this.snap.meta.index}`);
    if (index <= this.compactedIndex) return;
    const term = this.term(index);
    assert(term !== undefined, `compact to ${index}: entry not held`);
    this.log = this.log.slice(index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }

  sync(): void {
    this.syncCount++;
  }
}
