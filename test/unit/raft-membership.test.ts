// Single-server membership changes (thesis §4.1-4.2): a new node joins as a
// learner, catches up, and only then is promoted; one change at a time; a
// new leader first commits an entry of its term; a configuration takes
// effect when appended and reverts if that entry is truncated; a removed
// leader steps down once its removal commits.

import { describe, expect, test } from "bun:test";
import { applyConfChange } from "../../src/raft/index.ts";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

const three = { voters: ["a", "b", "c"], learners: [] };

describe("membership rules", () => {
  test.each([
    [{ type: "add-learner", node: "d" }, { ok: true, conf: { voters: ["a", "b", "c"], learners: ["d"] } }],
    [{ type: "add-learner", node: "a" }, { ok: false, error: "already-member" }],
    [{ type: "promote", node: "d" }, { ok: false, error: "not-a-learner" }],
    [{ type: "remove", node: "b" }, { ok: true, conf: { voters: ["a", "c"], learners: [] } }],
    [{ type: "remove", node: "z" }, { ok: false, error: "not-a-member" }],
    [{ type: "add-learner", node: "" }, { ok: false, error: "bad-node-id" }],
  ] as const)("%j on three voters gives %j", (change, expected) => {
    expect(applyConfChange(three, change)).toEqual(expected);
  });

  test("the last voter cannot be removed and a learner can be promoted", () => {
    expect(applyConfChange({ voters: ["a"], learners: [] }, { type: "remove", node: "a" })).toEqual({ ok: false, error: "last-voter" });
    expect(applyConfChange({ voters: ["a"], learners: ["b"] }, { type: "promote", node: "b" })).toEqual({ ok: true, conf: { voters: ["a", "b"], learners: [] } });
  });
});

describe("membership changes (thesis §4)", () => {
  test("a new node joins as a learner, catches up, and is promoted only then", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { learnerCatchUpEntriesMax: 5 });
    cluster.elect("a");
    cluster.add("d", undefined);
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "add-learner", node: "d" })).ok).toBe(true);
    cluster.isolate("d");
    cluster.stabilize();
    for (let i = 0; i < 20; i++) cluster.propose("a", `v${i}`);
    cluster.stabilize();
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "promote", node: "d" }))).toMatchObject({ ok: false, error: "learner-behind" });
    cluster.heal();
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.values("d").length).toBe(20);
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "promote", node: "d" })).ok).toBe(true);
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    for (const id of ["a", "b", "c", "d"]) expect(cluster.node(id).status().conf).toEqual({ voters: ["a", "b", "c", "d"], learners: [] });
  });

  test("a learner receives the log but never campaigns and is not counted for commits", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], {}, { voters: ["a", "b"], learners: ["c"] });
    cluster.tick("c", 100);
    expect(cluster.node("c").status().role).toBe("follower");
    cluster.take();
    cluster.elect("a");
    cluster.isolate("b");
    cluster.propose("a", "x");
    cluster.stabilize();
    expect(cluster.node("c").status().lastIndex).toBe(3);
    expect(cluster.node("a").status().commit).toBe(2); // a and learner c hold it; b, the other voter, does not
    cluster.heal();
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.values("c")).toEqual(["x"]);
  });

  test("one change at a time: the next waits until the previous one commits", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.add("d", undefined);
    cluster.add("e", undefined);
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "add-learner", node: "d" })).ok).toBe(true);
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "add-learner", node: "e" }))).toMatchObject({ ok: false, error: "change-in-progress" });
    cluster.stabilize();
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "add-learner", node: "e" })).ok).toBe(true);
  });

  test("a new leader changes membership only after an entry of its term commits", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.campaign("a");
    cluster.filter = (m) => m.type !== "append-response";
    cluster.stabilize();
    expect(cluster.node("a").status().role).toBe("leader");
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "remove", node: "c" }))).toMatchObject({ ok: false, error: "change-in-progress" });
    cluster.heal();
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "remove", node: "c" })).ok).toBe(true);
  });

  test("a configuration takes effect when appended and reverts when its entry is truncated", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { checkQuorum: false });
    cluster.elect("a");
    cluster.isolate("a");
    cluster.add("d", undefined);
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "add-learner", node: "d" })).ok).toBe(true);
    expect(cluster.node("a").status().conf.learners).toEqual(["d"]); // in force before it commits
    expect(cluster.node("a").status().peers.d).toBeDefined();
    cluster.elect("b");
    cluster.propose("b", "x");
    cluster.stabilize();
    cluster.heal();
    cluster.tick("b");
    cluster.stabilize();
    expect(cluster.node("a").status()).toMatchObject({ role: "follower", lead: "b", conf: three });
  });

  test("removing a voter shrinks the quorum", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.act("a", (node) => node.proposeConfChange({ type: "remove", node: "c" }));
    cluster.stabilize();
    cluster.isolate("b");
    cluster.propose("a", "x");
    cluster.stabilize();
    // With voters {a, b}, a alone is not a quorum.
    expect(cluster.values("a")).toEqual([]);
    cluster.heal();
    cluster.isolate("c");
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.values("a")).toEqual(["x"]);
  });

  test("a leader that removes itself steps down once the removal commits", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    expect(cluster.act("a", (node) => node.proposeConfChange({ type: "remove", node: "a" })).ok).toBe(true);
    expect(cluster.node("a").status().role).toBe("leader"); // it still manages the change
    cluster.stabilize();
    expect(cluster.node("a").status().role).toBe("follower");
    cluster.tick("a", 100);
    expect(cluster.node("a").status().role).toBe("follower"); // no longer a voter: never campaigns
    let leader: string | undefined;
    for (let round = 0; round < 50 && !leader; round++) {
      cluster.tickAll();
      cluster.stabilize();
      leader = ["b", "c"].find((id) => cluster.node(id).status().role === "leader");
    }
    expect(leader).toBeDefined();
    expect(cluster.node(leader!).status().conf).toEqual({ voters: ["b", "c"], learners: [] });
  });

  test("a leader that removed itself and fell before the removal committed can still finish it", () => {
    // Found by the simulator: with voters {b, c}, leader c appends "remove c"
    // and loses contact. b still counts c as a voter and needs its vote, but
    // c's log is ahead so c refuses it; c must be able to campaign.
    const cluster = new ScriptedCluster(["b", "c"], {}, { voters: ["b", "c"], learners: [] });
    cluster.elect("c");
    cluster.cut.add("c>b");
    expect(cluster.act("c", (node) => node.proposeConfChange({ type: "remove", node: "c" })).ok).toBe(true);
    cluster.propose("c", "x");
    cluster.tick("c", 25); // check-quorum: c steps down
    cluster.take();
    expect(cluster.node("c").status()).toMatchObject({ role: "follower", conf: { voters: ["b"], learners: [] } });
    cluster.heal();
    let settled = false;
    for (let round = 0; round < 200 && !settled; round++) {
      cluster.tickAll();
      cluster.stabilize();
      settled = cluster.node("b").status().role === "leader";
    }
    expect(cluster.node("b").status()).toMatchObject({ role: "leader", conf: { voters: ["b"], learners: [] } });
    expect(cluster.values("b")).toEqual(["x"]);
    cluster.tick("c", 100);
    expect(cluster.node("c").status().role).toBe("follower");
  });
});
