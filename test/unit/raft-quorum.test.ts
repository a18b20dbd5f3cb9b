// Quorum arithmetic, progress tracking and the flow-control window: the pure
// sub-modules of the Raft core (etcd's quorum/ and tracker/ packages).

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../src/lib/assert.ts";
import { Inflights } from "../../src/raft/inflights.ts";
import { Progress } from "../../src/raft/progress.ts";
import { majorityAckedIndex, quorumActive, quorumSize, voteResult } from "../../src/raft/quorum.ts";
import { ProgressTracker } from "../../src/raft/tracker.ts";

describe("quorum", () => {
  test.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
    [7, 4],
  ])("%i voters need %i", (voters, quorum) => {
    expect(quorumSize(voters)).toBe(quorum);
  });

  test.each([
    [{ a: 5 }, 5],
    [{ a: 5, b: 3 }, 3],
    [{ a: 5, b: 3, c: 1 }, 3],
    [{ a: 5, b: 5, c: 1 }, 5],
    [{ a: 9, b: 2, c: 7, d: 4, e: 1 }, 4],
    [{ a: 9, b: 0, c: 0 }, 0],
  ])("the majority-acknowledged index of %j is %i", (acked, expected) => {
    const voters = Object.keys(acked);
    expect(majorityAckedIndex(voters, (id) => acked[id as keyof typeof acked] ?? 0)).toBe(expected);
  });

  test("an empty voter set acknowledges nothing", () => {
    expect(majorityAckedIndex([], () => 10)).toBe(0);
  });

  test.each([
    [["a"], { a: true }, "won"],
    [["a", "b", "c"], { a: true }, "pending"],
    [["a", "b", "c"], { a: true, b: true }, "won"],
    [["a", "b", "c"], { a: true, b: false }, "pending"],
    [["a", "b", "c"], { a: true, b: false, c: false }, "lost"],
    [["a", "b", "c", "d"], { a: true, b: false, c: false }, "lost"],
    [["a", "b", "c", "d"], { a: true, b: true, c: false }, "pending"],
    [["a", "b", "c"], { a: true, x: true, y: true }, "pending"],
  ] as const)("voters %j answering %j: %s", (voters, answers, result) => {
    expect(voteResult(voters, new Map(Object.entries(answers)))).toBe(result);
  });

  test("quorumActive counts only voters", () => {
    expect(quorumActive(["a", "b", "c"], (id) => id === "a" || id === "b")).toBe(true);
    expect(quorumActive(["a", "b", "c"], (id) => id === "a")).toBe(false);
    expect(quorumActive([], () => true)).toBe(false);
  });
});

describe("inflights", () => {
  test("fills, frees acknowledged messages and tracks bytes", () => {
    const window = new Inflights(3);
    window.add(5, 100);
    window.add(8, 50);
    window.add(9, 10);
    expect(window.full()).toBe(true);
    expect(() => window.add(10, 1)).toThrow(AssertionError);
    window.freeUpTo(8);
    expect(window.size).toBe(1);
    expect(window.bytes).toBe(10);
    window.add(12, 1);
    window.add(13, 1);
    window.freeOldest();
    expect(window.size).toBe(2);
    window.freeUpTo(100);
    expect(window.size).toBe(0);
    expect(window.bytes).toBe(0);
  });

  test("indices must increase", () => {
    const window = new Inflights(4);
    window.add(5, 1);
    expect(() => window.add(5, 1)).toThrow(AssertionError);
  });
});

describe("progress", () => {
  test("probe sends one message and waits", () => {
    const progress = new Progress(10, 4, false);
    expect(progress.next).toBe(11);
    expect(progress.isPaused()).toBe(false);
    progress.sentAppend(0, 0);
    expect(progress.isPaused()).toBe(true);
    // A rejection of that very message lets the next probe go out lower.
    expect(progress.maybeDecreaseTo(10, 6)).toBe(true);
    expect(progress.next).toBe(7);
    expect(progress.isPaused()).toBe(false);
    // A rejection of an older message is stale.
    expect(progress.maybeDecreaseTo(10, 2)).toBe(false);
  });

  test("replicate streams up to the window and frees on acknowledgement", () => {
    const progress = new Progress(10, 2, false);
    progress.maybeUpdate(10);
    progress.becomeReplicate();
    expect(progress.next).toBe(11);
    progress.sentAppend(3, 30);
    progress.sentAppend(2, 20);
    expect(progress.next).toBe(16);
    expect(progress.isPaused()).toBe(true);
    expect(progress.maybeUpdate(13)).toBe(true);
    progress.inflights.freeUpTo(13);
    expect(progress.isPaused()).toBe(false);
    // A rejection at or below match is stale in replicate state.
    expect(progress.maybeDecreaseTo(12, 0)).toBe(false);
    expect(progress.maybeDecreaseTo(14, 0)).toBe(true);
    expect(progress.next).toBe(14);
  });

  test("snapshot state pauses until the snapshot is acknowledged, then probes after it", () => {
    const progress = new Progress(3, 2, false);
    progress.becomeSnapshot(50);
    expect(progress.isPaused()).toBe(true);
    expect(progress.next).toBe(51);
    progress.becomeProbe();
    expect(progress.state).toBe("probe");
    expect(progress.next).toBe(51);
  });

  test("the tracker computes commits over voters only and keeps progress across changes", () => {
    const tracker = new ProgressTracker(8);
    tracker.setConf({ voters: ["a", "b", "c"], learners: ["d"] }, 10);
    tracker.resetProgress("a", 10);
    tracker.progress("b")!.maybeUpdate(7);
    tracker.progress("d")!.maybeUpdate(10);
    expect(tracker.committedIndex()).toBe(7);
    tracker.setConf({ voters: ["a", "b", "c", "d"], learners: [] }, 10);
    expect(tracker.progress("d")!.match).toBe(10);
    expect(tracker.progress("d")!.isLearner).toBe(false);
    expect(tracker.committedIndex()).toBe(7);
    tracker.progress("c")!.maybeUpdate(9);
    expect(tracker.committedIndex()).toBe(9);
    expect([...tracker.peers("a")].map(([id]) => id)).toEqual(["b", "c", "d"]);
  });

  test("check-quorum clears the activity marks each round", () => {
    const tracker = new ProgressTracker(8);
    tracker.setConf({ voters: ["a", "b", "c"], learners: [] }, 0);
    tracker.resetProgress("a", 0);
    tracker.progress("b")!.recentActive = true;
    expect(tracker.checkQuorumActive("a")).toBe(true);
    expect(tracker.checkQuorumActive("a")).toBe(false);
  });
});
