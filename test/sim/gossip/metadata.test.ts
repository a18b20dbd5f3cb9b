// Node metadata in the simulator: nodes publish new metadata (each update is
// a new incarnation, gossiped as an alive message) while packets are lost,
// duplicated and reordered, and every live node must end up with every
// node's latest metadata within the bound. A failing run prints
// `SEED=<n> bun test <file>` to replay it.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../../src/lib/prng.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, describeKnobs, randomKnobs, simTimeoutMs } from "./harness.ts";
import { joinConvergenceBoundMs } from "./bounds.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function metadataRun(seed: number): void {
  const prng = new Prng(seed);
  const size = 3 + prng.int(18);
  const knobs = randomKnobs(seed, { lossMax: 0.2, tcpPings: true });
  const cluster = new GossipCluster({ seed, size, ...knobs });
  const g = cluster.gossip;
  cluster.startAll();
  expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(g, size))).toBeDefined();
  // Several nodes publish a few versions each, some in quick succession (a
  // newer version replaces the queued older one) and some seconds apart.
  const latest = new Map<string, string>();
  const publishers = prng.shuffle(cluster.nodes.slice()).slice(0, 1 + prng.int(size));
  let lastUpdateMs = cluster.sim.nowMs;
  for (const node of publishers) {
    const versions = 1 + prng.int(4);
    let atMs = cluster.sim.nowMs + prng.int(5_000);
    for (let version = 1; version <= versions; version++) {
      // Values of different sizes, up to the 512-byte limit, so packets fill up.
      const meta = `${node.name} v${version} ${"x".repeat(prng.int(400))}`;
      cluster.sim.at(atMs, `meta ${node.name} v${version}`, () => cluster.setMeta(node, encoder.encode(meta)));
      latest.set(node.name, meta);
      lastUpdateMs = Math.max(lastUpdateMs, atMs);
      atMs += prng.chance(0.5) ? prng.int(50) : prng.int(3_000);
    }
  }
  const upToDate = () =>
    cluster.liveNodes().every((observer) =>
      [...latest].every(([name, meta]) => {
        const member = cluster.memberIn(observer, name);
        return member !== undefined && decoder.decode(member.meta) === meta;
      }),
    );
  // Each update spreads like a join: by gossip, and by the next push/pull for a member that missed it.
  const boundMs = joinConvergenceBoundMs(g, size);
  cluster.sim.runUntil(lastUpdateMs);
  const tookMs = cluster.runUntil(upToDate, boundMs);
  if (tookMs === undefined) {
    const stale = cluster.liveNodes().flatMap((observer) =>
      [...latest]
        .filter(([name, meta]) => decoder.decode(cluster.memberIn(observer, name)?.meta ?? new Uint8Array()) !== meta)
        .map(([name]) => `${observer.name} about ${name}`),
    );
    throw new Error(`metadata not everywhere within ${boundMs} ms: ${stale.slice(0, 10).join(", ")} (n=${size}, ${describeKnobs(knobs)})`);
  }
  // Every observer heard of each change through an "update" event, not only in its table.
  for (const [name] of latest) {
    const told = new Set(cluster.events.filter((e) => e.kind === "update" && e.member === name).map((e) => e.observer));
    for (const observer of cluster.liveNodes()) expect(told.has(observer.name)).toBe(true);
  }
  expect(cluster.falseDeaths()).toEqual([]);
  cluster.checkIncarnations();
}

describe("gossip metadata (simulated)", () => {
  test("metadata updates reach every node", () => {
    forEachSeed(import.meta.path, 25, metadataRun);
  }, simTimeoutMs(25, 300));
});
