// Leases inside the agent: the shell around LeaseManager (src/lease/manager.ts).
// Raft drives it: every applied lease command and snapshot install is
// reported here, and every Raft tick asks the manager what to propose. Side
// effects (the edge proxy's ports, DNS writes) call `mayAct` immediately
// before they act, and subscribe to gains and losses; both are logged and
// counted. On graceful shutdown the leases this node holds are released,
// so the next leader takes them at once instead of waiting them out.

import { randomBytes } from "node:crypto";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { LeaseConfig } from "../config/schema.ts";
import { type LeaseEvent, LeaseManager } from "../lease/manager.ts";
import { type LeaseCommand, type LeaseName, type LeaseOutcome, type LeaseTable, encodeLeaseCommand, leaseNames } from "../lease/table.ts";
import type { LeasesView } from "../api/lease-api.ts";

/** What the lease shell needs from Raft. */
export interface LeaseRaft {
  /** This node leads, and `ready` once it applied an entry of its own term. */
  leadership(): { isLeader: boolean; ready: boolean };
  /** Append a command to the log (leader only). */
  propose(data: Uint8Array): { ok: true; index: number } | { ok: false; error: string };
  /** Entries this node has applied. */
  appliedIndex(): number;
}

export type LeaseListener = (event: LeaseEvent) => void;

/** Listeners at most; subscribing more is a programming error. */
const listenersMax = 32;
/** How long a graceful shutdown waits for its releases to be applied. */
export const releaseWaitMs = 1500;

export class LeaseService {
  private readonly manager: LeaseManager;
  private readonly listeners = new Set<LeaseListener>();
  private raft: LeaseRaft | undefined;
  readonly counters = { gained: 0, lost: 0, proposals: 0, proposalsRefused: 0, grantsRefused: 0 };
  private readonly perLease = new Map<LeaseName, { gained: number; lost: number }>(leaseNames.map((lease) => [lease, { gained: 0, lost: 0 }]));

  constructor(
    self: string,
    private readonly config: LeaseConfig,
    private readonly log: Logger,
    private readonly clock: Clock,
    table: LeaseTable,
  ) {
    this.manager = new LeaseManager(self, config, table, randomBytes(6).toString("hex"), clock.monotonicMs());
  }

  attach(raft: LeaseRaft): void {
    this.raft = raft;
  }

