// Scripted tests of the SWIM core and its formulas: inputs in, effects out,
// no network and no clock.

import { describe, expect, test } from "bun:test";
import { BroadcastQueue } from "../../src/gossip/broadcasts.ts";
import { pushPullIntervalMs, retransmitLimit, suspicionConfirmationsWanted, suspicionTimeoutMinMs, suspicionTimeoutMs } from "../../src/gossip/math.ts";
import { profiles } from "../../src/config/profiles.ts";
import { SwimScript, sentMessages } from "../support/swim-script.ts";

describe("memberlist formulas", () => {
  test.each([
    [4, 5, 4],
    [4, 10, 8],
    [4, 100, 12],
    [2, 3, 2],
  ])("retransmitLimit(mult %i, n %i) = %i", (mult, n, expected) => {
    expect(retransmitLimit(mult, n)).toBe(expected);
  });

  test("suspicion timeouts follow Lifeguard", () => {
    expect(suspicionTimeoutMinMs(4, 10, 1000)).toBe(4000);
    expect(suspicionTimeoutMinMs(4, 100, 1000)).toBe(8000);
    expect(suspicionTimeoutMinMs(4, 3, 1000)).toBe(4000);
    expect(suspicionConfirmationsWanted(4, 10)).toBe(2);
    expect(suspicionConfirmationsWanted(4, 3)).toBe(0);
    // Starts at the maximum, reaches the minimum with k confirmations, never below.
    expect(suspicionTimeoutMs(0, 2, 4000, 24_000)).toBe(24_000);
    expect(suspicionTimeoutMs(1, 2, 4000, 24_000)).toBe(Math.floor(24_000 - (Math.log(2) / Math.log(3)) * 20_000));
    expect(suspicionTimeoutMs(2, 2, 4000, 24_000)).toBe(4000);
    expect(suspicionTimeoutMs(5, 2, 4000, 24_000)).toBe(4000);
  });

  test.each([
    [10, 30_000],
    [32, 30_000],
    [64, 60_000],
    [128, 90_000],
    [1000, 180_000],
  ])("push/pull interval for n=%i is %i ms", (n, expected) => {
    expect(pushPullIntervalMs(30_000, n)).toBe(expected);
  });
});

describe("BroadcastQueue", () => {
  test("sends fewest-transmitted first, respects the byte budget and the limit", () => {
    const queue = new BroadcastQueue();
    queue.push("a", new Uint8Array(10));
    queue.push("b", new Uint8Array(20));
    expect(queue.take(2, 25, 2).map((b) => b.length)).toEqual([20]);
    expect(queue.take(2, 100, 2).map((b) => b.length)).toEqual([10, 20]);
    expect(queue.take(2, 100, 2).map((b) => b.length)).toEqual([10]);
    expect(queue.size).toBe(0);
  });

  test("news about the same key replaces the queued message", () => {
    const queue = new BroadcastQueue();
    let finished = 0;
    queue.push("node-x", Uint8Array.of(1), () => finished++);
    queue.push("node-x", Uint8Array.of(2));
    expect(finished).toBe(1);
    expect(queue.take(0, 100, 1)).toEqual([Uint8Array.of(2)]);
  });

  test("is bounded", () => {
    const queue = new BroadcastQueue(3);
    for (let i = 0; i < 5; i++) queue.push(undefined, Uint8Array.of(i));
    expect(queue.size).toBe(3);
    expect(queue.droppedCount).toBe(2);
  });
});

