// Safety (§5.4): the commit rule that makes Figure 8 safe, leader
// completeness across elections, and the persistence the rules rely on.

import { describe, expect, test } from "bun:test";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

const basic = { preVote: false, checkQuorum: false };

describe("safety (§5.4)", () => {
  test("a leader does not commit an earlier term's entry by counting replicas (§5.4.2, Figure 8)", () => {
    // One entry per append, so the old entry and the new leader's entry travel apart.
    const cluster = new ScriptedCluster(["a", "b", "c"], { ...basic, appendBytesMax: 1 });
    cluster.elect("a"); // term 2, its empty entry at index 2 is committed
    // Entry 3 (term 2) reaches b, but a never hears back: uncommitted.
    cluster.cut.add("a>c");
    cluster.cut.add("b>a");
    cluster.propose("a", "x");
    cluster.stabilize();
    expect(cluster.node("b").logTerm(3)).toBe(2);
    expect(cluster.node("a").status().commit).toBe(2);
    // b wins term 3 (with c's vote) and appends its own entry 4; a is kept out.
    cluster.heal();
    cluster.cut.add("b>a");
    // c's acknowledgement of entry 4 is lost, so b learns only that c holds entry 3.
    cluster.filter = (m) => !(m.type === "append-response" && m.from === "c" && m.index === 4);
    cluster.campaign("b");
    cluster.stabilize();
    const b = cluster.node("b");
    expect(b.status()).toMatchObject({ role: "leader", term: 3, lastIndex: 4 });
    expect(b.status().peers.c!.match).toBe(3);
    // Entry 3 (term 2) is on b and c, a majority, yet it is not committed.
    expect(b.status().commit).toBe(2);
    // Once entry 4 of the current term is known to be on a majority, both commit together.
    cluster.filter = undefined;
    cluster.tick("b");
    cluster.stabilize();
    expect(b.status().commit).toBe(4);
    expect(cluster.values("b")).toEqual(["x"]);
  });

  test("entries committed in one term are in the log of every later leader (leader completeness)", () => {
    const cluster = new ScriptedCluster(["a", "b", "c", "d", "e"], basic);
    cluster.elect("a");
    cluster.cut.add("a>d");
    cluster.cut.add("a>e");
    cluster.propose("a", "committed");
    cluster.stabilize();
    expect(cluster.node("a").status().commit).toBe(3);
    // d and e lack the entry and cannot win; one of b and c must.
    cluster.isolate("a");
    cluster.campaign("d");
    cluster.stabilize();
    expect(cluster.node("d").status().role).not.toBe("leader");
    cluster.elect("c");
    cluster.propose("c", "next");
    cluster.stabilize();
    for (const id of ["b", "c", "d", "e"]) expect(cluster.values(id)).toEqual(["committed", "next"]);
  });

  test("a vote survives a restart, so a node cannot vote twice in one term", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.campaign("a");
    for (const message of cluster.take()) if (message.to === "c") cluster.deliver(message);
    cluster.take();
    cluster.restart("c");
    expect(cluster.node("c").status()).toMatchObject({ term: 2, vote: "a" });
    cluster.campaign("b");
    cluster.act("c", (node) => node.step({ type: "vote", from: "b", to: "c", term: 2, lastIndex: 9, lastTerm: 1, transfer: false }));
    const answer = cluster.take().find((m) => m.type === "vote-response" && m.from === "c");
    expect(answer).toMatchObject({ to: "b", reject: true });
  });

  test("a restarted node keeps its log and commit index and applies nothing twice", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.propose("a", "x", "y");
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    const before = cluster.node("b").status();
    cluster.restart("b");
    const after = cluster.node("b").status();
    expect([after.term, after.commit, after.lastIndex, after.applied]).toEqual([before.term, before.commit, before.lastIndex, before.applied]);
    expect(cluster.values("b")).toEqual(["x", "y"]);
  });
});
