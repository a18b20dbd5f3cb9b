// Graceful leave in the simulator: a node that leaves broadcasts its own
// "dead" message (memberlist marks it left because it comes from the node
// itself), waits until the news went out, and stops; every other node must
// then see it as "left", never as "dead", within the bound. A failing run
// prints `SEED=<n> bun test <file>` to replay it.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../../src/lib/prng.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, describeKnobs, randomKnobs, simTimeoutMs } from "./harness.ts";
import { joinConvergenceBoundMs } from "./bounds.ts";

function leaveRun(seed: number): void {
  const prng = new Prng(seed);
  const size = 4 + prng.int(12);
  const knobs = randomKnobs(seed, { lossMax: 0.1 });
  const cluster = new GossipCluster({ seed, size, ...knobs });
  const g = cluster.gossip;
  cluster.startAll();
  expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(g, size))).toBeDefined();
  cluster.sim.runFor(prng.int(5_000));
  const leavers = prng.shuffle(cluster.nodes.slice()).slice(0, 1 + prng.int(2));
  const leftAtMs = new Map<string, number>();
  for (const leaver of leavers) {
    const atMs = cluster.sim.nowMs + prng.int(3_000);
    leftAtMs.set(leaver.name, atMs);
    cluster.sim.at(atMs, `leave ${leaver.name}`, () => cluster.leave(leaver));
  }
  const stayers = cluster.nodes.filter((node) => !leavers.includes(node));
  const seenLeft = (observer: string, leaver: string) =>
    cluster.events.some((e) => e.observer === observer && e.member === leaver && e.kind === "leave" && e.state === "left");
  // Like a join, the news spreads by gossip, and push/pull brings it to a member that missed it.
  const boundMs = joinConvergenceBoundMs(g, size);
  const lastLeaveMs = Math.max(...leftAtMs.values());
  const tookMs = cluster.runUntil(
    () => leavers.every((l) => stayers.every((s) => seenLeft(s.name, l.name))),
    lastLeaveMs - cluster.sim.nowMs + boundMs,
    100,
  );
  const what = `n=${size}, ${leavers.length} leaving (${describeKnobs(knobs)})`;
  for (const leaver of leavers) {
    const dead = cluster.events.find((e) => e.member === leaver.name && e.kind === "leave" && e.state === "dead");
    if (dead) throw new Error(`${dead.observer} saw ${leaver.name} dead, not left: ${what}`);
  }
  if (tookMs === undefined) {
    const missing = leavers.flatMap((l) => stayers.filter((s) => !seenLeft(s.name, l.name)).map((s) => `${s.name} about ${l.name}`));
    throw new Error(`not seen as left within ${boundMs} ms: ${missing.join(", ")}; ${what}`);
  }
  // The leavers finished (their news went out, or the 2 s leave timeout
  // passed) and stopped; the rest of the cluster is unaffected.
  cluster.sim.runFor(10_000);
  for (const leaver of leavers) expect(leaver.live).toBe(false);
  expect(cluster.falseDeaths()).toEqual([]);
  cluster.settle(joinConvergenceBoundMs(g, size));
  cluster.checkIncarnations();
}

describe("gossip graceful leave (simulated)", () => {
  test("a node that leaves is seen as left, not dead, by everyone", () => {
    forEachSeed(import.meta.path, 30, leaveRun);
  }, simTimeoutMs(30, 150));
});
