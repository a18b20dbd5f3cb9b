// Gossip membership in the simulator: clusters of 3 to 50 real shells join
// through seed nodes and converge to "everyone alive", and a cluster whose
// every node crashes and restarts (each with a higher incarnation read from
// its disk) converges again. Runs use the LAN profile with loss up to 20 %,
// duplication, delay jitter, encryption, labels and compression drawn from
// the seed. A failing run prints `SEED=<n> bun test <file>` to replay it.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../../src/lib/prng.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, describeKnobs, randomKnobs, simTimeoutMs } from "./harness.ts";
import { detectionBoundMs, joinConvergenceBoundMs } from "./bounds.ts";

/** Nodes start at random moments within this window, so joins overlap and race. */
const startWindowMs = 5_000;

function joinRun(seed: number, size: number): void {
  // TCP fallback pings stay on (memberlist's default): with them, loss alone
  // cannot cause a false suspicion, so "everyone alive" is a stable state to
  // wait for even at 20 % loss. The failure-detection tests cover runs without.
  const knobs = randomKnobs(seed, { lossMax: 0.2, tcpPings: true });
  const cluster = new GossipCluster({ seed, size, ...knobs });
  const order = new Prng(seed).shuffle(cluster.nodes.slice());
  const startsMs = order.map(() => cluster.sim.prng.int(startWindowMs)).sort((a, b) => a - b);
  order.forEach((node, i) => cluster.sim.at(startsMs[i]!, `start ${node.name}`, () => node.sim.start()));
  cluster.sim.runUntil(startWindowMs);
  const boundMs = joinConvergenceBoundMs(cluster.gossip, size);
  const tookMs = cluster.runUntil(() => cluster.allAliveAmongLive(), boundMs);
  if (tookMs === undefined) throw new Error(`no convergence within ${boundMs} ms (${describeKnobs(knobs)}):\n${cluster.describeViews()}`);
  // Converged means stable: nothing may fall out again while the faults go on.
  cluster.sim.runFor(20_000);
  expect(cluster.describeViews()).toBe("all live nodes see each other alive");
  expect(cluster.events.filter((e) => e.kind === "leave" || e.kind === "conflict")).toEqual([]);
  cluster.checkIncarnations();
}

/** A short run with every kind of fault; its trace digest identifies it. */
function chaosDigest(seed: number): string {
  const knobs = randomKnobs(seed, { lossMax: 0.2 });
  const cluster = new GossipCluster({ seed, size: 8, ...knobs, encrypt: true, label: "digest" });
  cluster.startAll();
  cluster.sim.runFor(5_000);
  const [a, b, c] = cluster.nodes;
  cluster.partition([a!, b!], cluster.nodes.slice(2), true);
  cluster.crash(c!);
  cluster.sim.runFor(20_000);
  cluster.heal();
  cluster.restart(c!);
  cluster.setMeta(a!, new TextEncoder().encode("v2"));
  cluster.sim.runFor(20_000);
  return `${cluster.sim.trace.digest()} ${cluster.sim.executed} ${cluster.totalBytesSent()}`;
}

describe("gossip membership (simulated)", () => {
  test("a seed replays the same run exactly, and different seeds differ", () => {
    expect(chaosDigest(11)).toBe(chaosDigest(11));
    expect(chaosDigest(12)).not.toBe(chaosDigest(11));
  });

  test("3 nodes join and converge to everyone alive", () => {
    forEachSeed(import.meta.path, 10, (seed) => joinRun(seed, 3));
  }, simTimeoutMs(10, 100));

  test("3 to 50 nodes join and converge to everyone alive", () => {
    forEachSeed(import.meta.path, 16, (seed) => joinRun(seed, 3 + new Prng(seed).int(48)));
  }, simTimeoutMs(16, 300));

  test("50 nodes join and converge to everyone alive", () => {
    forEachSeed(import.meta.path, 3, (seed) => joinRun(seed, 50));
  }, simTimeoutMs(3, 600));

  test("a mass restart (every node crashes and comes back with a higher incarnation) converges", () => {
    forEachSeed(import.meta.path, 16, (seed) => {
      const prng = new Prng(seed);
      const size = 5 + prng.int(11);
      const knobs = randomKnobs(seed, { lossMax: 0.1, tcpPings: true });
      const cluster = new GossipCluster({ seed, size, ...knobs });
      cluster.startAll();
      const g = cluster.gossip;
      expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(g, size))).toBeDefined();
      cluster.sim.runFor(5_000);
      const before = new Map(cluster.nodes.map((node) => [node.name, node.shell.core.incarnation()]));
      // Every node crashes within 5 s and stays down between 0.5 s and well
      // past the time the others take to declare it dead and forget it, so
      // restarts meet peers that see them alive, suspect, dead or not at all.
      const downMaxMs = detectionBoundMs(g, size) + g.gossipToTheDeadMs + 10_000;
      let lastRestartMs = 0;
      for (const node of cluster.nodes) {
        const crashAtMs = cluster.sim.nowMs + prng.int(5_000);
        const restartAtMs = crashAtMs + 500 + prng.int(downMaxMs);
        lastRestartMs = Math.max(lastRestartMs, restartAtMs);
        cluster.sim.at(crashAtMs, `crash ${node.name}`, () => cluster.crash(node));
        cluster.sim.at(restartAtMs, `restart ${node.name}`, () => cluster.restart(node));
      }
      cluster.sim.runUntil(lastRestartMs);
      for (const node of cluster.nodes) expect(node.shell.core.incarnation()).toBeGreaterThan(before.get(node.name)!);
      // A node that restarted while every seed was down retries its join
      // with a backoff of up to 30 s; after that the join bound applies.
      const boundMs = 30_000 + joinConvergenceBoundMs(g, size);
      const tookMs = cluster.runUntil(() => cluster.allAliveAmongLive(), boundMs);
      if (tookMs === undefined) throw new Error(`no convergence within ${boundMs} ms (${describeKnobs(knobs)}):\n${cluster.describeViews()}`);
      cluster.sim.runFor(10_000);
      expect(cluster.describeViews()).toBe("all live nodes see each other alive");
      cluster.checkIncarnations();
    });
  }, simTimeoutMs(16, 150));
});
