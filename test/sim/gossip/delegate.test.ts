// The application's channels through gossip (SwimDelegate), in the
// simulator: user broadcasts piggybacked on gossip packets, user state
// exchanged in push/pull (periodic and on join), and user messages sent
// straight to one member over UDP and TCP. Each node runs a small "fact
// book" delegate; facts must reach every node through each channel on its
// own, within a bound. A failing run prints `SEED=<n> bun test <file>`.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../../src/lib/prng.ts";
import { pushPullIntervalMs, retransmitLimit } from "../../../src/gossip/math.ts";
import { profiles } from "../../../src/config/profiles.ts";
import type { SwimDelegate } from "../../../src/gossip/types.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, describeKnobs, randomKnobs, simTimeoutMs, type GossipClusterOptions, type GossipNode } from "./harness.ts";
import { disseminationMs, joinConvergenceBoundMs } from "./bounds.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Marks a user message that carries a fact (others are plain direct messages). */
const factPrefix = "fact:";
/** Facts queued for broadcast at one node; more are dropped (the test never gets near it). */
const outboxMax = 256;

/**
 * A delegate that keeps a set of facts. Facts it publishes, or learns from a
 * broadcast, are broadcast on (like Serf's user events) a few times each;
 * its whole set travels in push/pull. Either channel can be switched off.
 */
class FactBook implements SwimDelegate {
  readonly facts = new Set<string>();
  /** Direct user messages received (not facts), in arrival order. */
  readonly messages: string[] = [];
  private outbox: { bytes: Uint8Array; transmits: number }[] = [];

  constructor(
    private readonly channels: { broadcast: boolean; state: boolean },
    private readonly transmitsMax: number,
  ) {}

  publish(fact: string): void {
    this.learn(fact);
  }

  private learn(fact: string): void {
    if (this.facts.has(fact)) return;
    this.facts.add(fact);
    if (this.channels.broadcast && this.outbox.length < outboxMax) this.outbox.push({ bytes: encoder.encode(factPrefix + fact), transmits: 0 });
  }

  localState(): Uint8Array {
    return this.channels.state ? encoder.encode(JSON.stringify([...this.facts].sort())) : new Uint8Array(0);
  }

  mergeRemoteState(state: Uint8Array): void {
    for (const fact of JSON.parse(decoder.decode(state)) as string[]) this.learn(fact);
  }

  notifyMessage(payload: Uint8Array): void {
    const text = decoder.decode(payload);
    if (text.startsWith(factPrefix)) this.learn(text.slice(factPrefix.length));
    else this.messages.push(text);
  }

  /** Up to `limitBytes`, each message costing `overheadBytes` more; each fact goes out `transmitsMax` times. */
  broadcasts(overheadBytes: number, limitBytes: number): Uint8Array[] {
    const chosen: Uint8Array[] = [];
    let used = 0;
    for (const item of this.outbox) {
      if (used + item.bytes.length + overheadBytes > limitBytes) continue;
      used += item.bytes.length + overheadBytes;
      chosen.push(item.bytes);
      item.transmits++;
    }
    this.outbox = this.outbox.filter((item) => item.transmits < this.transmitsMax);
    return chosen;
  }
}

interface FactRun {
  cluster: GossipCluster;
  books: Map<string, FactBook>;
  what: string;
}

function factCluster(seed: number, size: number, channels: { broadcast: boolean; state: boolean }, options: Partial<GossipClusterOptions> = {}): FactRun {
  const knobs = randomKnobs(seed, { lossMax: 0.2, tcpPings: true });
  const books = new Map<string, FactBook>();
  const cluster = new GossipCluster({
    seed,
    size,
    ...knobs,
    ...options,
    // A restart starts with an empty book, as a process that keeps its facts in memory would.
    delegate: (node: GossipNode) => {
      // Like memberlist's own queue (and Serf's for user events): retransmitMult x ceil(log10(n + 1)) sends.
      const book = new FactBook(channels, retransmitLimit(profiles.lan.gossip.retransmitMult, size));
      books.set(node.name, book);
      return book;
    },
  });
  cluster.startAll();
  expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(cluster.gossip, size))).toBeDefined();
  return { cluster, books, what: `n=${size} (${describeKnobs(knobs)})` };
}

/** Publish `count` facts from random live nodes over `spreadMs`; returns when the last is out. */
function publishFacts(run: FactRun, prng: Prng, count: number, spreadMs: number): string[] {
  const facts: string[] = [];
  const startMs = run.cluster.sim.nowMs;
  for (let i = 0; i < count; i++) {
    const node = prng.pick(run.cluster.liveNodes());
    const fact = `${node.name}#${i}`;
    facts.push(fact);
    run.cluster.sim.at(startMs + prng.int(spreadMs), `publish ${fact}`, () => run.books.get(node.name)!.publish(fact));
  }
  run.cluster.sim.runUntil(startMs + spreadMs);
  return facts;
}

function everyoneKnows(run: FactRun, facts: readonly string[]): boolean {
  return run.cluster.liveNodes().every((node) => facts.every((fact) => run.books.get(node.name)!.facts.has(fact)));
}

