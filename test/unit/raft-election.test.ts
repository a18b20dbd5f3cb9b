// Leader election (§5.2) and the election restriction (§5.4.1), as scripted
// interactions. Pre-vote and check-quorum are off here: they have their own
// tests, and these are the paper's basic rules.

import { describe, expect, test } from "bun:test";
import type { VoteResponse } from "../../src/raft/index.ts";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

const basic = { preVote: false, checkQuorum: false };

describe("election (§5.2)", () => {
  test("a follower that hears nothing campaigns after a random timeout in [election, 2 x election)", () => {
    const timeouts = new Set<number>();
    for (let run = 0; run < 10; run++) {
      const cluster = new ScriptedCluster(["a", "b", "c"], { ...basic, electionTicks: 10 }, undefined, 100 + run);
      for (let ticks = 1; ticks <= 20; ticks++) {
        cluster.tick("a");
        if (cluster.node("a").status().role === "candidate") {
          timeouts.add(ticks);
          break;
        }
      }
    }
    expect([...timeouts].every((ticks) => ticks >= 10 && ticks < 20)).toBe(true);
    expect(timeouts.size).toBeGreaterThan(1);
  });

  test("a candidate with a majority becomes leader and appends an entry of its term", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    const status = cluster.node("a").status();
    expect([status.role, status.term, status.lastIndex, status.commit]).toEqual(["leader", 2, 2, 2]);
    expect(cluster.node("a").logTerm(2)).toBe(2);
    for (const id of ["b", "c"]) expect(cluster.node(id).status().lead).toBe("a");
  });

  test("a node votes at most once per term, first come first served", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.campaign("a");
    cluster.campaign("b");
    const requests = cluster.take().filter((m) => m.to === "c");
    expect(requests.map((m) => [m.type, m.from, m.term])).toEqual([["vote", "a", 2], ["vote", "b", 2]]);
    for (const request of requests) cluster.deliver(request);
    const answers = cluster.take().filter((m): m is VoteResponse => m.type === "vote-response" && m.from === "c");
    expect(answers.map((m) => [m.to, m.reject])).toEqual([["a", false], ["b", true]]);
    expect(cluster.node("c").status().vote).toBe("a");
  });

  test("a candidate whose log is behind is refused (§5.4.1)", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.cut.add("a>c");
    cluster.propose("a", "x");
    cluster.stabilize();
    cluster.campaign("c");
    cluster.stabilize();
    expect(cluster.node("c").status().role).not.toBe("leader");
    expect(cluster.node("c").status().term).toBe(3);
  });

  test("any message from a later term turns a leader into a follower", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.act("a", (node) => node.step({ type: "heartbeat", from: "b", to: "a", term: 7, commit: 0 }));
    const status = cluster.node("a").status();
    expect([status.role, status.term, status.lead]).toEqual(["follower", 7, "b"]);
  });

  test("a split vote is resolved by later, randomised timeouts", () => {
    const cluster = new ScriptedCluster(["a", "b", "c", "d"], basic);
    cluster.campaign("a");
    cluster.campaign("b");
    // c votes for a and d for b: two votes each, three needed.
    cluster.filter = (m) => m.type !== "vote" || (m.from === "a" ? m.to === "c" : m.to === "d");
    cluster.stabilize();
    expect(["a", "b"].map((id) => cluster.node(id).status().role)).toEqual(["candidate", "candidate"]);
    cluster.heal();
    let leaders: string[] = [];
    for (let round = 0; round < 100 && leaders.length === 0; round++) {
      cluster.tickAll();
      cluster.stabilize();
      leaders = ["a", "b", "c", "d"].filter((id) => cluster.node(id).status().role === "leader");
    }
    expect(leaders.length).toBe(1);
  });

  test("a group of one elects itself at once", () => {
    const cluster = new ScriptedCluster(["solo"]);
    cluster.tick("solo", 20);
    expect(cluster.node("solo").status().role).toBe("leader");
    expect(cluster.propose("solo", "x").ok).toBe(true);
    expect(cluster.values("solo")).toEqual(["x"]);
  });
});
