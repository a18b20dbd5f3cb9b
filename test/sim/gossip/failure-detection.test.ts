// The failure detector in the simulator, with the LAN profile: a healthy
// cluster at 5 % packet loss runs for 30 virtual minutes without a single
// false "dead"; without TCP fallback pings suspicions happen all the time and
// must be refuted (and a rare false "dead" must not stick); and every crashed
// node (its process, which refuses connections, or its whole machine, which
// does not answer) is declared dead by every live node within the bound that memberlist's
// formulas give (bounds.ts: detectionBoundMs). A failing run prints
// `SEED=<n> bun test <file>` to replay it.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../../src/lib/prng.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, describeKnobs, randomKnobs, simTimeoutMs, type GossipNode, type RunKnobs } from "./harness.ts";
import { detectionBoundMs, disseminationMs, joinConvergenceBoundMs } from "./bounds.ts";

const healthyRunMs = 30 * 60_000;

/**
 * A healthy cluster at exactly 5 % packet loss (plus the seed's duplication
 * and jitter) for 30 virtual minutes; returns it for the caller's checks.
 */
function healthyCluster(seed: number, size: number, tcpPings: boolean): { cluster: GossipCluster; knobs: RunKnobs } {
  const drawn = randomKnobs(seed, { lossMax: 0.05, tcpPings });
  const knobs: RunKnobs = { ...drawn, faults: { ...drawn.faults, lossRate: 0.05 } };
  const cluster = new GossipCluster({ seed, size, ...knobs });
  cluster.startAll();
  expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(cluster.gossip, size))).toBeDefined();
  cluster.sim.runFor(healthyRunMs);
  return { cluster, knobs };
}

/**
 * The LAN profile as shipped, TCP fallback pings included: not one member
 * may be declared dead, and no suspicion may turn into a death. (The
 * simulated streams do not lose data, so a TCP fallback ping answers
 * whenever UDP probes fail; suspicions are then rare. The run without them
 * below exercises suspicion and refutation.)
 */
function healthyRun(seed: number, size: number): void {
  const { cluster, knobs } = healthyCluster(seed, size, true);
  const deaths = cluster.falseDeaths();
  if (deaths.length > 0) {
    const first = deaths[0]!;
    throw new Error(`false ${first.state}: ${first.observer} declared ${first.member} at ${first.atMs.toFixed(0)} ms (${describeKnobs(knobs)})`);
  }
  cluster.settle(30_000);
  cluster.checkIncarnations();
}

/**
 * Without TCP fallback pings, 5 % loss makes a probe fail now and then
 * (direct ping or ack lost, and every indirect path lost too), so members
 * are suspected and must refute, many times per run. A refutation is
 * broadcast only retransmitMult x ceil(log10(n + 1)) times per member (4 at
 * n = 5), so now and then one member misses every copy and its suspicion runs
 * out: about one run in 200 at n = 5 (none in 30 at n = 10) over 30 minutes,
 * measured with SEEDS. memberlist has the same budget; its TCP fallback is
 * the defence. The property here: suspicions are refuted, and a false
 * "dead" does not stick: the member, hearing of it, announces itself again,
 * and the accuser sees it alive within two disseminations.
 */
function healthyRunWithoutTcpPings(seed: number, size: number): void {
  const { cluster, knobs } = healthyCluster(seed, size, false);
  expect(cluster.events.filter((e) => e.kind === "refuted").length).toBeGreaterThan(0);
  const healMs = 2 * disseminationMs(cluster.gossip);
  for (const death of cluster.falseDeaths()) {
    const healed = cluster.events.some(
      (e) => e.observer === death.observer && e.member === death.member && e.kind === "join" && e.atMs >= death.atMs && e.atMs - death.atMs <= healMs,
    );
    if (!healed) {
      throw new Error(`${death.observer} declared live ${death.member} dead at ${death.atMs.toFixed(0)} ms and did not see it alive within ${healMs} ms (${describeKnobs(knobs)})`);
    }
  }
  cluster.settle(30_000);
  cluster.checkIncarnations();
}