  onChange(listener: LeaseListener): () => void {
    if (this.listeners.size >= listenersMax) throw new Error(`more than ${listenersMax} lease listeners`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ from Raft

  applied(command: LeaseCommand, outcome: LeaseOutcome, replayed: boolean): void {
    if (!outcome.ok && command.holder === this.manager.self && !replayed) {
      this.counters.grantsRefused++;
      this.log.debug("lease command refused by the table", { lease: command.lease, op: command.op, reason: outcome.reason });
    }
    this.emit(this.manager.applied(command, outcome, this.clock.monotonicMs()));
  }

  restored(): void {
    this.emit(this.manager.restored(this.clock.monotonicMs()));
  }

  /** Called on every Raft tick, after the Ready was handled. */
  tick(): void {
    const raft = this.raft;
    if (!raft) return;
    const nowMs = this.clock.monotonicMs();
    this.refreshRole(nowMs);
    const { proposals, events } = this.manager.tick(nowMs);
    this.emit(events);
    for (const { nonce, command } of proposals) this.propose(nonce, command);
  }

  /** Stop acting and release what this node holds; resolves once applied or after releaseWaitMs. */
  async release(): Promise<void> {
    const raft = this.raft;
    const { proposals, events } = this.manager.release(this.clock.monotonicMs());
    this.emit(events);
    if (!raft || proposals.length === 0) return;
    let lastIndex = 0;
    for (const { nonce, command } of proposals) {
      const index = this.propose(nonce, command);
      if (index !== undefined) lastIndex = Math.max(lastIndex, index);
    }
    if (lastIndex === 0) return;
    const deadline = this.clock.monotonicMs() + releaseWaitMs;
    while (raft.appliedIndex() < lastIndex && this.clock.monotonicMs() < deadline) await Bun.sleep(10);
    if (raft.appliedIndex() >= lastIndex) this.log.info("leases released", { leases: proposals.map((p) => p.command.lease) });
    else this.log.warn("lease release not applied in time; the next holder waits the leases out", { waited_ms: releaseWaitMs });
  }

  /** Raft is about to hand leadership over: release now so the next leader need not wait (see LeaseManager.handover). */
  handover(): void {
    const { proposals, events } = this.manager.handover(this.clock.monotonicMs(), this.config.ttlMs);
    this.emit(events);
    for (const { nonce, command } of proposals) this.propose(nonce, command);
    if (proposals.length > 0) this.log.info("leases released for a leadership handover", { leases: proposals.map((p) => p.command.lease) });
  }

  /** Raft refused the transfer after `handover`: this node keeps leading and takes the leases again. */
  handoverAborted(): void {
    this.manager.handoverAborted();
  }

  // ------------------------------------------------------------ for side effects

  /**
   * Whether this node may act on `lease` right now (and, when given, still
   * under `token`). Ask immediately before every side effect.
   */
  mayAct(lease: LeaseName, token?: number): boolean {
    const nowMs = this.clock.monotonicMs();
    this.refreshRole(nowMs);
    return this.manager.mayAct(lease, nowMs, token);
  }

  /** The token this node acts under for `lease` right now, or 0. */
  actingToken(lease: LeaseName): number {
    const nowMs = this.clock.monotonicMs();
    this.refreshRole(nowMs);
    return this.manager.actingToken(lease, nowMs);
  }

  /** Tell the manager the Raft role as of now, so that a lost leadership stops acting at once. */
  private refreshRole(nowMs: number): void {
    const raft = this.raft;
    if (!raft) return;
    const { isLeader, ready } = raft.leadership();
    this.emit(this.manager.setRole(isLeader, ready, nowMs));
  }

  view(): LeasesView {
    const nowMs = this.clock.monotonicMs();
    return {
      node: this.manager.self,
      timestamp: new Date(this.clock.wallMs()).toISOString(),
      ttl_ms: this.config.ttlMs,
      leases: this.manager.views(nowMs).map((view) => ({
        lease: view.lease,
        holder: view.holder,
        token: view.token,
        version: view.version,
        released: view.released,
        acting: view.acting,
        remaining_ms: view.remainingMs,
        takeover_in_ms: view.takeoverInMs,
        gained: this.perLease.get(view.lease)!.gained,
        lost: this.perLease.get(view.lease)!.lost,
      })),
      counters: { ...this.counters },
    };
  }

  summary(): string {
    const nowMs = this.clock.monotonicMs();
    return this.manager
      .views(nowMs)
      .map((view) => `${view.lease} ${view.acting ? "held here" : view.holder ? `held by ${view.holder}` : "free"}`)
      .join(", ");
  }

  // ------------------------------------------------------------ internals

  private propose(nonce: string, command: LeaseCommand): number | undefined {
    const result = this.raft!.propose(encodeLeaseCommand(command));
    this.counters.proposals++;
    if (result.ok) return result.index;
    this.counters.proposalsRefused++;
    this.manager.proposalRefused(nonce);
    this.log.debug("lease proposal refused by Raft", { lease: command.lease, op: command.op, error: result.error });
    return undefined;
  }

  private emit(events: readonly LeaseEvent[]): void {
    for (const event of events) {
      const counts = this.perLease.get(event.lease)!;
      if (event.kind === "gained") {
        this.counters.gained++;
        counts.gained++;
        this.log.info("lease gained", { lease: event.lease, fence: event.token });
      } else {
        this.counters.lost++;
        counts.lost++;
        this.log[event.reason.startsWith("released") ? "info" : "warn"]("lease lost", { lease: event.lease, fence: event.token, reason: event.reason });
      }
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (error) {
          this.log.error("lease listener failed", { lease: event.lease, error: error as Error });
        }
      }
    }
  }
}
