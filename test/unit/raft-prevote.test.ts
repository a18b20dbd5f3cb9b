// Pre-vote (thesis §9.6): a node first asks whether it could win, without
// raising its term; a node cut off from the group therefore rejoins without
// deposing a working leader. Without pre-vote, the same rejoin costs an election.

import { describe, expect, test } from "bun:test";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

describe("pre-vote (thesis §9.6)", () => {
  test("a partitioned node does not raise its term and rejoins without disruption", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { preVote: true });
    cluster.elect("a");
    cluster.isolate("c");
    for (let tick = 0; tick < 100; tick++) {
      cluster.tickAll();
      cluster.stabilize();
    }
    expect(cluster.node("c").status()).toMatchObject({ term: 2, role: "pre-candidate" });
    cluster.heal();
    cluster.tickAll();
    cluster.stabilize();
    expect(cluster.node("a").status()).toMatchObject({ role: "leader", term: 2 });
    expect(cluster.node("c").status()).toMatchObject({ role: "follower", lead: "a", term: 2 });
  });

  test("without pre-vote the rejoining node's higher term deposes the leader", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { preVote: false });
    cluster.elect("a");
    cluster.isolate("c");
    for (let tick = 0; tick < 100; tick++) {
      cluster.tickAll();
      cluster.stabilize();
    }
    expect(cluster.node("c").status().term).toBeGreaterThan(3);
    cluster.heal();
    cluster.tickAll();
    cluster.stabilize();
    expect(cluster.node("a").status().role).toBe("follower");
  });

  test("a pre-vote neither changes the voter's term nor records a vote", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { preVote: true, checkQuorum: false });
    cluster.campaign("a");
    const preVotes = cluster.take();
    expect(preVotes.map((m) => [m.type, m.term])).toEqual([["pre-vote", 2], ["pre-vote", 2]]);
    cluster.deliver(preVotes.find((m) => m.to === "b")!);
    expect(cluster.node("b").status()).toMatchObject({ term: 1, vote: "" });
    expect(cluster.take()).toMatchObject([{ type: "pre-vote-response", to: "a", term: 2, reject: false }]);
    expect(cluster.node("a").status()).toMatchObject({ term: 1, role: "pre-candidate" });
  });

  test("a pre-vote is refused to a node whose log is behind", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { preVote: true, checkQuorum: false });
    cluster.elect("a");
    cluster.cut.add("a>c");
    cluster.propose("a", "x");
    cluster.stabilize();
    cluster.heal();
    cluster.campaign("c");
    cluster.stabilize();
    expect(cluster.node("c").status()).toMatchObject({ role: "follower", term: 2 });
    expect(cluster.node("a").status()).toMatchObject({ role: "leader", term: 2 });
  });
});