/**
 * Crash one to three nodes (at once or a few seconds apart; each its process
 * or its whole machine) in a cluster of 5 to 20 at up to 5 % loss; every
 * live node must declare each of them dead
 * within detectionBoundMs(n), and no live node may be declared dead.
 */
function crashRun(seed: number): void {
  const prng = new Prng(seed);
  const size = 5 + prng.int(16);
  const knobs = randomKnobs(seed, { lossMax: 0.05 });
  const cluster = new GossipCluster({ seed, size, ...knobs });
  const g = cluster.gossip;
  cluster.startAll();
  expect(cluster.runUntil(() => cluster.allAliveAmongLive(), joinConvergenceBoundMs(g, size))).toBeDefined();
  cluster.sim.runFor(5_000 + prng.int(10_000));
  const victims = prng.shuffle(cluster.nodes.slice()).slice(0, 1 + prng.int(Math.min(3, Math.floor((size - 1) / 2))));
  const crashedAtMs = new Map<string, number>();
  for (const victim of victims) {
    const atMs = cluster.sim.nowMs + (prng.chance(0.5) ? 0 : prng.int(5_000));
    // A crashed process refuses connections (and is suspected as soon as its
    // TCP fallback ping is refused); a machine that is down does not answer.
    const hostDown = prng.chance(0.5);
    crashedAtMs.set(victim.name, atMs);
    cluster.sim.at(atMs, `crash ${victim.name}${hostDown ? " (machine down)" : ""}`, () => cluster.crash(victim, hostDown));
  }
  const boundMs = detectionBoundMs(g, size);
  const lastCrashMs = Math.max(...crashedAtMs.values());
  const survivors = cluster.nodes.filter((node) => !victims.includes(node));
  const allDeclared = () => victims.every((v) => survivors.every((o) => declaredDead(cluster, o, v)));
  cluster.runUntil(allDeclared, lastCrashMs - cluster.sim.nowMs + boundMs, 100);
  for (const victim of victims) {
    const crashMs = crashedAtMs.get(victim.name)!;
    for (const observer of survivors) {
      const event = cluster.events.find((e) => e.observer === observer.name && e.member === victim.name && e.kind === "leave" && e.atMs >= crashMs);
      if (!event || event.state !== "dead") {
        throw new Error(`${observer.name} did not declare crashed ${victim.name} dead within ${boundMs} ms (n=${size}, ${describeKnobs(knobs)})`);
      }
      expect(event.atMs - crashMs).toBeLessThanOrEqual(boundMs);
    }
  }
  expect(cluster.falseDeaths()).toEqual([]);
  cluster.checkIncarnations();
}

function declaredDead(cluster: GossipCluster, observer: GossipNode, victim: GossipNode): boolean {
  const state = cluster.stateIn(observer, victim.name);
  return state === "dead" || state === undefined;
}

describe("gossip failure detection (simulated, LAN profile)", () => {
  test("no false dead in a healthy 10-node cluster at 5 % loss over 30 virtual minutes", () => {
    forEachSeed(import.meta.path, 3, (seed) => healthyRun(seed, 10));
  }, simTimeoutMs(3, 3_000));

  test("no false dead in a healthy 5-node cluster at 5 % loss over 30 virtual minutes", () => {
    forEachSeed(import.meta.path, 3, (seed) => healthyRun(seed, 5));
  }, simTimeoutMs(3, 1_500));

  test("without TCP fallback pings, suspicions at 5 % loss are refuted and no death sticks (10 and 5 nodes)", () => {
    forEachSeed(import.meta.path, 2, (seed) => {
      healthyRunWithoutTcpPings(seed, 10);
      healthyRunWithoutTcpPings(seed, 5);
    });
  }, simTimeoutMs(2, 4_000));

  test("every crashed node is declared dead by every live node within the derived bound", () => {
    forEachSeed(import.meta.path, 40, crashRun);
  }, simTimeoutMs(40, 300));
});
