// The log rules of §5.3 that do not depend on roles: appending after a
// matching (index, term), truncating conflicts, never touching committed
// entries, the fast conflict search, and reads that span stable storage and
// the unstable tail.

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../src/lib/assert.ts";
import { RaftLog } from "../../src/raft/log.ts";
import { MemoryStorage } from "../../src/raft/memory-storage.ts";
import { entry } from "../sim/raft/storage-contract.ts";

/** A log whose stable part holds entries with the given terms (index 1 first). */
function logWithTerms(stableTerms: number[], unstableTerms: number[] = []): RaftLog {
  const storage = new MemoryStorage();
  storage.append(stableTerms.map((term, i) => entry(i + 1, term)));
  const log = new RaftLog(storage, 0);
  log.append(unstableTerms.map((term, i) => entry(stableTerms.length + i + 1, term)));
  return log;
}

const terms = (log: RaftLog): (number | undefined)[] => Array.from({ length: log.lastIndex() }, (_, i) => log.term(i + 1));

describe("raft log", () => {
  test("reads span storage and the unstable tail within a byte budget", () => {
    const log = logWithTerms([1, 1, 2], [2, 3]);
    expect(terms(log)).toEqual([1, 1, 2, 2, 3]);
    expect(log.slice(2, 6, 1_000_000).map((e) => e.index)).toEqual([2, 3, 4, 5]);
    expect(log.slice(3, 6, 60).map((e) => e.index)).toEqual([3, 4]);
    expect(log.entriesFrom(6, 100)).toEqual([]);
  });

  test("maybeAppend rejects a mismatching previous entry", () => {
    const log = logWithTerms([1, 1, 2]);
    expect(log.maybeAppend(3, 1, 3, [entry(4, 3)])).toBeUndefined();
    expect(log.maybeAppend(4, 2, 3, [entry(5, 3)])).toBeUndefined();
    expect(log.lastIndex()).toBe(3);
  });

  test("maybeAppend skips entries already present and truncates at the first conflict", () => {
    const log = logWithTerms([1, 1, 2, 2, 2]);
    expect(log.maybeAppend(1, 1, 0, [entry(2, 1), entry(3, 2)])).toEqual({ lastNewIndex: 3, writtenFrom: 0 });
    expect(log.lastIndex()).toBe(5); // a stale, shorter append never truncates
    expect(log.maybeAppend(2, 1, 0, [entry(3, 2), entry(4, 3)])).toEqual({ lastNewIndex: 4, writtenFrom: 4 });
    expect(terms(log)).toEqual([1, 1, 2, 3]);
  });

  test("the commit index follows the leader but never past the last new entry", () => {
    const log = logWithTerms([1, 1, 1, 1, 1]);
    log.maybeAppend(2, 1, 10, [entry(3, 1)]);
    expect(log.committed).toBe(3);
    log.commitTo(2);
    expect(log.committed).toBe(3);
  });

  test("a conflict with a committed entry is a broken invariant", () => {
    const log = logWithTerms([1, 1, 1]);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, [entry(2, 2)])).toThrow(AssertionError);
  });

  test("only an entry of the current term commits by counting (§5.4.2)", () => {
    const log = logWithTerms([1, 2, 2]);
    expect(log.maybeCommit(3, 3)).toBe(false);
    expect(log.maybeCommit(3, 2)).toBe(true);
    expect(log.committed).toBe(3);
  });

  test.each([
    // [our terms, probe index, probe term, expected index, expected term]
    [[1, 1, 2, 2, 4], 5, 3, 4, 2],
    [[1, 1, 2, 2, 4], 5, 4, 5, 4],
    [[1, 1, 2, 2, 4], 5, 1, 2, 1],
    [[3, 3, 3], 3, 2, 0, 0],
    [[1, 1], 9, 5, 2, 1],
  ])("findConflictByTerm on %j from (%i, %i) gives (%i, %i)", (ours, index, term, expectedIndex, expectedTerm) => {
    expect(logWithTerms(ours).findConflictByTerm(index, term)).toEqual({ index: expectedIndex, term: expectedTerm });
  });

  test("up-to-date compares last term first, then length (§5.4.1)", () => {
    const log = logWithTerms([1, 2, 2]);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });

  test("committed entries are handed out once and never while a snapshot is pending", () => {
    const log = logWithTerms([1, 1, 1], [1]);
    log.commitTo(4);
    expect(log.nextCommittedEntries(1_000_000).map((e) => e.index)).toEqual([1, 2, 3, 4]);
    log.appliedTo(2);
    expect(log.nextCommittedEntries(1_000_000).map((e) => e.index)).toEqual([3, 4]);
    log.restore({ meta: { index: 10, term: 2, conf: { voters: ["a"], learners: [] } }, data: new Uint8Array(0) });
    expect(log.hasNextCommittedEntries()).toBe(false);
    expect([log.firstIndex(), log.lastIndex(), log.committed]).toEqual([11, 10, 10]);
    expect(log.term(10)).toBe(2);
    expect(log.term(4)).toBeUndefined();
  });

  test("unstable entries become stable only if their term still matches", () => {
    const log = logWithTerms([1], [1, 1]);
    log.unstable.stableTo(3, 2);
    expect(log.unstable.entries.length).toBe(2);
    log.unstable.stableTo(2, 1);
    expect(log.unstable.offset).toBe(3);
    expect(log.unstable.entries.map((e) => e.index)).toEqual([3]);
  });
});