describe("SWIM core", () => {
  test("a new member is announced as a join, and old news is ignored", () => {
    const s = new SwimScript();
    const events = s.receive(s.alive("b", 2, 3)).filter((e) => e.kind === "event");
    expect(events.map((e) => e.kind === "event" && e.event.kind)).toEqual(["join"]);
    expect(s.receive(s.alive("b", 2, 2)).filter((e) => e.kind === "event")).toEqual([]);
    expect(s.swim.member("b")?.incarnation).toBe(3);
  });

  test("an unanswered probe leads to indirect probes, a TCP ping, then suspicion and death", () => {
    const s = new SwimScript();
    s.receive(s.alive("b", 2), s.alive("c", 3), s.alive("d", 4), s.alive("e", 5));
    // Run probe rounds until one targets "b".
    let ping: { to: string } | undefined;
    for (let round = 0; round < 8 && !ping; round++) {
      const effects = s.advance(s.nowMs + 1000, ["probe"]);
      ping = sentMessages(effects).find((m) => m.message.type === "ping" && m.message.node === "b");
    }
    expect(ping?.to).toBe("10.0.0.2:7946");
    const timeout = s.advance(s.nowMs + 500, ["probe-timeout"]);
    const indirect = sentMessages(timeout).filter((m) => m.message.type === "indirect-ping");
    // Like memberlist's kRandomNodes, helpers are sampled (at most 3n tries), so up to indirectChecks.
    expect(indirect.length).toBeGreaterThanOrEqual(1);
    expect(indirect.length).toBeLessThanOrEqual(3);
    expect(new Set(indirect.map((m) => m.to)).size).toBe(indirect.length);
    expect(indirect.some((m) => m.to === "10.0.0.2:7946")).toBe(false);
    expect(timeout.some((e) => e.kind === "stream" && e.message.type === "ping")).toBe(true);
    // The round ends at the next probe tick (later when unanswered probes raised the health score).
    const next = s.advance(s.nowMs + 8000, ["probe"]);
    expect(s.swim.member("b")?.state).toBe("suspect");
    expect(sentMessages(next).some((m) => m.message.type === "suspect")).toBe(true);
    // No confirmations: the suspicion runs its maximum, 6 x 4 x 1000 ms.
    const suspectedAtMs = s.swim.member("b")!.stateChangeMs;
    s.advance(suspectedAtMs + 23_999, ["suspicion"]);
    expect(s.swim.member("b")?.state).toBe("suspect");
    s.advance(suspectedAtMs + 24_000, ["suspicion"]);
    expect(s.swim.member("b")?.state).toBe("dead");
  });

  test("a refused TCP ping suspects the target at once, without a local-health penalty; a silent one waits for the round", () => {
    for (const refused of [true, false]) {
      const s = new SwimScript();
      s.receive(s.alive("b", 2), s.alive("c", 3), s.alive("d", 4), s.alive("e", 5));
      let ping: { to: string } | undefined;
      let nextProbeMs = 0;
      for (let round = 0; round < 8 && !ping; round++) {
        const effects = s.advance(s.nowMs + 1000, ["probe"]);
        ping = sentMessages(effects).find((m) => m.message.type === "ping" && m.message.node === "b");
        for (const e of effects) if (e.kind === "set-timer" && e.timer.kind === "probe") nextProbeMs = e.atMs;
      }
      expect(ping?.to).toBe("10.0.0.2:7946");
      const timeout = s.advance(s.nowMs + 500, ["probe-timeout"]);
      const tcpPing = timeout.find((e) => e.kind === "stream" && e.message.type === "ping");
      if (tcpPing?.kind !== "stream") throw new Error("no TCP fallback ping");
      s.nowMs += 1;
      // Earlier rounds to members that never answer in this script raised it already.
      const healthBefore = s.swim.healthScore();
      s.swim.handleStreamReply(s.nowMs, tcpPing.requestId, "cannot connect to 10.0.0.2:7946: Failed to connect (ECONNREFUSED)", refused);
      const answered = s.collect();
      if (refused) {
        expect(s.swim.member("b")?.state).toBe("suspect");
        expect(s.swim.member("b")?.stateChangeMs).toBe(s.nowMs);
        // The news leaves at once, not at the next gossip tick.
        expect(sentMessages(answered).some((m) => m.message.type === "suspect" && m.message.node === "b")).toBe(true);
        // The helpers' nacks arrive later: they are not counted as missing when the round ends.
        s.advance(nextProbeMs, ["probe"]);
        expect(s.swim.healthScore()).toBe(healthBefore);
      } else {
        expect(s.swim.member("b")?.state).toBe("alive");
        s.advance(nextProbeMs, ["probe"]);
        expect(s.swim.member("b")?.state).toBe("suspect");
        expect(s.swim.healthScore()).toBeGreaterThan(healthBefore);
      }
    }
  });

  test("failure news is gossiped at once, at most one early round per quarter gossip interval", () => {
    const s = new SwimScript();
    s.receive(s.alive("b", 2), s.alive("c", 3), s.alive("d", 4), s.alive("e", 5), s.alive("f", 6));
    expect(s.drainBroadcasts()).toBe(true);
    const deaths = (effects: ReturnType<SwimScript["collect"]>) =>
      sentMessages(effects).filter((m) => m.message.type === "dead").map((m) => (m.message as { node: string }).node);
    // A death arriving between ticks leaves in the same step, to gossipNodes members.
    const first = s.receive({ type: "dead", incarnation: 1, node: "b", from: "c" });
    expect(deaths(first).length).toBe(s.gossip.gossipNodes);
    expect(new Set(deaths(first))).toEqual(new Set(["b"]));
    // Another within a quarter interval waits for the tick.
    s.nowMs += s.gossip.gossipIntervalMs / 4 - 1;
    expect(deaths(s.receive({ type: "dead", incarnation: 1, node: "c", from: "d" }))).toEqual([]);
    expect(deaths(s.advance(s.nowMs + s.gossip.gossipIntervalMs, ["gossip"]))).toContain("c");
    // News already known sends nothing early.
    s.nowMs += s.gossip.gossipIntervalMs;
    expect(s.drainBroadcasts()).toBe(true);
    expect(s.receive({ type: "dead", incarnation: 1, node: "b", from: "e" })).toEqual([]);
  });

  test("an accusation against this node is refuted with a higher incarnation", () => {
    const s = new SwimScript();
    const effects = s.receive({ type: "suspect", incarnation: 9, node: "self", from: "b" });
    expect(s.swim.incarnation()).toBe(10);
    expect(effects.some((e) => e.kind === "event" && e.event.kind === "refuted")).toBe(true);
    expect(s.swim.healthScore()).toBe(1);
  });

  test("dead from the node itself means left; from another, dead", () => {
    const s = new SwimScript();
    s.receive(s.alive("b", 2), s.alive("c", 3));
    s.receive({ type: "dead", incarnation: 1, node: "b", from: "b" });
    s.receive({ type: "dead", incarnation: 1, node: "c", from: "b" });
    expect(s.swim.member("b")?.state).toBe("left");
    expect(s.swim.member("c")?.state).toBe("dead");
  });

  test("a live member's name cannot be taken from another address", () => {
    const s = new SwimScript();
    s.receive(s.alive("b", 2));
    const effects = s.receive(s.alive("b", 7, 9));
    expect(effects.some((e) => e.kind === "event" && e.event.kind === "conflict")).toBe(true);
    expect(s.swim.member("b")?.host).toBe("10.0.0.2");
    // Once it is dead, a new address may reclaim the name.
    s.receive({ type: "dead", incarnation: 1, node: "b", from: "c" });
    s.receive(s.alive("b", 7, 2));
    expect(s.swim.member("b")?.host).toBe("10.0.0.7");
    expect(s.swim.member("b")?.state).toBe("alive");
  });

  test("a removed member's tombstone stops stale alive messages", () => {
    const s = new SwimScript({ gossip: { ...profiles.lan.gossip, gossipToTheDeadMs: 1000 } });
    s.receive(s.alive("b", 2, 4));
    s.receive({ type: "dead", incarnation: 4, node: "b", from: "c" });
    s.advance(10_000, ["probe"]);
    expect(s.swim.member("b")).toBeUndefined();
    // A stale claim does not bring it back alive: it is listed dead again and suspected,
    // so that a live holder of that name refutes with a higher incarnation.
    const effects = s.receive(s.alive("b", 2, 4));
    expect(s.swim.member("b")?.state).toBe("dead");
    expect(effects.some((e) => e.kind === "event" && e.event.kind === "join")).toBe(false);
    s.receive(s.alive("b", 2, 5));
    expect(s.swim.member("b")?.state).toBe("alive");
  });

  test("pings for another node's name get no ack", () => {
    const s = new SwimScript();
    const effects = s.receive({ type: "ping", seqNo: 1, node: "someone-else" });
    expect(sentMessages(effects)).toEqual([]);
    expect(s.swim.counters.unexpectedPings).toBe(1);
    const answered = s.receive({ type: "ping", seqNo: 2, node: "self", sourceAddr: Uint8Array.of(10, 0, 0, 8), sourcePort: 9000 });
    expect(sentMessages(answered)[0]).toMatchObject({ to: "10.0.0.8:9000", message: { type: "ack", seqNo: 2 } });
  });

  test("a graceful leave announces dead-from-self and reports left", () => {
    const s = new SwimScript();
    s.receive(s.alive("b", 2));
    s.swim.leave(s.nowMs);
    const effects = s.collect();
    const dead = sentMessages(effects).find((m) => m.message.type === "dead");
    expect(dead?.message).toMatchObject({ type: "dead", node: "self", from: "self" });
    s.advance(s.nowMs + 5000);
    expect(s.effects.some((e) => e.kind === "event" && e.event.kind === "left")).toBe(true);
  });
});
