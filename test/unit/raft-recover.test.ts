// Offline recovery after quorum loss: the storage of one node of a
// three-voter cluster is rewritten so that the node is the single voter of a
// new configuration, keeps its log (uncommitted entries included) and its
// snapshot, and leads alone when started. Also the placeholder state machine
// and the snapshot policy the agent applies to the same storage, and the
// cluster file beside the log.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Prng } from "../../src/lib/prng.ts";
import { AssertionError } from "../../src/lib/assert.ts";
import {
  type Entry,
  MemoryStorage,
  RawNode,
  bootstrapStorage,
  encodeConfState,
  latestConf,
  persistReady,
  recoverAsSoleVoter,
} from "../../src/raft/index.ts";
import { encodeLeaseCommand } from "../../src/lease/table.ts";
import { ClusterMachine, entriesKeptAfterSnapshotMax, snapshotIfDue } from "../../src/node/raft-machine.ts";
import { clusterIdPattern, randomClusterId, raftClusterPath, readClusterFile, writeClusterFile } from "../../src/node/raft-files.ts";

const encoder = new TextEncoder();

function entry(index: number, term: number, kind: Entry["kind"] = "normal", data: Uint8Array = encoder.encode(`e${index}`)): Entry {
  return { index, term, kind, data };
}

/** A follower's storage in a three-voter cluster: 1 config, then entries of term 2, committed through `commit`. */
function followerStorage(lastIndex: number, commit: number): MemoryStorage {
  const storage = new MemoryStorage();
  bootstrapStorage(storage, { voters: ["a", "b", "c"], learners: [] });
  const entries: Entry[] = [];
  for (let index = 2; index <= lastIndex; index++) entries.push(entry(index, 2));
  storage.append(entries);
  storage.setHardState({ term: 3, vote: "b", commit });
  return storage;
}

/** Drive `node` until it has nothing to do, persisting each Ready; returns the entries applied. */
function settle(node: RawNode, storage: MemoryStorage): Entry[] {
  const applied: Entry[] = [];
  while (node.hasReady()) {
    const ready = node.ready();
    persistReady(storage, ready);
    expect(ready.messages).toEqual([]);
    applied.push(...ready.committedEntries);
    node.advance(ready);
  }
  return applied;
}

