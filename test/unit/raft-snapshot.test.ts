// Log compaction and InstallSnapshot (§7): a follower that needs compacted
// entries receives the snapshot instead; stale or redundant snapshots change
// nothing; a lost snapshot is sent again; a node restarts from its snapshot.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../src/lib/prng.ts";
import { RawNode } from "../../src/raft/index.ts";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

/** a leads, c fell behind, and a compacted the entries c needs. */
function laggingFollower(options = {}): ScriptedCluster {
  const cluster = new ScriptedCluster(["a", "b", "c"], options);
  cluster.elect("a");
  cluster.isolate("c");
  for (let i = 0; i < 10; i++) cluster.propose("a", `v${i}`);
  cluster.stabilize();
  cluster.tick("a");
  cluster.stabilize();
  cluster.snapshot("a");
  expect(cluster.node("a").status().firstIndex).toBe(13);
  cluster.heal();
  return cluster;
}

describe("snapshots (§7)", () => {
  test("a follower that needs compacted entries receives a snapshot and continues from it", () => {
    const cluster = laggingFollower();
    cluster.tick("a");
    cluster.stabilize();
    const c = cluster.member("c");
    expect(c.installedSnapshot?.meta.index).toBe(12);
    expect(c.storage.snapshot().meta.index).toBe(12);
    cluster.propose("a", "after");
    cluster.stabilize();
    expect(cluster.values("c")).toEqual([...Array.from({ length: 10 }, (_, i) => `v${i}`), "after"]);
    expect(cluster.node("a").status().peers.c!.state).toBe("replicate");
  });

  test("a snapshot no newer than the commit index is ignored", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.propose("a", "x");
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    const stale = { meta: { index: 2, term: 2, conf: { voters: ["a", "b", "c"], learners: [] } }, data: new Uint8Array(0) };
    cluster.act("b", (node) => node.step({ type: "snapshot", from: "a", to: "b", term: 2, snapshot: stale }));
    expect(cluster.member("b").installedSnapshot).toBeUndefined();
    expect(cluster.take().find((m) => m.type === "append-response")).toMatchObject({ index: 3, reject: false });
  });

  test("a snapshot whose last entry the follower holds only advances its commit index", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.filter = (m) => m.type !== "append" || m.entries.length > 0;
    cluster.propose("a", "x");
    cluster.stabilize();
    expect(cluster.node("b").status().commit).toBe(2);
    const covering = { meta: { index: 3, term: 2, conf: { voters: ["a", "b", "c"], learners: [] } }, data: new Uint8Array(0) };
    cluster.act("b", (node) => node.step({ type: "snapshot", from: "a", to: "b", term: 2, snapshot: covering }));
    expect(cluster.member("b").installedSnapshot).toBeUndefined();
    expect(cluster.node("b").status().commit).toBe(3);
    expect(cluster.values("b")).toEqual(["x"]);
  });

  test("a lost snapshot is sent again after the snapshot timeout", () => {
    const cluster = laggingFollower({ snapshotTimeoutTicks: 5 });
    cluster.filter = (m) => m.type !== "snapshot";
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.node("a").status().peers.c!.state).toBe("snapshot");
    let sent = 0;
    cluster.filter = (m) => {
      if (m.type === "snapshot") sent++;
      return true;
    };
    for (let tick = 0; tick < 8; tick++) {
      cluster.tick("a");
      cluster.stabilize();
    }
    expect(sent).toBe(1);
    expect(cluster.member("c").installedSnapshot?.meta.index).toBe(12);
  });

  test("the transport's report of a failed snapshot makes the leader try again", () => {
    const cluster = laggingFollower();
    cluster.filter = (m) => m.type !== "snapshot";
    cluster.tick("a");
    cluster.stabilize();
    cluster.filter = undefined;
    cluster.act("a", (node) => node.reportSnapshot("c", false));
    expect(cluster.node("a").status().peers.c!.state).toBe("probe");
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.member("c").installedSnapshot?.meta.index).toBe(12);
  });

  test("a node restarts from its snapshot and applies only what follows it", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.propose("a", "x", "y");
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    cluster.snapshot("b");
    cluster.propose("a", "z");
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    const b = cluster.member("b");
    // Without a persistent state machine, the node starts from the stored snapshot.
    const fresh = new RawNode({ id: "b", storage: b.storage, prng: new Prng(1), electionTicks: 10, heartbeatTicks: 1 });
    expect(fresh.status()).toMatchObject({ applied: 4, commit: 5, firstIndex: 5 });
    expect(fresh.ready().committedEntries.map((e) => e.index)).toEqual([5]);
    // A state machine that kept its state tells the node where it is.
    cluster.restart("b");
    expect(b.node.status().applied).toBe(5);
    expect(b.node.hasReady()).toBe(false);
  });

  test("a node that joins after compaction starts from a snapshot taken before it was added", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.propose("a", "x", "y");
    cluster.stabilize();
    cluster.snapshot("a"); // its membership does not list d yet
    cluster.add("d", undefined);
    cluster.act("a", (node) => node.proposeConfChange({ type: "add-learner", node: "d" }));
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    const d = cluster.member("d");
    expect(d.installedSnapshot?.meta.conf.learners).toEqual([]);
    expect(d.node.status().conf).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
    expect(cluster.values("d")).toEqual(["x", "y"]);
  });
});
