// A Raft run (../raft/harness.ts) whose nodes run the agent's lease manager
// on their state machine: the same faults as the Raft simulation (partitions
// incl. one-way, loss, duplication, reordering, crashes losing unsynced
// writes, restarts, membership changes, leadership transfers, drifting
// clocks) plus pauses of a node (its clock runs on, its events wait). A
// leadership transfer hands the leases over first, as the agent does. The
// lease checker runs after every event.

import type { LeaseTiming } from "../../../src/lease/manager.ts";
import { checkLinearizability } from "../linearizability.ts";
import { RaftRun, type RaftRunPlan, randomPlan } from "../raft/harness.ts";
import { LeaseChecker, leaseModel } from "./checker.ts";
import { LeaseNode, LeaseSimMachine } from "./lease-node.ts";

export interface LeaseRunPlan extends RaftRunPlan {
  lease: LeaseTiming;
  /** Lease tick interval (the agent ticks with Raft). */
  leaseTickMs: number;
}

/** A seed's plan: the Raft simulation's, with pauses, and lease timing scaled to its election timeout. */
export function randomLeasePlan(seed: number, overrides: Partial<LeaseRunPlan> = {}): LeaseRunPlan {
  const base = randomPlan(seed, { pauseShare: 0.1, ...overrides });
  const electionMs = base.knobs.electionTicks * base.knobs.tickIntervalMs;
  // The agent's ratio: a TTL of four election timeouts, renewed four times per TTL.
  const ttlMs = Math.max(400, 4 * electionMs);
  return {
    ...base,
    lease: { ttlMs, renewIntervalMs: Math.floor(ttlMs / 4), clockDriftMax: 0.01 },
    leaseTickMs: base.knobs.tickIntervalMs,
    ...overrides,
  };
}

export class LeaseRun {
  readonly raft: RaftRun;
  readonly checker: LeaseChecker;
  private readonly current = new Map<string, LeaseNode>();

  constructor(readonly plan: LeaseRunPlan) {
    // Built before the run, whose nodes report to it from their first step.
    this.checker = new LeaseChecker(
      () => this.raft.sim.nowMs,
      () => this.liveNodes(),
    );
    this.raft = new RaftRun(plan, {
      machine: (_address, context) => {
        const machine = new LeaseSimMachine();
        const node = new LeaseNode(context, machine, plan.lease, plan.leaseTickMs, this.checker, () => this.raft?.shell(context.address));
        this.current.set(context.address, node);
        return machine;
      },
      afterEvent: () => this.checker.checkActing(),
      beforeTransfer: (address) => this.current.get(address)?.handover(),
    });
  }

  liveNodes(): LeaseNode[] {
    const nodes: LeaseNode[] = [];
    // Nodes report while the run is still being built (a snapshot restored at start).
    if (!this.raft) return nodes;
    for (const simNode of this.raft.nodes) {
      const node = this.current.get(simNode.address);
      if (simNode.up && node) nodes.push(node);
    }
    return nodes;
  }

  /** Faults, heal, then wait until both leases are held; returns the time that took, or undefined. */
  faultsThenHeld(limitMs: number): number | undefined {
    this.raft.faultPhase();
    this.raft.heal();
    return this.raft.runUntil(() => this.checker.allHeld(), limitMs);
  }

  /** The bound after healing within which both leases must be held: Raft's convergence bound plus a takeover wait and a renewal. */
  heldLimitMs(): number {
    const { ttlMs, clockDriftMax, renewIntervalMs } = this.plan.lease;
    return this.raft.convergenceLimitMs() + Math.ceil(ttlMs * (1 + clockDriftMax)) + 2 * renewIntervalMs;
  }

  /** Check the recorded history; throws with the checker's explanation when it is not linearizable. */
  checkHistory(): { operations: number; steps: number } {
    const history = this.checker.history();
    const result = checkLinearizability(leaseModel, history);
    if (result.verdict === "not-linearizable") throw new Error(`lease history not linearizable:\n${result.explanation}`);
    if (result.verdict === "unknown") throw new Error(`lease history check ran out of budget: ${result.explanation}`);
    return { operations: history.length, steps: result.steps };
  }
}

