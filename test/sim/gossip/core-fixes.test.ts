// Scripted regression tests for behaviour of the SWIM core that the
// simulated properties depend on (see the comments in swim.ts and
// members.ts): each drives one core by hand, inputs in and effects out, and
// pins one rule down without a network or a seed.

import { describe, expect, test } from "bun:test";
import { Swim } from "../../../src/gossip/swim.ts";
import { decodePacket } from "../../../src/gossip/codec.ts";
import { Prng } from "../../../src/lib/prng.ts";
import { profiles } from "../../../src/config/profiles.ts";
import { nullDelegate, type SwimEffect, type SwimTimer } from "../../../src/gossip/types.ts";
import type { Alive, PacketMessage } from "../../../src/gossip/messages.ts";

const lan = profiles.lan.gossip;

/** One core, a hand-moved clock, and its pending timers. */
class Script {
  nowMs = 0;
  readonly swim: Swim;
  private timers: Extract<SwimEffect, { kind: "set-timer" }>[] = [];

  constructor(options: { tombstoneMs?: number } = {}) {
    this.swim = new Swim(
      {
        name: "self",
        advertiseHost: "10.0.0.1",
        advertiseAddr: Uint8Array.of(10, 0, 0, 1),
        advertisePort: 7946,
        meta: new Uint8Array(0),
        gossip: lan,
        packetOverheadBytes: 0,
        incarnation: 5,
        ...options,
      },
      new Prng(7),
      nullDelegate,
      0,
    );
    this.collect();
  }

  private collect(): SwimEffect[] {
    const effects = this.swim.drain();
    for (const effect of effects) if (effect.kind === "set-timer") this.timers.push(effect);
    return effects;
  }

  alive(name: string, octet: number, incarnation = 1): Alive {
    return { type: "alive", incarnation, node: name, addr: Uint8Array.of(10, 0, 0, octet), port: 7946, meta: new Uint8Array(0), vsn: Uint8Array.of(1, 5, 2, 0, 0, 0) };
  }

  receive(...messages: PacketMessage[]): SwimEffect[] {
    this.swim.handlePacket(this.nowMs, "10.0.0.99:7946", messages);
    return this.collect();
  }

  /** Fire due timers (of `kinds`, or all) in order until `untilMs`; returns what they produced. */
  advance(untilMs: number, kinds?: SwimTimer["kind"][]): SwimEffect[] {
    const out: SwimEffect[] = [];
    for (;;) {
      const due = this.timers
        .filter((t) => t.atMs <= untilMs && (!kinds || kinds.includes(t.timer.kind)))
        .sort((a, b) => a.atMs - b.atMs)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.nowMs = Math.max(this.nowMs, due.atMs);
      this.swim.handleTimer(this.nowMs, due.timer);
      out.push(...this.collect());
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
    return out;
  }

  /** Let gossip rounds run until nothing is queued, so that later sends show only new news. */
  drainBroadcasts(): void {
    for (let i = 0; i < 200 && this.swim.queuedBroadcasts() > 0; i++) this.advance(this.nowMs + lan.gossipIntervalMs, ["gossip"]);
    expect(this.swim.queuedBroadcasts()).toBe(0);
  }
}

function sent(effects: SwimEffect[]): Array<{ to: string; message: PacketMessage }> {
  return effects.flatMap((e) =>
    e.kind === "send-packet" ? e.parts.flatMap((part) => decodePacket(part).messages.map((message) => ({ to: e.to, message }))) : [],
  );
}

describe("SWIM core rules the simulation relies on", () => {
  test("a failed probe accuses only the incarnation it probed", () => {
    const s = new Script();
    s.receive(s.alive("b", 2));
    let probed = false;
    for (let round = 0; round < 8 && !probed; round++) {
      probed = sent(s.advance(s.nowMs + lan.probeIntervalMs, ["probe"])).some((m) => m.message.type === "ping" && m.message.node === "b");
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
    const s = new Script();
    s.receive(s.alive("b", 2));
    s.drainBroadcasts();
    const effects = s.receive({ type: "suspect", incarnation: 3, node: "self", from: "b" });
    expect(effects.some((e) => e.kind === "event" && e.event.kind === "refuted")).toBe(false);
    expect(s.swim.incarnation()).toBe(5);
    const out = sent(s.advance(s.nowMs + lan.gossipIntervalMs, ["gossip"]));
    expect(out.some((m) => m.message.type === "alive" && m.message.node === "self" && m.message.incarnation === 5)).toBe(true);
  });

  test("a suspicion of a member that left spreads its leave again", () => {
    const s = new Script();
    s.receive(s.alive("b", 2), s.alive("c", 3));
    s.receive({ type: "dead", incarnation: 1, node: "b", from: "b" });
    expect(s.swim.member("b")?.state).toBe("left");
    s.drainBroadcasts();
    s.receive({ type: "suspect", incarnation: 1, node: "b", from: "c" });
    expect(s.swim.member("b")?.state).toBe("left");
    const out = sent(s.advance(s.nowMs + lan.gossipIntervalMs, ["gossip"]));
    expect(out.some((m) => m.message.type === "dead" && m.message.node === "b" && m.message.from === "b")).toBe(true);
  });

  test("a claim that a forgotten dead member is alive at its buried incarnation reopens it as dead and gossips a suspicion", () => {
    const s = new Script();
    s.receive(s.alive("b", 2, 4), s.alive("c", 3));
    s.receive({ type: "dead", incarnation: 4, node: "b", from: "c" });
    // Probe rounds end and forget b once it has been dead for gossipToTheDeadMs.
    s.advance(lan.gossipToTheDeadMs + 10 * lan.probeIntervalMs, ["probe", "probe-timeout", "gossip"]);
    expect(s.swim.member("b")).toBeUndefined();
    s.drainBroadcasts();
    s.receive(s.alive("b", 2, 4));
    expect(s.swim.member("b")?.state).toBe("dead");
    const out = sent(s.advance(s.nowMs + lan.gossipIntervalMs, ["gossip"]));
    expect(out.some((m) => m.message.type === "suspect" && m.message.node === "b" && m.message.incarnation === 4)).toBe(true);
    // A higher incarnation from b itself passes.
    s.receive(s.alive("b", 2, 5));
    expect(s.swim.member("b")?.state).toBe("alive");
  });

  test("the push/pull timer reconnects to a failed member, forgotten or not, until its tombstone expires", () => {
    const tombstoneMs = 120_000;
    const s = new Script({ tombstoneMs });
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
