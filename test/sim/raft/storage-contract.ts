// The contract every RaftStorage must honour, as a reusable test suite: run
// it against the in-memory storage, the simulator's disk storage and the
// SQLite storage alike, so the simulator's results carry over to production.
// `reopen` (optional) opens a second instance on the same durable data, as a
// restarted process would; `crash` (optional) does the same after losing
// every write not yet synced.

import { describe, expect, test } from "bun:test";
import { AssertionError } from "../../../src/lib/assert.ts";
import { type Entry, type RaftStorage, bootstrapStorage, decodeConfState, emptyHardState } from "../../../src/raft/index.ts";

export interface StorageHarness {
  storage: RaftStorage;
  reopen?: () => RaftStorage;
  crash?: () => RaftStorage;
}

const encoder = new TextEncoder();

export function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, kind: "normal", data: encoder.encode(text) };
}

function entries(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
}

const conf = { voters: ["a", "b", "c"], learners: [] };

export function describeStorageContract(name: string, make: () => StorageHarness): void {
  describe(`RaftStorage contract: ${name}`, () => {
    test("a fresh store is empty", () => {
      const { storage } = make();
      expect(storage.hardState()).toEqual(emptyHardState);
      expect([storage.firstIndex(), storage.lastIndex(), storage.term(0)]).toEqual([1, 0, 0]);
      expect(storage.term(1)).toBeUndefined();
      expect(storage.snapshot().meta.index).toBe(0);
    });

    test("appends, reads within a byte budget, and truncates a conflicting suffix", () => {
      const { storage } = make();
      storage.append(entries(1, 5, 1));
      expect(storage.lastIndex()).toBe(5);
      expect(storage.entries(2, 5, 1_000_000).map((e) => e.index)).toEqual([2, 3, 4]);
      // The budget stops early but always returns at least one entry.
      expect(storage.entries(2, 6, 1).map((e) => e.index)).toEqual([2]);
      expect(storage.entries(2, 6, 60).length).toBe(2);
      storage.append([entry(4, 2, "new4")]);
      expect(storage.lastIndex()).toBe(4);
      expect(storage.term(4)).toBe(2);
      expect(new TextDecoder().decode(storage.entries(4, 5, 100)[0]!.data)).toBe("new4");
      expect(() => storage.append([entry(7, 2)])).toThrow(AssertionError);
    });

    test("keeps the hard state", () => {
      const { storage } = make();
      storage.append(entries(1, 3, 1));
      storage.setHardState({ term: 3, vote: "b", commit: 2 });
      expect(storage.hardState()).toEqual({ term: 3, vote: "b", commit: 2 });
    });

    test("snapshots and compaction keep the boundary term and refuse compacted reads", () => {
      const { storage } = make();
      storage.append([...entries(1, 4, 1), ...entries(5, 10, 2)]);
      storage.setHardState({ term: 2, vote: "a", commit: 8 });
      const snapshot = storage.createSnapshot(7, conf, encoder.encode("image"));
      expect(snapshot.meta).toEqual({ index: 7, term: 2, conf });
      expect(() => storage.compact(8)).toThrow(AssertionError); // beyond the snapshot
      storage.compact(5);
      expect([storage.firstIndex(), storage.lastIndex(), storage.term(5)]).toEqual([6, 10, 2]);
      expect(storage.term(4)).toBeUndefined();
      expect(() => storage.entries(5, 7, 100)).toThrow(AssertionError);
      expect(storage.snapshot().meta.index).toBe(7);
      expect(() => storage.createSnapshot(9, conf, new Uint8Array(0))).toThrow(AssertionError); // past commit
    });

    test("a snapshot from the leader replaces the log", () => {
      const { storage } = make();
      storage.append(entries(1, 6, 1));
      storage.applySnapshot({ meta: { index: 20, term: 4, conf }, data: encoder.encode("image") });
      expect([storage.firstIndex(), storage.lastIndex(), storage.term(20)]).toEqual([21, 20, 4]);
      expect(storage.term(6)).toBeUndefined();
      storage.append([entry(21, 4)]);
      expect(storage.lastIndex()).toBe(21);
    });

    test("bootstrap writes the founding membership once", () => {
      const { storage } = make();
      expect(bootstrapStorage(storage, conf)).toBe(true);
      expect(storage.hardState()).toEqual({ term: 1, vote: "", commit: 1 });
      const [first] = storage.entries(1, 2, 1000);
      expect(first!.kind).toBe("config");
      expect(decodeConfState(first!.data)).toEqual(conf);
      expect(bootstrapStorage(storage, conf)).toBe(false);
    });

    test("what was synced survives a reopen", () => {
      const harness = make();
      if (!harness.reopen) return;
      const { storage } = harness;
      storage.append(entries(1, 6, 1));
      storage.setHardState({ term: 1, vote: "a", commit: 5 });
      storage.createSnapshot(4, conf, encoder.encode("image"));
      storage.compact(3);
      storage.sync();
      const reopened = harness.reopen();
      expect(reopened.hardState()).toEqual({ term: 1, vote: "a", commit: 5 });
      expect([reopened.firstIndex(), reopened.lastIndex(), reopened.term(3)]).toEqual([4, 6, 1]);
      expect(reopened.snapshot().meta).toEqual({ index: 4, term: 1, conf });
      expect(new TextDecoder().decode(reopened.snapshot().data)).toBe("image");
    });

    test("a crash loses exactly the writes after the last sync", () => {
      const harness = make();
      if (!harness.crash) return;
      const { storage } = harness;
      storage.append(entries(1, 3, 1));
      storage.setHardState({ term: 1, vote: "a", commit: 2 });
      storage.sync();
      storage.append([entry(3, 2), entry(4, 2)]);
      storage.setHardState({ term: 2, vote: "b", commit: 2 });
      const recovered = harness.crash();
      expect(recovered.hardState()).toEqual({ term: 1, vote: "a", commit: 2 });
      expect([recovered.lastIndex(), recovered.term(3)]).toEqual([3, 1]);
    });
  });
}