describe("recoverAsSoleVoter", () => {
  test("the node becomes the single voter in a new term, keeps its log, and leads alone", () => {
    const storage = followerStorage(10, 6);
    const result = recoverAsSoleVoter(storage, "a");
    expect(result).toEqual({ ok: true, previous: { voters: ["a", "b", "c"], learners: [] }, index: 11, term: 4, uncommittedAdopted: 4 });
    expect(storage.hardState()).toEqual({ term: 4, vote: "", commit: 11 });
    expect(latestConf(storage)).toEqual({ voters: ["a"], learners: [] });
    expect(storage.entries(2, 11, Number.MAX_SAFE_INTEGER).map((e) => e.term)).toEqual(Array(9).fill(2));

    const node = new RawNode({ id: "a", storage, prng: new Prng(1), electionTicks: 10, heartbeatTicks: 1 });
    const applied = settle(node, storage);
    expect(applied.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    node.campaign();
    // Alone, the new leader commits its first entry of the term at once.
    expect(settle(node, storage).map((e) => [e.index, e.kind])).toEqual([[12, "noop"]]);
    expect(node.basicStatus()).toMatchObject({ role: "leader", lead: "a", term: 5 });
    expect(node.propose([encoder.encode("after recovery")]).ok).toBe(true);
    expect(settle(node, storage).map((e) => e.index)).toEqual([13]);
  });

  test("a log compacted behind a snapshot is extended after its last entry", () => {
    const storage = followerStorage(10, 10);
    storage.createSnapshot(10, { voters: ["a", "b", "c"], learners: [] }, encoder.encode("image"));
    storage.compact(10);
    const result = recoverAsSoleVoter(storage, "c");
    expect(result).toMatchObject({ ok: true, index: 11, previous: { voters: ["a", "b", "c"] }, uncommittedAdopted: 0 });
    expect(storage.snapshot().meta.index).toBe(10);
    expect(latestConf(storage)).toEqual({ voters: ["c"], learners: [] });
  });

  test("the latest configuration in the log is reported, learners included", () => {
    const storage = followerStorage(3, 3);
    storage.append([entry(4, 2, "config", encodeConfState({ voters: ["a", "b", "c"], learners: ["d"] }))]);
    expect(recoverAsSoleVoter(storage, "b")).toMatchObject({ ok: true, previous: { learners: ["d"] } });
  });

  test("storage that never held a log is refused", () => {
    expect(recoverAsSoleVoter(new MemoryStorage(), "a")).toEqual({ ok: false, error: expect.stringContaining("nothing to recover") });
  });
});

describe("the cluster machine and the snapshot policy", () => {
  test("applies entries in order, follows the membership, counts commands", () => {
    const machine = new ClusterMachine();
    expect(machine.apply(entry(1, 1, "config", encodeConfState({ voters: ["a"], learners: [] })))).toEqual({ kind: "config", conf: { voters: ["a"], learners: [] } });
    expect(machine.apply(entry(2, 2, "noop", new Uint8Array(0)))).toEqual({ kind: "none" });
    expect(machine.apply(entry(3, 2))).toEqual({ kind: "unreadable", error: "command is not JSON" });
    expect([machine.appliedIndex, machine.commands, machine.unreadable, machine.conf.voters]).toEqual([3, 1, 1, ["a"]]);
    expect(() => machine.apply(entry(5, 2))).toThrow(AssertionError);
  });

  test("a snapshot every N applied entries, keeping a tail of the log, restorable", () => {
    const storage = new MemoryStorage();
    bootstrapStorage(storage, { voters: ["a"], learners: [] });
    const machine = new ClusterMachine();
    const everyEntries = 40;
    const taken: number[] = [];
    storage.append(Array.from({ length: 99 }, (_, i) => entry(i + 2, 1)));
    storage.setHardState({ term: 1, vote: "", commit: 100 });
    for (const e of storage.entries(1, 101, Number.MAX_SAFE_INTEGER)) {
      machine.apply(e);
      const snapshot = snapshotIfDue(storage, machine, everyEntries);
      if (snapshot) taken.push(snapshot.index);
    }
    expect(taken).toEqual([40, 80]);
    expect(storage.firstIndex()).toBe(80 - Math.min(entriesKeptAfterSnapshotMax, everyEntries / 2) + 1);
    const restored = new ClusterMachine();
    restored.restore(storage.snapshot());
    expect([restored.appliedIndex, restored.commands, restored.conf.voters]).toEqual([80, 79, ["a"]]);
  });

  test("the lease table travels in the snapshot image", () => {
    const machine = new ClusterMachine();
    machine.apply(entry(1, 1, "config", encodeConfState({ voters: ["a"], learners: [] })));
    const command = encodeLeaseCommand({ op: "acquire", lease: "lb_leader", holder: "a", ttlMs: 2000, expect: 0, nonce: "n.1" });
    expect(machine.apply(entry(2, 1, "normal", command))).toMatchObject({ kind: "lease", outcome: { ok: true, state: { holder: "a", token: 2 } } });
    const restored = new ClusterMachine();
    expect(restored.restore({ meta: { index: 2, term: 1, conf: machine.conf }, data: machine.image() })).toBeUndefined();
    expect(restored.leases.get("lb_leader")).toEqual(machine.leases.get("lb_leader"));
    // An image without leases (an older agent's) restores an empty table; a malformed one says so.
    expect(restored.restore({ meta: { index: 2, term: 1, conf: machine.conf }, data: encoder.encode('{"applied_index":2,"commands":0}') })).toBeUndefined();
    expect(restored.leases.get("lb_leader").holder).toBe("");
    expect(restored.restore({ meta: { index: 2, term: 1, conf: machine.conf }, data: encoder.encode('{"leases":{"lb_leader":{"holder":5}}}') })).toContain("malformed");
  });
});

describe("the cluster file", () => {
  const dir = mkdtempSync(join(tmpdir(), "constellation-raft-files-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("absent, written atomically, read back", () => {
    expect(readClusterFile(dir)).toEqual({ ok: true, record: undefined });
    const id = randomClusterId();
    expect(id).toMatch(clusterIdPattern);
    writeClusterFile(dir, { cluster_id: id, node: "a" });
    expect(readClusterFile(dir)).toEqual({ ok: true, record: { cluster_id: id, node: "a" } });
  });

  test.each([
    ["not JSON", "cluster"],
    ["a bad id", JSON.stringify({ cluster_id: "Z!", node: "a" })],
    ["no node", JSON.stringify({ cluster_id: "ab" })],
  ])("%s is refused with the file's name", (_, text) => {
    writeFileSync(raftClusterPath(dir), text);
    const result = readClusterFile(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(raftClusterPath(dir));
  });

  test("an unreadable file is an error, not a missing one", () => {
    if (process.getuid?.() === 0) return; // root reads any file
    writeFileSync(raftClusterPath(dir), "{}");
    chmodSync(raftClusterPath(dir), 0);
    expect(readClusterFile(dir).ok).toBe(false);
  });
});
