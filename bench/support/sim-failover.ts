// Leader failover on the simulator: one seed builds a group of founding
// voters from the simulator's own pieces (kernel, network, nodes with
// drifting clocks and crash-prone disks, the Raft shell and the safety
// checker), waits for a first leader to commit an entry of its term, lets the
// group run steadily for a random while, crashes the leader, and records in
// virtual time when a successor reached each of three milestones:
//
//   elected    - a surviving node is leader in a term above the crashed one's;
//   committed  - that leader's commit index reaches an entry of its own term
//                (the entry it appends on election): a quorum stored it, so
//                the leadership is acknowledged and proposals can commit;
//   known      - every surviving node names that leader in that term.
//
// Nodes start at random moments within one tick interval, so their tick
// timers have independent phases as real processes' do. The figures are
// virtual time and do not depend on the machine the benchmark runs on.

import { assert } from "../../src/lib/assert.ts";
import { SimNode } from "../../test/sim/cluster.ts";
import { Simulation } from "../../test/sim/kernel.ts";
import { type NetworkFaults, SimNetwork } from "../../test/sim/network.ts";
import { RaftChecker } from "../../test/sim/raft/checker.ts";
import { RaftShell, type ShellKnobs } from "../../test/sim/raft/shell.ts";

export interface SimFailoverSettings {
  voters: number;
  knobs: ShellKnobs;
  network: NetworkFaults;
  /** Clock rates differ by up to this many ppm either way. */
  driftSpanPpm: number;
  /** Steady running before the crash is drawn from [steadyMinMs, steadyMaxMs). */
  steadyMinMs: number;
  steadyMaxMs: number;
  /** Virtual time allowed for the first election and for the failover, each. */
  limitMs: number;
}

export interface SimFailoverRun {
  seed: number;
  /** Virtual ms from the crash; undefined when the milestone was not reached within limitMs. */
  electedMs: number | undefined;
  committedMs: number | undefined;
  knownMs: number | undefined;
  /** Terms the successor's term is above the crashed leader's (1 = the first election won). */
  termsAdvanced: number;
}

class FailoverGroup {
  readonly sim: Simulation;
  readonly checker: RaftChecker;
  readonly nodes: SimNode[];

  constructor(
    seed: number,
    private readonly settings: SimFailoverSettings,
  ) {
    assert(settings.voters >= 3, "a failover needs at least three voters");
    this.sim = new Simulation(seed);
    const network = new SimNetwork(this.sim, settings.network);
    this.checker = new RaftChecker(this.sim);
    const founders = Array.from({ length: settings.voters }, (_, i) => `n${i + 1}`);
    const founding = { voters: founders, learners: [] };
    this.nodes = founders.map(
      (address) =>
        new SimNode(this.sim, network, address, (context) => new RaftShell(context, settings.knobs, this.checker, founding), {
          offsetMs: this.sim.prng.int(100_000),
          driftPpm: this.sim.prng.intBetween(-settings.driftSpanPpm, settings.driftSpanPpm),
        }),
    );
    for (const node of this.nodes) this.sim.after(this.sim.prng.float() * settings.knobs.tickIntervalMs, `start ${node.address}`, () => node.start());
  }

  shells(): RaftShell[] {
    const shells: RaftShell[] = [];
    for (const node of this.nodes) {
      const shell = node.current<RaftShell>();
      if (shell) shells.push(shell);
    }
    return shells;
  }

  /** The up node leading the highest term, if any. */
  leader(): RaftShell | undefined {
    let best: RaftShell | undefined;
    for (const shell of this.shells()) {
      const status = shell.node.basicStatus();
      if (status.role === "leader" && (!best || status.term > best.node.basicStatus().term)) best = shell;
    }
    return best;
  }

  /** Runs until `condition` holds, checking the safety invariants after every event; the virtual time taken. */
  runUntil(condition: () => boolean, limitMs: number): number | undefined {
    return this.sim.runUntilCondition(() => {
      this.checker.afterEvent(this.shells());
      return condition();
    }, limitMs);
  }

  /** A leader whose commit index reached an entry of its own term. */
  committedLeader(aboveTerm: number): RaftShell | undefined {
    const leader = this.leader();
    if (!leader) return undefined;
    const status = leader.node.basicStatus();
    return status.term > aboveTerm && leader.node.logTerm(status.commit) === status.term ? leader : undefined;
  }
}

export function simulateFailover(seed: number, settings: SimFailoverSettings): SimFailoverRun {
  const group = new FailoverGroup(seed, settings);
  const ready = group.runUntil(() => group.committedLeader(0) !== undefined, settings.limitMs);
  if (ready === undefined) throw new Error(`seed ${seed}: no first leader within ${settings.limitMs} ms`);
  const steadyMs = settings.steadyMinMs + group.sim.prng.float() * (settings.steadyMaxMs - settings.steadyMinMs);
  group.runUntil(() => false, steadyMs);
  const crashed = group.leader();
  assert(crashed !== undefined, `seed ${seed}: the leader was lost before the crash`);
  const crashedTerm = crashed.node.basicStatus().term;
  const crashedNode = group.nodes.find((node) => node.address === crashed.address)!;
  crashedNode.crash();

  const run: SimFailoverRun = { seed, electedMs: undefined, committedMs: undefined, knownMs: undefined, termsAdvanced: 0 };
  const crashedAtMs = group.sim.nowMs;
  const since = () => group.sim.nowMs - crashedAtMs;
  group.runUntil(() => {
    const leader = group.leader();
    if (!leader) return false;
    const term = leader.node.basicStatus().term;
    if (term <= crashedTerm) return false;
    run.electedMs ??= since();
    run.termsAdvanced = term - crashedTerm;
    if (run.committedMs === undefined && group.committedLeader(crashedTerm) === leader) run.committedMs = since();
    if (run.knownMs === undefined) {
      const known = group.shells().every((shell) => {
        const status = shell.node.basicStatus();
        return status.lead === leader.address && status.term === term;
      });
      if (known) run.knownMs = since();
    }
    return run.committedMs !== undefined && run.knownMs !== undefined;
  }, settings.limitMs);
  return run;
}
