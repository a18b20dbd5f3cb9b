// A network partition in the simulator: a cluster splits in two (both ways,
// or one way only), each side declares the other dead, the partition lasts a
// while longer (sometimes past the point where the dead are forgotten), and
// after it heals the whole cluster must be alive again without any operator
// action, within a bound.
//
// How the two sides find each other again: probes and periodic push/pull only
// go to live members, and gossip only carries news that is still queued, so
// after the dead news has been spread nothing crosses on its own. The core
// reconnects like Serf: on each push/pull tick, with probability
// failed/live, a node exchanges state with one random dead member (kept in
// the table, or in a tombstone with its address after it was forgotten).
// That exchange lists the member as dead, so it refutes with a higher
// incarnation; its reply lists the first node's side as dead, which there
// becomes a suspicion that those members refute in turn; the refutations
// (alive at higher incarnations) pass every tombstone and spread by gossip
// to both sides, now connected. A claim that a forgotten dead member is alive
// at its buried incarnation reopens it as dead and gossips a suspicion so
// that it learns to refute as well (swim.ts: reconnect, reopenDead).
//
// A failing run prints `SEED=<n> bun test <file>` to replay it.

import { describe, expect, test } from "bun:test";
import { pushPullIntervalMs } from "../../../src/gossip/math.ts";
import { Prng } from "../../../src/lib/prng.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, describeKnobs, randomKnobs, simTimeoutMs, type GossipNode } from "./harness.ts";
import { detectionBoundMs, disseminationMs, joinConvergenceBoundMs } from "./bounds.ts";
import type { GossipConfig } from "../../../src/config/schema.ts";

/**
 * After the heal, everyone is alive again within:
 * - one scaled push/pull interval, by which every node has had its push/pull
 *   tick and so a reconnect chance; a node on the smaller side reconnects
 *   with probability 1 (failed >= live there), so the first exchange across
 *   happens within it;
 * - four disseminations for the cascade: the reconnected pair's refutations
 *   and the suspicions of each side's members spread (1), those members
 *   refute (2), and their refutations reach the other side through the
 *   members now known alive there (3), plus one for members that hear last;
 * - one more push/pull interval for a member that missed all of that, whose
 *   own next exchange (or reconnect) brings it the current state.
 */
function rejoinBoundMs(g: GossipConfig, n: number): number {
  return 2 * pushPullIntervalMs(g.pushPullIntervalMs, n) + 4 * disseminationMs(g);
}

/**
 * Every node on each side has declared every node on the other side dead at
 * least once since `sinceMs`. With a one-way partition the side that still
 * hears the other keeps learning of its refutations (alive at a higher
 * incarnation, which passes even a tombstone) and may flap between dead and
 * alive, so "declared once" is the state both kinds of partition reach.
 */
function sidesDeclaredEachOtherDead(cluster: GossipCluster, left: GossipNode[], right: GossipNode[], sinceMs: number): boolean {
  const declared = new Set<string>();
  for (const event of cluster.events) {
    if (event.atMs >= sinceMs && event.kind === "leave" && event.state === "dead") declared.add(`${event.observer}>${event.member}`);
  }
  return left.every((l) => right.every((r) => declared.has(`${l.name}>${r.name}`) && declared.has(`${r.name}>${l.name}`)));
}

function partitionRun(seed: number): void {
  const prng = new Prng(seed);
  const size = 6 + prng.int(9);
  const knobs = randomKnobs(seed, { lossMax: 0.1 });
  const oneWay = prng.chance(0.3);
  const cluster = new GossipCluster({ seed, size, ...knobs });
  const g = cluster.gossip;
  cluster.startAll();
  expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(g, size))).toBeDefined();
  cluster.sim.runFor(prng.int(10_000));
  const shuffled = prng.shuffle(cluster.nodes.slice());
  const cut = 2 + prng.int(size - 3);
  const left = shuffled.slice(0, cut);
  const right = shuffled.slice(cut);
  const partitionedAtMs = cluster.sim.nowMs;
  cluster.partition(left, right, oneWay);
  // Lifeguard slows the probes of nodes that keep failing, so allow twice the
  // crash-detection bound for both sides to give up on each other.
  const declaredMs = cluster.runUntil(
    () => sidesDeclaredEachOtherDead(cluster, left, right, partitionedAtMs),
    2 * detectionBoundMs(g, size),
    200,
  );
  const what = `n=${size} split ${left.length}/${right.length}${oneWay ? " one-way" : ""} (${describeKnobs(knobs)})`;
  if (declaredMs === undefined) throw new Error(`the sides did not declare each other dead: ${what}\n${cluster.describeViews()}`);
  // Heal sometimes while the dead are still listed, sometimes after they were forgotten.
  cluster.sim.runFor(prng.int(2 * g.gossipToTheDeadMs + 30_000));
  cluster.heal();
  const boundMs = rejoinBoundMs(g, size);
  const tookMs = cluster.runUntil(() => cluster.allAliveAmongLive(), boundMs, 100);
  if (tookMs === undefined) throw new Error(`no rejoin within ${boundMs} ms of the heal: ${what}\n${cluster.describeViews()}`);
  cluster.sim.runFor(10_000);
  cluster.settle(joinConvergenceBoundMs(g, size));
  cluster.checkIncarnations();
}

describe("gossip partitions (simulated)", () => {
  test("a healed partition, after each side declared the other dead, rejoins on its own within the bound", () => {
    forEachSeed(import.meta.path, 25, partitionRun);
  }, simTimeoutMs(25, 400));
});
