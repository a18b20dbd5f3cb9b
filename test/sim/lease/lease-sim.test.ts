// Leases in the simulator: under partitions (also one-way), loss,
// duplication, reordering, crashes, restarts, pauses, membership changes,
// leadership transfers and drifting clocks, no two nodes ever act on one
// lease at the same real instant (checked after every event); the recorded
// acquire/renew/release history is linearizable and its fencing tokens only
// grow; after the faults stop both leases are held within a bound. And the
// check is shown to fail when clocks drift further apart than the
// configured bound. A failure prints the seed to replay.

import { describe, expect, test } from "bun:test";
import { forEachSeed, seedsToRun } from "../seeds.ts";
import { LeaseViolation } from "./checker.ts";
import { LeaseRun, randomLeasePlan } from "./lease-run.ts";

function timeoutFor(defaultSeeds: number): number {
  return 60_000 + 1500 * seedsToRun(defaultSeeds).length;
}

function safeRun(run: LeaseRun): { heldAfterMs: number; operations: number } {
  const heldAfterMs = run.faultsThenHeld(run.heldLimitMs());
  if (heldAfterMs === undefined) {
    const views = run.liveNodes().map((node) => `${node.address}: ${JSON.stringify(node.manager.views(node.context.clock.monotonicMs()))}`);
    throw new Error(`leases not both held within ${run.heldLimitMs()} ms of healing:\n${views.join("\n")}`);
  }
  const { operations } = run.checkHistory();
  return { heldAfterMs, operations };
}

describe("leases in the simulator", () => {
  test("a seed replays exactly", () => {
    const digest = () => {
      const run = new LeaseRun(randomLeasePlan(11, { voters: 3, spares: 1 }));
      safeRun(run);
      return run.raft.sim.trace.digest();
    };
    expect(digest()).toBe(digest());
  }, 60_000);

  test.each([
    [3, 40],
    [5, 30],
  ])("groups of %i voters: at most one holder acts, histories are linearizable, leases are held after the faults", (voters, seeds) => {
    let gains = 0;
    let operations = 0;
    let pauses = 0;
    forEachSeed(import.meta.path, seeds, (seed) => {
      const run = new LeaseRun(randomLeasePlan(seed, { voters }));
      operations += safeRun(run).operations;
      gains += run.checker.gains;
      pauses += run.raft.nodes.reduce((sum, node) => sum + node.pauses, 0);
    });
    const runs = seedsToRun(seeds).length;
    // The faults must not have starved the runs of what the checks are about.
    expect(gains).toBeGreaterThan(runs * 2);
    expect(operations).toBeGreaterThan(runs * 20);
    expect(pauses).toBeGreaterThan(0);
  }, timeoutFor(40));

  test("holders that pause often never act after their deadline", () => {
    forEachSeed(import.meta.path, 20, (seed) => {
      safeRun(new LeaseRun(randomLeasePlan(seed, { voters: 3, pauseShare: 0.5, faultIntervalMs: 300 })));
    });
  }, timeoutFor(20));

  /** The leader holds both leases, then is cut off; it keeps believing it leads (no check-quorum) and acts until its own deadline. */
  function cutOffHolder(seed: number, clockDriftMax: number): void {
    const base = randomLeasePlan(seed, { voters: 3, spares: 0, driftSpanPpm: 50_000, pauseShare: 0 });
    const run = new LeaseRun({ ...base, knobs: { ...base.knobs, checkQuorum: false }, lease: { ...base.lease, clockDriftMax } });
    run.raft.runUntil(() => run.checker.allHeld(), 30_000);
    const leader = run.raft.leader()!.address;
    run.raft.network.partition([leader], run.raft.addresses.filter((address) => address !== leader));
    run.raft.run(4 * base.lease.ttlMs);
    expect(run.checker.gains).toBeGreaterThanOrEqual(4);
  }

  test("clocks up to 10 % apart are safe with a drift bound that covers them, and caught without one", () => {
    for (let seed = 1; seed <= 20; seed++) cutOffHolder(seed, 0.11);
    let caught = 0;
    for (let seed = 1; seed <= 20 && caught === 0; seed++) {
      try {
        cutOffHolder(seed, 0);
      } catch (error) {
        if (!(error instanceof LeaseViolation)) throw error;
        caught++;
      }
    }
    expect(caught).toBeGreaterThan(0);
  }, 120_000);
});
