// The replicated key-value store on the simulated Raft group, checked from
// its clients' side: under the faults of raft-sim.test.ts (partitions, also
// one-way, loss, duplication, reordering, crashes that lose unsynced writes,
// restarts, drifting clocks, membership changes, leadership transfers) every
// history of put, get and compare-and-set that the clients record must be
// linearizable. A server that answers reads from its own state proves that
// the check can fail. A failure prints the seed to replay.

import { describe, expect, test } from "bun:test";
import { type CheckResult, checkLinearizability } from "../linearizability.ts";
import { forEachSeed, seedsToRun } from "../seeds.ts";
import { RaftRun, type RaftRunPlan, randomPlan } from "./harness.ts";
import { type KvInput, type KvOutput, kvModel } from "./kv-machine.ts";
import { type KvWorkloadKnobs, KvWorkload, randomWorkloadKnobs } from "./kv-workload.ts";

/** Virtual time the clients get, once the group has converged, to finish what they started. */
const drainLimitMs = 60_000;

interface KvRun {
  run: RaftRun;
  workload: KvWorkload;
  result: CheckResult<KvInput, KvOutput>;
}

/** Faults with clients running, healing, convergence, the clients' last answers; then the check. */
function runAndCheck(plan: RaftRunPlan, knobs: KvWorkloadKnobs): KvRun {
  const workload = new KvWorkload(plan.seed, knobs);
  const run = new RaftRun(plan, { machine: workload.machineFor, client: workload });
  run.faultPhase();
  run.heal();
  if (run.converge(run.convergenceLimitMs()) === undefined) {
    throw new Error(`no leader with a committed entry within ${run.convergenceLimitMs()} ms of healing\nrecent events:\n  ${run.sim.trace.recent.join("\n  ")}`);
  }
  run.runUntil(() => workload.idle, drainLimitMs);
  return { run, workload, result: checkLinearizability(kvModel, workload.history()) };
}

function expectLinearizable({ workload, result }: KvRun): void {
  if (result.verdict === "linearizable") return;
  const counts = JSON.stringify(workload.counts);
  if (result.verdict === "unknown") throw new Error(`the check could not decide: ${result.explanation}\nworkload: ${counts}`);
  throw new Error(`${result.explanation}\nworkload: ${counts}`);
}

/** A generous bound on a test's wall time, growing with SEEDS for soaks (a stuck run must still fail). */
function timeoutFor(defaultSeeds: number): number {
  return 60_000 + 2000 * seedsToRun(defaultSeeds).length;
}

describe("a key-value store on raft, checked for linearizability", () => {
  test("a seed replays exactly, history included", () => {
    const once = () => {
      const { run, workload } = runAndCheck(randomPlan(7), randomWorkloadKnobs(7));
      return `${run.sim.trace.digest()} ${JSON.stringify(workload.history())}`;
    };
    expect(once()).toBe(once());
  }, 60_000);

  test("histories under faults are linearizable", () => {
    const totals = { runs: 0, completed: 0, abandoned: 0, swapped: 0, duplicates: 0, refusals: 0, multiKey: 0 };
    forEachSeed(import.meta.path, 40, (seed) => {
      const checked = runAndCheck(randomPlan(seed), randomWorkloadKnobs(seed));
      expectLinearizable(checked);
      const { counts, knobs } = checked.workload;
      totals.runs++;
      totals.completed += counts.completed;
      totals.abandoned += counts.abandoned;
      totals.swapped += counts.swapped;
      totals.duplicates += counts.duplicates;
      totals.refusals += counts.refusals;
      if (knobs.keys > 1) totals.multiKey++;
    });
    // The runs must have produced what the check is about: many answers,
    // operations of unknown outcome, successful swaps, retries answered once
    // (a single replayed seed need not show all of it).
    if (totals.runs >= 10) {
      expect(totals.completed).toBeGreaterThan(totals.runs * 30);
      for (const count of [totals.abandoned, totals.swapped, totals.duplicates, totals.refusals, totals.multiKey]) expect(count).toBeGreaterThan(0);
    }
  }, timeoutFor(40));

  test("histories are linearizable when crashes during fsync are frequent", () => {
    let completed = 0;
    let runs = 0;
    forEachSeed(import.meta.path, 20, (seed) => {
      const base = randomPlan(seed);
      const knobs = { ...base.knobs, fsyncDelayMinMs: 1, fsyncDelayMaxMs: 15 };
      // Clients give up on a crashed node sooner, so that operations still complete between crashes.
      const workload = randomWorkloadKnobs(seed, { attemptTimeoutMs: 400, timeoutsMax: 6 });
      const checked = runAndCheck({ ...base, knobs, crashBias: 0.5, faultIntervalMs: 150 }, workload);
      expectLinearizable(checked);
      completed += checked.workload.counts.completed;
      runs++;
    });
    if (runs >= 10) expect(completed).toBeGreaterThan(runs * 10);
  }, timeoutFor(20));

  test("the check catches a server that answers reads from its own state", () => {
    const verdicts: string[] = [];
    for (let seed = 1; seed <= 8; seed++) {
      const { result } = runAndCheck(randomPlan(seed), randomWorkloadKnobs(seed, { localReads: true }));
      verdicts.push(result.verdict);
      if (result.verdict === "not-linearizable") {
        expect(result.explanation).toContain("the operations that could have come next:");
      }
    }
    expect(verdicts).toContain("not-linearizable");
  }, 60_000);
});
