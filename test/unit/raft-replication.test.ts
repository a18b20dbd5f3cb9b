// Log replication (§5.3): entries flow from the leader, conflicting follower
// entries are replaced, and the leader paces each follower (probe and
// replicate states, a bounded window of messages in flight, a byte budget per
// message) and batches proposals that arrive between two Readies.

import { describe, expect, test } from "bun:test";
import type { AppendRequest, Message } from "../../src/raft/index.ts";
import { ScriptedCluster, text } from "../sim/raft/scripted.ts";

const basic = { preVote: false, checkQuorum: false };

function appendsTo(messages: readonly Message[], to: string): AppendRequest[] {
  return messages.filter((m): m is AppendRequest => m.type === "append" && m.to === to);
}

describe("log replication (§5.3)", () => {
  test("committed entries reach every follower, in order", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.propose("a", "x");
    cluster.propose("a", "y", "z");
    cluster.stabilize();
    for (const id of ["a", "b", "c"]) expect(cluster.values(id)).toEqual(["x", "y", "z"]);
  });

  test("a follower applies an entry only once the leader says it is committed", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.cut.add("a>c");
    cluster.propose("a", "x");
    cluster.filter = (m) => m.type !== "append" || m.entries.length > 0; // hold back the commit broadcast
    cluster.stabilize();
    expect(cluster.values("a")).toEqual(["x"]);
    expect(cluster.values("b")).toEqual([]);
    cluster.heal();
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.values("b")).toEqual(["x"]);
    expect(cluster.values("c")).toEqual(["x"]);
  });

  test("a deposed leader's uncommitted entries are replaced by the new leader's", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.isolate("a");
    cluster.propose("a", "lost1", "lost2");
    cluster.elect("b");
    cluster.propose("b", "kept");
    cluster.stabilize();
    cluster.heal();
    cluster.tick("b");
    cluster.stabilize();
    for (const id of ["a", "b", "c"]) expect(cluster.values(id)).toEqual(["kept"]);
    expect(cluster.node("a").status().lastIndex).toBe(cluster.node("b").status().lastIndex);
  });

  test("a follower being probed gets one append until it answers or a heartbeat passes", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.isolate("c");
    cluster.tick("a", 3); // heartbeats unanswered: c stays where it was
    cluster.take();
    // Make the leader lose track of c: an unreachable report moves it to probe.
    cluster.act("a", (node) => node.reportUnreachable("c"));
    cluster.propose("a", "1");
    cluster.propose("a", "2");
    cluster.propose("a", "3");
    expect(appendsTo(cluster.take(), "c").length).toBe(1);
    expect(cluster.node("a").status().peers.c!.state).toBe("probe");
  });

  test("a follower in replicate state has at most inflightMessagesMax appends unanswered", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { ...basic, inflightMessagesMax: 2 });
    cluster.elect("a");
    cluster.cut.add("b>a");
    cluster.cut.add("c>a");
    for (let i = 0; i < 5; i++) cluster.propose("a", `v${i}`);
    const sent = cluster.take();
    expect(appendsTo(sent, "b").length).toBe(2);
    expect(cluster.node("a").status().peers.b).toMatchObject({ state: "replicate", inflightMessages: 2 });
    cluster.queue.push(...sent);
    cluster.heal();
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    expect(cluster.values("c")).toEqual(["v0", "v1", "v2", "v3", "v4"]);
  });

  test("proposals made between two Readies go out as one append per follower", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.act("a", (node) => {
      node.propose([text("x")]);
      node.propose([text("y")]);
      node.propose([text("z")]);
    });
    const appends = appendsTo(cluster.take(), "b");
    expect(appends.map((m) => m.entries.length)).toEqual([3]);
  });

  test("a backlog is split into appends within appendBytesMax", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], { ...basic, appendBytesMax: 100 });
    cluster.elect("a");
    cluster.cut.add("a>b");
    for (let i = 0; i < 10; i++) cluster.propose("a", `value-${i}`.padEnd(20, "."));
    cluster.stabilize();
    cluster.heal();
    cluster.tick("a");
    const sizes: number[] = [];
    while (cluster.queue.length > 0) {
      const message = cluster.queue.shift()!;
      if (message.type === "append" && message.to === "b" && message.entries.length > 0) sizes.push(message.entries.length);
      cluster.deliver(message);
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
    expect(cluster.values("b").length).toBe(10);
  });

  test("lost appends are repaired after the next heartbeat", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.filter = (m) => m.type !== "append";
    cluster.propose("a", "x");
    cluster.stabilize();
    expect(cluster.values("b")).toEqual([]);
    cluster.heal();
    cluster.tick("a");
    cluster.stabilize();
    cluster.tick("a");
    cluster.stabilize();
    for (const id of ["a", "b", "c"]) expect(cluster.values(id)).toEqual(["x"]);
  });

  test("a follower far behind is walked back a term at a time, not an entry at a time", () => {
    const cluster = new ScriptedCluster(["a", "b", "c"], basic);
    cluster.elect("a");
    cluster.isolate("c");
    for (let i = 0; i < 30; i++) cluster.propose("a", `v${i}`);
    cluster.stabilize();
    cluster.heal();
    cluster.tick("a");
    let rejections = 0;
    while (cluster.queue.length > 0) {
      const message = cluster.queue.shift()!;
      if (message.type === "append-response" && message.reject) rejections++;
      cluster.deliver(message);
    }
    expect(rejections).toBeLessThanOrEqual(2);
    expect(cluster.values("c").length).toBe(30);
  });
});
