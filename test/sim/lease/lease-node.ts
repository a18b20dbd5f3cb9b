// Leases on the simulated Raft group: each node's state machine is the chain
// machine plus the agent's lease table (src/lease/table.ts), and each node
// process runs the agent's LeaseManager the way src/node/lease-service.ts
// does: a timer on the node's own drifting clock ticks it (asking Raft for
// the role first), every applied lease command and every snapshot install is
// reported with the node's clock reading, and the commands it hands out are
// proposed through the node's Raft shell. The observer sees every proposal,
// apply and lease event, for the checks in checker.ts.

import { type ConfState, type Entry } from "../../../src/raft/index.ts";
import { type LeaseEvent, LeaseManager, type LeaseTiming } from "../../../src/lease/manager.ts";
import { type LeaseCommand, type LeaseName, type LeaseOutcome, LeaseTable, decodeLeaseCommand, encodeLeaseCommand } from "../../../src/lease/table.ts";
import type { NodeContext } from "../cluster.ts";
import { ChainMachine } from "../raft/chain-machine.ts";
import type { RaftShell } from "../raft/shell.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The chain machine with the lease table beside it; both travel in snapshots. */
export class LeaseSimMachine extends ChainMachine {
  readonly table = new LeaseTable();
  onLease: ((command: LeaseCommand, outcome: LeaseOutcome, index: number) => void) | undefined;
  onRestore: (() => void) | undefined;

  override apply(entry: Entry): void {
    super.apply(entry);
    if (entry.kind !== "normal") return;
    const decoded = decodeLeaseCommand(entry.data);
    // Other payloads (none in lease runs) are not lease commands: nothing to do.
    if (!decoded.ok) return;
    const outcome = this.table.apply(entry.index, decoded.command);
    this.onLease?.(decoded.command, outcome, entry.index);
  }

  override snapshotData(): Uint8Array {
    const chain = JSON.parse(decoder.decode(super.snapshotData())) as Record<string, unknown>;
    return encoder.encode(JSON.stringify({ ...chain, leases: this.table.image() }));
  }

  override restore(data: Uint8Array, index: number, conf: ConfState): void {
    const image = JSON.parse(decoder.decode(data)) as { index: number; hash: string; leases?: unknown };
    super.restore(encoder.encode(JSON.stringify({ index: image.index, hash: image.hash })), index, conf);
    const problem = this.table.restore(image.leases);
    if (problem) throw new Error(`lease image at ${index}: ${problem}`);
    this.onRestore?.();
  }
}

export interface LeaseObserver {
  /** A node handed a command to Raft (real time now); `accepted` is Raft's answer. */
  proposed(node: LeaseNode, command: LeaseCommand, accepted: boolean): void;
  /** A node applied a lease command (real time now). */
  applied(node: LeaseNode, command: LeaseCommand, outcome: LeaseOutcome, index: number): void;
  /** A node's manager reported gains and losses; also called after every manager call, for the acting check. */
  changed(node: LeaseNode, events: readonly LeaseEvent[]): void;
}

/** One process lifetime of a node's lease side. */
export class LeaseNode {
  readonly manager: LeaseManager;
  private shell: RaftShell | undefined;

  constructor(
    readonly context: NodeContext,
    readonly machine: LeaseSimMachine,
    private readonly timing: LeaseTiming,
    private readonly tickMs: number,
    private readonly observer: LeaseObserver,
    /** The Raft shell of this process, once built. */
    private readonly shellOf: () => RaftShell | undefined,
  ) {
    // Distinct per process lifetime, as the agent's random nonce base is.
    const nonceBase = `${context.address}.${context.prng.nextU32().toString(16)}`;
    this.manager = new LeaseManager(context.address, timing, machine.table, nonceBase, context.clock.monotonicMs());
    machine.onLease = (command, outcome, index) => {
      this.observer.applied(this, command, outcome, index);
      this.report(this.manager.applied(command, outcome, this.now()));
    };
    machine.onRestore = () => this.report(this.manager.restored(this.now()));
    this.schedule();
  }

  get address(): string {
    return this.context.address;
  }

  private now(): number {
    return this.context.clock.monotonicMs();
  }

  private raft(): RaftShell | undefined {
    this.shell ??= this.shellOf();
    return this.shell;
  }

  /** Leader and ready, as the agent's Raft service answers it. */
  private leadership(): { isLeader: boolean; ready: boolean } {
    const shell = this.raft();
    if (!shell) return { isLeader: false, ready: false };
    const status = shell.node.basicStatus();
    const isLeader = status.role === "leader";
    return { isLeader, ready: isLeader && shell.node.logTerm(this.machine.index) === status.term };
  }

  /** Whether this node would act on `lease` right now (the agent's mayAct: role first, then the manager). */
  mayAct(lease: LeaseName): boolean {
    const { isLeader, ready } = this.leadership();
    const nowMs = this.now();
    this.report(this.manager.setRole(isLeader, ready, nowMs), false);
    return this.manager.mayAct(lease, nowMs);
  }

  /** Graceful shutdown's first half: stop acting and propose the releases. */
  release(): void {
    const { proposals, events } = this.manager.release(this.now());
    this.report(events);
    this.propose(proposals);
  }

  /** A leadership transfer's first half: hand the leases over. */
  handover(): void {
    const { proposals, events } = this.manager.handover(this.now(), this.timing.ttlMs);
    this.report(events);
    this.propose(proposals);
  }

  private schedule(): void {
    this.context.setTimer(this.tickMs, "lease-tick", () => {
      const { isLeader, ready } = this.leadership();
      const nowMs = this.now();
      this.report(this.manager.setRole(isLeader, ready, nowMs));
      const { proposals, events } = this.manager.tick(nowMs);
      this.report(events);
      this.propose(proposals);
      this.schedule();
    });
  }

  private propose(proposals: ReadonlyArray<{ nonce: string; command: LeaseCommand }>): void {
    const shell = this.raft();
    for (const { nonce, command } of proposals) {
      const result = shell ? shell.propose(decoder.decode(encodeLeaseCommand(command))) : undefined;
      const accepted = result?.ok === true;
      if (!accepted) this.manager.proposalRefused(nonce);
      this.observer.proposed(this, command, accepted);
    }
  }

  private report(events: readonly LeaseEvent[], notify = true): void {
    if (notify || events.length > 0) this.observer.changed(this, events);
  }
}
