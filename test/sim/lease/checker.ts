// Checks on leases in the simulator.
//
// Acting: at most one node acts on a lease at any real instant. A node acts
// when the agent's `mayAct` would say yes at that instant: it leads, holds
// the grant in its table, and its own drifting clock is before its deadline.
// A paused node counts as acting while that holds, although it cannot do
// anything until it resumes (stricter than needed). The check runs after
// every simulation event and after every call into any node's lease
// manager, which is where a node can begin to act; between those points the
// set of acting nodes can only shrink (deadlines pass), so checking there
// covers every instant.
//
// History: every command a node handed to Raft becomes an operation, called
// at the real time it was proposed and returning at the real time the first
// node applied it (when the effect became visible), with the table's outcome
// as output. Commands never applied by anyone had no effect and are left
// out. The history must be linearizable against a sequential model of one
// lease (leaseModel), which also checks that fencing tokens only grow.

import { type LeaseCommand, type LeaseName, type LeaseOutcome, type LeaseState, leaseNames } from "../../../src/lease/table.ts";
import type { LeaseEvent } from "../../../src/lease/manager.ts";
import { type Model, type Operation, type UnknownOutput, unknownOutput } from "../linearizability.ts";
import type { LeaseNode, LeaseObserver } from "./lease-node.ts";

export class LeaseViolation extends Error {}

export interface LeaseOutput {
  ok: boolean;
  state: LeaseState;
}

interface Proposal {
  client: string;
  command: LeaseCommand;
  callMs: number;
  returnMs?: number;
  output?: LeaseOutput;
}

/** Proposals a run records at most; beyond it a run is too long for the check. */
export const proposalsMax = 200_000;

export class LeaseChecker implements LeaseObserver {
  private readonly proposals = new Map<string, Proposal>();
  private checking = false;
  gains = 0;
  losses = 0;
  checks = 0;
  /** Real time since which each lease has had an acting holder continuously, or undefined. */
  private readonly heldSince = new Map<LeaseName, number | undefined>();

  constructor(
    /** Real (virtual) time now. */
    private readonly nowMs: () => number,
    /** The lease side of every node that is up now. */
    private readonly liveNodes: () => readonly LeaseNode[],
  ) {}

  proposed(node: LeaseNode, command: LeaseCommand, accepted: boolean): void {
    if (!accepted) return;
    if (this.proposals.size >= proposalsMax) throw new Error(`more than ${proposalsMax} lease proposals in one run`);
    this.proposals.set(command.nonce, { client: node.address, command, callMs: this.nowMs() });
  }

  applied(_node: LeaseNode, command: LeaseCommand, outcome: LeaseOutcome): void {
    const proposal = this.proposals.get(command.nonce);
    if (!proposal || proposal.returnMs !== undefined) return;
    proposal.returnMs = this.nowMs();
    proposal.output = { ok: outcome.ok, state: outcome.state };
  }

  changed(_node: LeaseNode, events: readonly LeaseEvent[]): void {
    for (const event of events) {
      if (event.kind === "gained") this.gains++;
      else this.losses++;
    }
    this.checkActing();
  }

  /** The acting invariant, now. */
  checkActing(): void {
    if (this.checking) return;
    this.checking = true;
    try {
      this.checks++;
      const nodes = this.liveNodes();
      for (const lease of leaseNames) {
        const acting = nodes.filter((node) => node.mayAct(lease));
        if (acting.length > 1) {
          const who = acting.map((node) => `${node.address} (token ${node.manager.actingToken(lease, node.context.clock.monotonicMs())})`).join(" and ");
          throw new LeaseViolation(`two holders acting on ${lease} at real time ${this.nowMs().toFixed(3)} ms: ${who}`);
        }
        const since = this.heldSince.get(lease);
        if (acting.length === 1 && since === undefined) this.heldSince.set(lease, this.nowMs());
        if (acting.length === 0) this.heldSince.set(lease, undefined);
      }
    } finally {
      this.checking = false;
    }
  }

  /** Whether some node acts on every lease now. */
  allHeld(): boolean {
    return leaseNames.every((lease) => this.liveNodes().some((node) => node.mayAct(lease)));
  }

  /** The recorded history, operations never applied left out. */
  history(): Operation<LeaseCommand, LeaseOutput>[] {
    const operations: Operation<LeaseCommand, LeaseOutput>[] = [];
    for (const proposal of this.proposals.values()) {
      if (proposal.returnMs === undefined || proposal.output === undefined) continue;
      operations.push({ client: proposal.client, input: proposal.command, output: proposal.output, callMs: proposal.callMs, returnMs: proposal.returnMs });
    }
    return operations;
  }
}

function sameState(a: LeaseState, b: LeaseState): boolean {
  return a.holder === b.holder && a.token === b.token && a.version === b.version && a.released === b.released && a.ttlMs === b.ttlMs;
}

/** One lease as a sequential object: what the table may answer to each command, with growing versions and tokens. */
export const leaseModel: Model<LeaseState, LeaseCommand, LeaseOutput> = {
  init: () => ({ holder: "", token: 0, version: 0, ttlMs: 0, released: false }),
  step(state, input, output: LeaseOutput | UnknownOutput) {
    if (output === unknownOutput) return { ok: true, state };
    const eligible =
      input.op === "acquire" ? state.holder === "" || state.version === input.expect : state.holder === input.holder && state.token === input.token;
    if (output.ok !== eligible) return { ok: false, state };
    if (!output.ok) return { ok: sameState(output.state, state), state };
    const next = output.state;
    if (next.version <= state.version) return { ok: false, state };
    let shaped: boolean;
    switch (input.op) {
      case "acquire":
        shaped = next.holder === input.holder && next.token === next.version && next.token > state.token && !next.released && next.ttlMs === input.ttlMs;
        break;
      case "renew":
        shaped = next.holder === input.holder && next.token === state.token && !next.released && next.ttlMs === input.ttlMs;
        break;
      case "release":
        shaped = next.holder === "" && next.token === state.token && next.released;
        break;
    }
    return { ok: shaped, state: next };
  },
  hash: (state) => `${state.holder}|${state.token}|${state.version}|${state.released}|${state.ttlMs}`,
  partitionKey: (input) => input.lease,
  describe: (input, output) =>
    `${input.op} ${input.lease} by ${input.holder}${input.op === "acquire" ? ` expecting v${input.expect}` : ` token ${input.token}`} -> ${
      output === unknownOutput ? "?" : output.ok ? `ok (token ${output.state.token}, v${output.state.version})` : "refused"
    }`,
  describeState: (state) => (state.holder ? `${state.holder} token ${state.token} v${state.version}` : `free v${state.version}`),
};
