// The Ready contract between the core and its shell: what must be persisted
// travels in the same Ready as the messages that depend on it, advance()
// acknowledges the work, and a node restarted on its storage resumes where
// it was. Also the conversion of the configuration's timing into ticks.

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../src/lib/assert.ts";
import { Prng } from "../../src/lib/prng.ts";
import { MemoryStorage, RawNode, bootstrapStorage, persistReady, ticksFromTiming } from "../../src/raft/index.ts";
import { profiles } from "../../src/config/profiles.ts";

const three = { voters: ["a", "b", "c"], learners: [] };

function node(id: string, storage = new MemoryStorage(), options = {}): RawNode {
  if (storage.lastIndex() === 0) bootstrapStorage(storage, three);
  return new RawNode({ id, storage, prng: new Prng(7), electionTicks: 10, heartbeatTicks: 1, preVote: false, ...options });
}

/** Persist and acknowledge whatever `raw` has ready. */
function cycle(raw: RawNode, storage: MemoryStorage): void {
  const ready = raw.ready();
  persistReady(storage, ready);
  raw.advance(ready);
}

describe("the Ready contract", () => {
  test("a campaign's vote for itself is in the hard state of the Ready that carries its vote requests", () => {
    const a = node("a");
    a.advance(a.ready());
    a.campaign();
    const ready = a.ready();
    expect(ready.hardState).toEqual({ term: 2, vote: "a", commit: 1 });
    expect(ready.mustSync).toBe(true);
    expect(ready.messages.map((m) => [m.type, m.to])).toEqual([["vote", "b"], ["vote", "c"]]);
    expect(ready.softState).toEqual({ lead: "", role: "candidate" });
  });

  test("a granted vote is in the hard state of the Ready that carries the answer", () => {
    const b = node("b");
    b.advance(b.ready());
    b.step({ type: "vote", from: "a", to: "b", term: 2, lastIndex: 1, lastTerm: 1, transfer: false });
    const ready = b.ready();
    expect(ready.hardState).toEqual({ term: 2, vote: "a", commit: 1 });
    expect(ready.messages).toEqual([{ type: "vote-response", from: "b", to: "a", term: 2, reject: false }]);
  });

  test("accepted entries come with the acknowledgement that reports them", () => {
    const b = node("b");
    b.advance(b.ready());
    const entry = { index: 2, term: 2, kind: "normal" as const, data: new Uint8Array([1]) };
    b.step({ type: "append", from: "a", to: "b", term: 2, prevIndex: 1, prevTerm: 1, entries: [entry], commit: 1 });
    const ready = b.ready();
    expect(ready.entries).toEqual([entry]);
    expect(ready.mustSync).toBe(true);
    expect(ready.messages).toMatchObject([{ type: "append-response", index: 2, reject: false }]);
  });

  test("a commit index change alone needs no fsync", () => {
    const storage = new MemoryStorage();
    const b = node("b", storage);
    cycle(b, storage);
    const entry = { index: 2, term: 1, kind: "normal" as const, data: new Uint8Array([1]) };
    b.step({ type: "append", from: "a", to: "b", term: 1, prevIndex: 1, prevTerm: 1, entries: [entry], commit: 1 });
    cycle(b, storage);
    b.step({ type: "heartbeat", from: "a", to: "b", term: 1, commit: 2 });
    const ready = b.ready();
    expect(ready.hardState).toEqual({ term: 1, vote: "", commit: 2 });
    expect(ready.mustSync).toBe(false);
    expect(ready.committedEntries.map((e) => e.index)).toEqual([2]);
  });

  test("advance() acknowledges the work; nothing is handed out twice", () => {
    const storage = new MemoryStorage();
    const solo = new RawNode({ id: "solo", storage: (bootstrapStorage(storage, { voters: ["solo"], learners: [] }), storage), prng: new Prng(1), electionTicks: 10, heartbeatTicks: 1 });
    const first = solo.ready();
    expect(first.committedEntries.map((e) => e.kind)).toEqual(["config"]);
    persistReady(storage, first);
    solo.advance(first);
    expect(solo.hasReady()).toBe(false);
    solo.campaign();
    solo.propose([new Uint8Array([9])]);
    const ready = solo.ready();
    expect(() => solo.ready()).toThrow(AssertionError);
    expect(ready.entries.map((e) => e.kind)).toEqual(["noop", "normal"]);
    expect(ready.committedEntries.map((e) => e.index)).toEqual([2, 3]);
    persistReady(storage, ready);
    solo.advance(ready);
    expect(solo.hasReady()).toBe(false);
    expect(solo.status()).toMatchObject({ applied: 3, commit: 3, lastIndex: 3 });
    expect(storage.lastIndex()).toBe(3);
  });

  test("a restarted node resumes its term, vote, commit index and membership", () => {
    const storage = new MemoryStorage();
    const a = node("a", storage);
    cycle(a, storage);
    a.step({ type: "vote", from: "b", to: "a", term: 4, lastIndex: 1, lastTerm: 1, transfer: false });
    cycle(a, storage);
    const again = node("a", storage);
    expect(again.status()).toMatchObject({ term: 4, vote: "b", commit: 1, conf: three, role: "follower" });
  });

  test("messages addressed to another node are dropped", () => {
    const a = node("a");
    a.step({ type: "heartbeat", from: "b", to: "z", term: 9, commit: 0 });
    expect(a.misaddressedMessages).toBe(1);
    expect(a.status().term).toBe(1);
  });
});

describe("timing", () => {
  test.each([
    ["lan", { tickIntervalMs: 50, heartbeatTicks: 1, electionTicks: 10 }],
    ["wan", { tickIntervalMs: 200, heartbeatTicks: 1, electionTicks: 13 }],
    ["local", { tickIntervalMs: 50, heartbeatTicks: 1, electionTicks: 6 }],
  ] as const)("profile %s runs on %j", (profile, expected) => {
    expect(ticksFromTiming(profiles[profile].raft)).toEqual(expected);
  });

  test("an election timeout of less than two heartbeats is refused", () => {
    expect(() => ticksFromTiming({ heartbeatIntervalMs: 50, electionTimeoutMs: 50 })).toThrow(AssertionError);
  });
});
