// Check-quorum (thesis §6.2): a leader steps down when it has not heard from
// a quorum for an election timeout, and followers that hear from a leader
// ignore campaigns (the "lease"), so a removed or flaky node cannot depose
// it. A stale leader learns of a newer term from any follower's answer.

import { describe, expect, test } from "bun:test";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

describe("check-quorum (thesis §6.2)", () => {
  test("a leader cut off from a quorum steps down after an election timeout", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { checkQuorum: true, electionTicks: 10 });
    cluster.elect("a");
    cluster.isolate("a");
    cluster.tick("a", 9);
    expect(cluster.node("a").status().role).toBe("leader");
    cluster.tick("a", 11);
    expect(cluster.node("a").status()).toMatchObject({ role: "follower", term: 2, lead: "" });
  });

  test("a leader that hears from a quorum keeps leading", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { checkQuorum: true });
    cluster.elect("a");
    cluster.isolate("c");
    for (let tick = 0; tick < 100; tick++) {
      cluster.tick("a");
      cluster.stabilize();
    }
    expect(cluster.node("a").status()).toMatchObject({ role: "leader", term: 2 });
  });

  test("without check-quorum an isolated leader keeps believing it leads", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { checkQuorum: false });
    cluster.elect("a");
    cluster.isolate("a");
    cluster.tick("a", 100);
    expect(cluster.node("a").status().role).toBe("leader");
  });

  test("followers in contact with a leader ignore a campaign from a later term", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { checkQuorum: true, preVote: false });
    cluster.elect("a");
    cluster.act("b", (node) => node.step({ type: "vote", from: "c", to: "b", term: 9, lastIndex: 99, lastTerm: 9, transfer: false }));
    expect(cluster.take()).toEqual([]);
    expect(cluster.node("b").status()).toMatchObject({ term: 2, lead: "a" });
  });

  test("a stale leader learns the newer term from a follower's answer and steps down", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { checkQuorum: true, preVote: true });
    cluster.elect("a");
    cluster.isolate("a");
    // b and c stop hearing from a, time out and elect b in term 3.
    for (let tick = 0; tick < 40 && cluster.node("b").status().role !== "leader"; tick++) {
      cluster.tick("b");
      cluster.tick("c");
      cluster.stabilize();
    }
    expect(cluster.node("b").status()).toMatchObject({ role: "leader", term: 3 });
    cluster.heal();
    cluster.act("a", (node) => node.step({ type: "heartbeat-response", from: "c", to: "a", term: 2 }));
    cluster.tick("a"); // a's heartbeat in term 2 reaches b and c
    cluster.stabilize();
    expect(cluster.node("a").status()).toMatchObject({ role: "follower", term: 3 });
  });
});
