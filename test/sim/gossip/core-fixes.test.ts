// Scripted regression tests for behaviour of the SWIM core that the
// simulated properties depend on (see the comments in swim.ts and
// members.ts): each drives one core by hand, inputs in and effects out, and
// pins one rule down without a network or a seed.

import { describe, expect, test } from "bun:test";
import { profiles } from "../../../src/config/profiles.ts";
import { SwimScript, sentMessages } from "../../support/swim-script.ts";

const lan = profiles.lan.gossip;

describe("SWIM core rules the simulation relies on", () => {
  test("a failed probe accuses only the incarnation it probed", () => {
    const s = new SwimScript({ seed: 7 });
    s.receive(s.alive("b", 2));
    let probed = false;
    for (let round = 0; round < 8 && !probed; round++) {
      probed = sentMessages(s.advance(s.nowMs + lan.probeIntervalMs, ["probe"])).some((m) => m.message.type === "ping" && m.message.node === "b");
    }
    expect(probed).toBe(true);
    // The ping goes unanswered, but meanwhile b restarted (or refuted) with a higher incarnation.
    s.receive(s.alive("b", 2, 2));
    // The next probe tick closes the round (and starts another, whose outcome is not the point here).
    s.advance(s.nowMs + lan.probeIntervalMs, ["probe", "probe-timeout"]);
    expect(s.swim.member("b")?.state).toBe("alive");
    expect(s.swim.member("b")?.incarnation).toBe(2);
  });

  test("an accusation of an incarnation already refuted re-announces the current one, unchanged", () => {
    const s = new SwimScript({ seed: 7 });
    s.receive(s.alive("b", 2));
    expect(s.drainBroadcasts()).toBe(true);
    const effects = s.receive({ type: "suspect", incarnation: 3, node: "self", from: "b" });
    expect(effects.some((e) => e.kind === "event" && e.event.kind === "refuted")).toBe(false);
    expect(s.swim.incarnation()).toBe(5);
    const out = sentMessages(s.advance(s.nowMs + lan.gossipIntervalMs, ["gossip"]));
    expect(out.some((m) => m.message.type === "alive" && m.message.node === "self" && m.message.incarnation === 5)).toBe(true);
  });

  test("a suspicion of a member that left spreads its leave again", () => {
    const s = new SwimScript({ seed: 7 });
    s.receive(s.alive("b", 2), s.alive("c", 3));
    s.receive({ type: "dead", incarnation: 1, node: "b", from: "b" });
    expect(s.swim.member("b")?.state).toBe("left");
    expect(s.drainBroadcasts()).toBe(true);
    s.receive({ type: "suspect", incarnation: 1, node: "b", from: "c" });
    expect(s.swim.member("b")?.state).toBe("left");
    const out = sentMessages(s.advance(s.nowMs + lan.gossipIntervalMs, ["gossip"]));
    expect(out.some((m) => m.message.type === "dead" && m.message.node === "b" && m.message.from === "b")).toBe(true);
  });

  test("a claim that a forgotten dead member is alive at its buried incarnation reopens it as dead and gossips a suspicion", () => {
    const s = new SwimScript({ seed: 7 });
    s.receive(s.alive("b", 2, 4), s.alive("c", 3));
    s.receive({ type: "dead", incarnation: 4, node: "b", from: "c" });
    // Probe rounds end and forget b once it has been dead for gossipToTheDeadMs.
    s.advance(lan.gossipToTheDeadMs + 10 * lan.probeIntervalMs, ["probe", "probe-timeout", "gossip"]);
    expect(s.swim.member("b")).toBeUndefined();
    expect(s.drainBroadcasts()).toBe(true);
    s.receive(s.alive("b", 2, 4));
    expect(s.swim.member("b")?.state).toBe("dead");
    const out = sentMessages(s.advance(s.nowMs + lan.gossipIntervalMs, ["gossip"]));
    expect(out.some((m) => m.message.type === "suspect" && m.message.node === "b" && m.message.incarnation === 4)).toBe(true);
    // A higher incarnation from b itself passes.
    s.receive(s.alive("b", 2, 5));
    expect(s.swim.member("b")?.state).toBe("alive");
  });

  test("the push/pull timer reconnects to a failed member, forgotten or not, until its tombstone expires", () => {
    const tombstoneMs = 120_000;
    const s = new SwimScript({ tombstoneMs, seed: 7 });
    s.receive(s.alive("b", 2));
    s.receive({ type: "dead", incarnation: 1, node: "b", from: "x" });
    const diedAtMs = s.nowMs;
    // Alone among the living, every push/pull tick tries b (probability failed/live = 1).
    const attemptsAt: number[] = [];
    for (let t = 0; t < 20; t++) {
      const effects = s.advance(s.nowMs + lan.pushPullIntervalMs, ["push-pull", "probe", "probe-timeout", "gossip"]);
      if (effects.some((e) => e.kind === "stream" && e.to === "10.0.0.2:7946" && e.message.type === "push-pull")) attemptsAt.push(s.nowMs);
    }
    // Attempts continue after b is forgotten (30 s), and stop once the tombstone,
    // counted from the first removal and not from each reconnect, has expired.
    expect(attemptsAt.some((atMs) => atMs > diedAtMs + lan.gossipToTheDeadMs + lan.pushPullIntervalMs)).toBe(true);
    const lastAttemptMs = Math.max(...attemptsAt);
    expect(lastAttemptMs).toBeLessThanOrEqual(diedAtMs + lan.gossipToTheDeadMs + 2 * lan.probeIntervalMs + tombstoneMs + lan.pushPullIntervalMs);
    expect(attemptsAt.length).toBeLessThan(20);
  });
});
