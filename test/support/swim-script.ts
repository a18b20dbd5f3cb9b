// One SWIM core driven by hand for scripted tests: a clock moved by the test,
// the core's pending timers fired in order on request, and helpers to build
// alive messages and read what was sent. No network, no simulator.

import { Swim } from "../../src/gossip/swim.ts";
import { decodePacket } from "../../src/gossip/codec.ts";
import { Prng } from "../../src/lib/prng.ts";
import { profiles } from "../../src/config/profiles.ts";
import { nullDelegate, type SwimEffect, type SwimTimer } from "../../src/gossip/types.ts";
import type { Alive, PacketMessage } from "../../src/gossip/messages.ts";
import type { GossipConfig } from "../../src/config/schema.ts";

export interface SwimScriptOptions {
  name?: string;
  gossip?: GossipConfig;
  tombstoneMs?: number;
  /** Seed of the core's PRNG. */
  seed?: number;
}

export class SwimScript {
  nowMs = 0;
  readonly swim: Swim;
  readonly gossip: GossipConfig;
  /** Every effect the core produced, in order. */
  readonly effects: SwimEffect[] = [];
  private timers: Extract<SwimEffect, { kind: "set-timer" }>[] = [];

  constructor(options: SwimScriptOptions = {}) {
    this.gossip = options.gossip ?? profiles.lan.gossip;
    this.swim = new Swim(
      {
        name: options.name ?? "self",
        advertiseHost: "10.0.0.1",
        advertiseAddr: Uint8Array.of(10, 0, 0, 1),
        advertisePort: 7946,
        meta: new Uint8Array(0),
        gossip: this.gossip,
        packetOverheadBytes: 0,
        incarnation: 5,
        ...(options.tombstoneMs === undefined ? {} : { tombstoneMs: options.tombstoneMs }),
      },
      new Prng(options.seed ?? 1),
      nullDelegate,
      0,
    );
    this.collect();
  }

  /** Take the core's new effects (after calling it directly); timers among them become pending. */
  collect(): SwimEffect[] {
    const effects = this.swim.drain();
    this.effects.push(...effects);
    for (const effect of effects) if (effect.kind === "set-timer") this.timers.push(effect);
    return effects;
  }

  alive(name: string, octet: number, incarnation = 1, port = 7946): Alive {
    return { type: "alive", incarnation, node: name, addr: Uint8Array.of(10, 0, 0, octet), port, meta: new Uint8Array(0), vsn: Uint8Array.of(1, 5, 2, 0, 0, 0) };
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

  /** Let gossip rounds run until nothing is queued (at most 200), so that later sends show only new news; false if something stayed. */
  drainBroadcasts(): boolean {
    for (let i = 0; i < 200 && this.swim.queuedBroadcasts() > 0; i++) this.advance(this.nowMs + this.gossip.gossipIntervalMs, ["gossip"]);
    return this.swim.queuedBroadcasts() === 0;
  }
}

/** The messages inside the packets among `effects`, with their destination. */
export function sentMessages(effects: SwimEffect[]): Array<{ to: string; message: PacketMessage }> {
  return effects.flatMap((e) =>
    e.kind === "send-packet" ? e.parts.flatMap((part) => decodePacket(part).messages.map((message) => ({ to: e.to, message }))) : [],
  );
}
