// Raft on the simulator: safety checked after every event under partitions
// (also one-way), loss, duplication, reordering, crashes during fsync,
// restarts, drifting clocks, membership changes and leadership transfers;
// then liveness once the faults stop. A failure prints the seed to replay.

import { describe, expect, test } from "bun:test";
import { forEachSeed, seedsToRun } from "../seeds.ts";
import { InvariantViolation } from "./checker.ts";
import { RaftRun, type RaftRunPlan, randomPlan } from "./harness.ts";

function faultsThenConvergence(plan: RaftRunPlan): RaftRun {
  const run = new RaftRun(plan);
  run.faultPhase();
  run.heal();
  const tookMs = run.converge(run.convergenceLimitMs());
  if (tookMs === undefined) {
    const states = run.upShells().map((shell) => JSON.stringify({ ...shell.node.status(), peers: undefined }));
    const recent = run.sim.trace.recent.join("\n  ");
    throw new Error(`no leader with a committed entry within ${run.convergenceLimitMs()} ms of healing:\n${states.join("\n")}\nrecent events:\n  ${recent}`);
  }
  return run;
}

/** A generous bound on a test's wall time, growing with SEEDS for soaks (a stuck run must still fail). */
function timeoutFor(defaultSeeds: number): number {
  return 60_000 + 1000 * seedsToRun(defaultSeeds).length;
}

describe("raft in the simulator", () => {
  test("a seed replays exactly", () => {
    const digest = () => faultsThenConvergence(randomPlan(7, { voters: 5, spares: 2 })).sim.trace.digest();
    expect(digest()).toBe(digest());
  }, 60_000);

  test.each([
    [1, 30],
    [3, 150],
    [5, 120],
  ])("groups of %i voters stay safe under faults and converge after them", (voters, seeds) => {
    let runs = 0;
    let acknowledged = 0;
    let elections = 0;
    forEachSeed(import.meta.path, seeds, (seed) => {
      const run = faultsThenConvergence(randomPlan(seed, { voters }));
      runs++;
      acknowledged += run.checker.acknowledgedAt.size;
      elections += run.checker.leadersElected;
    });
    // The faults must not have starved the runs of the events the checks are about.
    expect(acknowledged).toBeGreaterThan(runs * 10);
    expect(elections).toBeGreaterThanOrEqual(runs);
  }, timeoutFor(150));

  test("frequent crashes during fsync lose no acknowledged entry", () => {
    forEachSeed(import.meta.path, 50, (seed) => {
      const base = randomPlan(seed);
      const knobs = { ...base.knobs, fsyncDelayMinMs: 1, fsyncDelayMaxMs: 15 };
      faultsThenConvergence({ ...base, knobs, crashBias: 0.7, faultIntervalMs: 60 });
    });
  }, timeoutFor(50));

  test("the checker catches a shell that sends before its writes are durable", () => {
    const caught: string[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const base = randomPlan(seed, { voters: 3 });
      const knobs = { ...base.knobs, sendBeforeSync: true, fsyncDelayMinMs: 2, fsyncDelayMaxMs: 20 };
      try {
        faultsThenConvergence({ ...base, knobs, crashBias: 0.8, faultIntervalMs: 40, proposalIntervalMs: 1_000_000 });
      } catch (error) {
        // A broken shell may also trip the core's own assertions or never
        // converge; only the checker's findings count here.
        if (error instanceof InvariantViolation) caught.push(error.message.split(" (at")[0]!);
      }
    }
    expect(caught.some((violation) => violation.startsWith("election safety") || violation.startsWith("leader completeness"))).toBe(true);
  }, 60_000);
});