describe("gossip delegate channels (simulated)", () => {
  test("user broadcasts alone carry facts to nearly every node within a dissemination", () => {
    forEachSeed(import.meta.path, 15, (seed) => {
      const prng = new Prng(seed);
      const size = 3 + prng.int(18);
      // Push/pull pushed out of reach, so that only broadcasts can deliver.
      const run = factCluster(seed, size, { broadcast: true, state: false }, { gossip: { pushPullIntervalMs: 3_600_000 } });
      const facts = publishFacts(run, prng, 5 + prng.int(20), 5_000);
      const boundMs = disseminationMs(run.cluster.gossip);
      run.cluster.runUntil(() => everyoneKnows(run, facts), boundMs);
      // Broadcasts are best effort: each holder sends a fact only
      // retransmitMult x ceil(log10(n + 1)) times to random members (4 at
      // n < 10), so in small clusters a member is sometimes missed by all of
      // them: over 300 seeds, 0.4 % of member-fact pairs on average and 6.5 %
      // in the worst run. Push/pull is the backstop (next test). Demand 90 %.
      const pairs = run.cluster.liveNodes().flatMap((node) => facts.map((fact) => run.books.get(node.name)!.facts.has(fact)));
      const deliveredShare = pairs.filter(Boolean).length / pairs.length;
      if (deliveredShare < 0.9) throw new Error(`only ${(deliveredShare * 100).toFixed(1)} % delivered within ${boundMs} ms: ${run.what}`);
    });
  }, simTimeoutMs(15, 300));

  test("user broadcasts with push/pull as the backstop carry facts to every node", () => {
    forEachSeed(import.meta.path, 15, (seed) => {
      const prng = new Prng(seed);
      const size = 3 + prng.int(18);
      const run = factCluster(seed, size, { broadcast: true, state: true });
      const facts = publishFacts(run, prng, 5 + prng.int(20), 5_000);
      // Like a join: by gossip, and by the next push/pull for a member that missed one.
      const boundMs = joinConvergenceBoundMs(run.cluster.gossip, size);
      if (run.cluster.runUntil(() => everyoneKnows(run, facts), boundMs) === undefined) {
        throw new Error(`facts not everywhere within ${boundMs} ms: ${run.what}`);
      }
    });
  }, simTimeoutMs(15, 300));

  test("push/pull user state alone carries facts to every node, and a restarted node gets them on join", () => {
    forEachSeed(import.meta.path, 15, (seed) => {
      const prng = new Prng(seed);
      const size = 3 + prng.int(10);
      const run = factCluster(seed, size, { broadcast: false, state: true });
      const g = run.cluster.gossip;
      const facts = publishFacts(run, prng, 3 + prng.int(10), 5_000);
      // Anti-entropy spreads like an epidemic of push/pull rounds: every node
      // exchanges both ways with a random live node once per interval, so the
      // informed set roughly doubles per round or better; allow
      // log2(n) + 4 rounds.
      const rounds = Math.ceil(Math.log2(size)) + 4;
      const boundMs = rounds * pushPullIntervalMs(g.pushPullIntervalMs, size);
      if (run.cluster.runUntil(() => everyoneKnows(run, facts), boundMs, 500) === undefined) {
        throw new Error(`state facts not everywhere within ${boundMs} ms: ${run.what}`);
      }
      // A node that restarts has an empty book and fills it from the join exchange itself.
      const node = prng.pick(run.cluster.nodes.slice(1));
      run.cluster.crash(node);
      run.cluster.sim.runFor(1_000);
      let knewOnJoin: boolean | undefined;
      run.cluster.listeners.push((at, event) => {
        if (at === node && event.kind === "joined") knewOnJoin = facts.every((fact) => run.books.get(node.name)!.facts.has(fact));
      });
      run.cluster.restart(node);
      run.cluster.sim.runFor(g.tcpTimeoutMs);
      expect(knewOnJoin).toBe(true);
    });
  }, simTimeoutMs(15, 300));

  test("user messages cross by stream always and by packet when nothing is lost", () => {
    forEachSeed(import.meta.path, 15, (seed) => {
      const prng = new Prng(seed);
      const size = 3 + prng.int(8);
      const run = factCluster(seed, size, { broadcast: false, state: false });
      const { cluster, books } = run;
      const expected = new Map<string, string[]>();
      const send = (kind: "stream" | "packet", count: number) => {
        for (let i = 0; i < count; i++) {
          const [from, to] = prng.shuffle(cluster.nodes.slice());
          const text = `${kind} ${i} ${from!.name}->${to!.name}`;
          expected.set(to!.name, [...(expected.get(to!.name) ?? []), text]);
          const payload = encoder.encode(text);
          if (kind === "stream") from!.shell.sendUserStream(to!.address, payload);
          else from!.shell.sendUserPacket(to!.address, payload);
        }
      };
      // Streams are reliable even at the run's loss rate.
      send("stream", 20);
      cluster.sim.runFor(2_000);
      // Packets only when the network loses none (duplicates may still arrive twice).
      cluster.setFaults({ ...cluster.network.faults, lossRate: 0 });
      send("packet", 20);
      cluster.sim.runFor(2_000);
      for (const node of cluster.nodes) {
        const got = new Set(books.get(node.name)!.messages);
        const want = expected.get(node.name) ?? [];
        expect(want.filter((text) => !got.has(text))).toEqual([]);
        expect([...got].filter((text) => !want.includes(text))).toEqual([]);
      }
    });
  }, simTimeoutMs(15, 200));
});

