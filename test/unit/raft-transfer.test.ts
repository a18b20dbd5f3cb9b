// Leadership transfer (thesis §3.10): the leader brings the target up to
// date, then sends TimeoutNow; the target campaigns at once and wins even
// where voters still hear from the old leader. Proposals wait meanwhile, and
// a transfer that does not finish within an election timeout is abandoned.

import { describe, expect, test } from "bun:test";
import { ScriptedCluster } from "../sim/raft/scripted.ts";

describe("leadership transfer (thesis §3.10)", () => {
  test("an up-to-date voter takes over at once, in the next term", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    expect(cluster.act("a", (node) => node.transferLeadership("b"))).toEqual({ ok: true });
    expect(cluster.queue.map((m) => [m.type, m.to])).toEqual([["timeout-now", "b"]]);
    cluster.stabilize();
    expect(cluster.node("b").status()).toMatchObject({ role: "leader", term: 3 });
    expect(cluster.node("a").status()).toMatchObject({ role: "follower", lead: "b" });
  });

  test("a lagging target is caught up first, then takes over with everything", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"]);
    cluster.elect("a");
    cluster.isolate("b");
    cluster.propose("a", "x", "y");
    cluster.stabilize();
    cluster.heal();
    cluster.act("a", (node) => node.transferLeadership("b"));
    expect(cluster.queue.some((m) => m.type === "timeout-now")).toBe(false);
    cluster.stabilize();
    expect(cluster.node("b").status().role).toBe("leader");
    cluster.propose("b", "z");
    cluster.stabilize();
    expect(cluster.values("b")).toEqual(["x", "y", "z"]);
  });

  test("proposals are refused during a transfer, which is abandoned after an election timeout", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { electionTicks: 10 });
    cluster.elect("a");
    cluster.isolate("b");
    cluster.act("a", (node) => node.transferLeadership("b"));
    expect(cluster.propose("a", "x")).toMatchObject({ ok: false, error: "transferring" });
    for (let tick = 0; tick < 10; tick++) {
      cluster.tick("a");
      cluster.stabilize();
    }
    expect(cluster.node("a").status()).toMatchObject({ role: "leader", leadTransferee: "" });
    expect(cluster.propose("a", "x").ok).toBe(true);
  });

  test("only a voter other than the leader can be the target", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], {}, { voters: ["a", "b"], learners: ["c"] });
    cluster.elect("a");
    expect(cluster.act("a", (node) => node.transferLeadership("a"))).toMatchObject({ ok: false, error: "self" });
    expect(cluster.act("a", (node) => node.transferLeadership("c"))).toMatchObject({ ok: false, error: "not-a-voter" });
    expect(cluster.act("b", (node) => node.transferLeadership("a"))).toMatchObject({ ok: false, error: "not-leader", leader: "a" });
  });
});
