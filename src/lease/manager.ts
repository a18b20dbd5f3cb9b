// One node's side of the leases: when to propose acquire, renew and release,
// and whether this node may act on a lease right now. Sans-IO: the shell
// passes its monotonic clock reading into every call, proposes the commands
// it is given to Raft, and reports every applied lease command.
//
// The rule (the seed's): the Raft leader takes both leases for itself and
// renews them every renewIntervalMs; a node that is not the leader never
// acts; a node shutting down releases what it holds.
//
// Why no two nodes act on one lease at the same real instant. Let the rates
// of any two nodes' clocks differ by a factor of at most 1 + d
// (clockDriftMax). A holder H acts only while
//     (1) it is the Raft leader, and
//     (2) its clock is before s + ttl, where s is the reading when H SENT the
//         latest acquire or renew of its current grant that was applied
//         successfully (the deadline runs from sending, not from applying,
//         so time spent in Raft only shortens it), and
//     (3) the table still shows H holding the grant under the same token.
// Another node N proposes a takeover of a lease H holds only after it
// applied the table's current version v of that lease at reading a and its
// clock has reached a + ttl x (1 + d); the takeover names v and the table
// refuses it if the lease changed since. So the takeover is granted only if
// v was H's last successful acquire or renew before the grant. That command
// was sent (real time S) before it was committed, hence before N applied
// it (real A >= S). H's deadline is at most ttl of H's time after S, i.e. at
// most ttl x (1 + d) of N's time after S, so it passed before N's wait
// ended, which is before the takeover was even proposed. Renewals by H that
// come after the grant in the log are refused by the table and never extend
// H's deadline. A released lease needs no wait: H stopped acting before it
// proposed the release. Restarts only help: a restarted node has forgotten
// its deadlines (it acts again only after a fresh renewal), and on start-up
// or a snapshot install the observation reading of every lease is taken as
// "now", later than the real one. Pauses only help too: a paused holder
// resumes with its clock past the deadline. What this cannot prevent is a
// side effect that starts before a deadline and lands after it; callers ask
// `mayAct` immediately before each step and keep steps short, and the
// fencing token lets a receiving system reject an old holder's writes.
//
// Events report gains and losses as this node observes them; they lag a
// deadline by at most the interval between two calls (a Raft tick), while
// `mayAct` is exact at the moment it is asked.

import { assert } from "../lib/assert.ts";
import { type LeaseCommand, type LeaseName, type LeaseOutcome, type LeaseTable, leaseNames } from "./table.ts";

export interface LeaseTiming {
  ttlMs: number;
  renewIntervalMs: number;
  clockDriftMax: number;
}

export interface LeaseEvent {
  kind: "gained" | "lost";
  lease: LeaseName;
  token: number;
  reason: string;
}

export interface LeaseView {
  lease: LeaseName;
  holder: string;
  token: number;
  version: number;
  released: boolean;
  /** This node holds the lease and may act on it now. */
  acting: boolean;
  /** When this node acts: time left before its deadline. Otherwise an estimate from when this node last saw the lease change. */
  remainingMs: number | null;
  /** This node leads and waits out another holder's lease before taking it over: time left. */
  takeoverInMs: number | null;
}

/** Proposals this node waits on at most; the oldest are forgotten first (forgetting never extends a deadline). */
export const pendingProposalsMax = 64;

interface Grant {
  token: number;
  /** Clock reading at which this node stops acting. */
  deadlineMs: number;
  /** Clock reading when the proposal behind the deadline was sent. */
  sentMs: number;
}

interface Pending {
  lease: LeaseName;
  op: LeaseCommand["op"];
  sentMs: number;
  ttlMs: number;
}

export class LeaseManager {
  private leader = false;
  /** The leader applied an entry of its own term: its table is as new as the cluster's. */
  private ready = false;
  private releasing = false;
  /** Until this reading the node hands its leases over with the leadership: it neither acts nor proposes. */
  private handoverUntilMs = -Infinity;
  private readonly observedAt = new Map<LeaseName, number>();
  private readonly grants = new Map<LeaseName, Grant>();
  private readonly pending = new Map<string, Pending>();
  /** The latest proposal per lease and when it was sent; one at a time per renewal interval. */
  private readonly lastProposal = new Map<LeaseName, number>();
  private readonly reported = new Map<LeaseName, number>();
  private nonceCounter = 0;

  constructor(
    readonly self: string,
    private readonly timing: LeaseTiming,
    private readonly table: LeaseTable,
    /** Distinguishes this process's proposals from an earlier run's (random per start). */
    private readonly nonceBase: string,
    startMs: number,
  ) {
    assert(timing.renewIntervalMs >= 1 && timing.renewIntervalMs < timing.ttlMs, `renew interval ${timing.renewIntervalMs} ms for a ${timing.ttlMs} ms lease`);
    assert(timing.clockDriftMax >= 0 && timing.clockDriftMax < 1, `clock drift bound ${timing.clockDriftMax}`);
    for (const lease of leaseNames) this.observedAt.set(lease, startMs);
  }

  // ------------------------------------------------------------ inputs

  /** Raft role as of now; `ready` when the leader applied an entry of its own term. */
  setRole(isLeader: boolean, ready: boolean, nowMs: number): LeaseEvent[] {
    this.leader = isLeader;
    this.ready = isLeader && ready;
    return this.events(nowMs);
  }

  /** Every lease command applied by the state machine, in log order (replays after a restart too). */
  applied(command: LeaseCommand, outcome: LeaseOutcome, nowMs: number): LeaseEvent[] {
    const { lease, nonce } = command;
    if (outcome.ok) this.observedAt.set(lease, nowMs);
    const mine = command.holder === this.self ? this.pending.get(nonce) : undefined;
    if (mine) {
      this.pending.delete(nonce);
      if (outcome.ok && command.op !== "release") {
        const token = outcome.state.token;
        const previous = this.grants.get(lease);
        // A renewal sent before the one already applied must not shorten the deadline.
        if (!previous || previous.token !== token || previous.sentMs < mine.sentMs) {
          this.grants.set(lease, { token, sentMs: mine.sentMs, deadlineMs: mine.sentMs + mine.ttlMs });
        }
      }
    }
    this.forgetLostGrants();
    return this.events(nowMs);
  }

  /** The table was replaced (start-up or a snapshot from the leader): every lease counts as seen now. */
  restored(nowMs: number): LeaseEvent[] {
    for (const lease of leaseNames) this.observedAt.set(lease, nowMs);
    this.forgetLostGrants();
    return this.events(nowMs);
  }

  /** A command handed out by `tick` or `release` that Raft refused to take. */
  proposalRefused(nonce: string): void {
    const refused = this.pending.get(nonce);
    this.pending.delete(nonce);
    if (refused) this.lastProposal.delete(refused.lease);
  }

  /** Commands this node should propose now, and events (deadlines that passed). */
  tick(nowMs: number): { proposals: Array<{ nonce: string; command: LeaseCommand }>; events: LeaseEvent[] } {
    this.prunePending(nowMs);
    const proposals: Array<{ nonce: string; command: LeaseCommand }> = [];
    if (this.leader && this.ready && !this.releasing && nowMs >= this.handoverUntilMs) {
      for (const lease of leaseNames) {
        const command = this.due(lease, nowMs);
        if (command) proposals.push({ nonce: this.propose(command, nowMs), command });
      }
    }
    return { proposals, events: this.events(nowMs) };
  }

  /** Stop acting at once and return the releases to propose (graceful shutdown). */
  release(nowMs: number): { proposals: Array<{ nonce: string; command: LeaseCommand }>; events: LeaseEvent[] } {
    this.releasing = true;
    return { proposals: this.releases(nowMs), events: this.events(nowMs) };
  }

  /**
   * The leader is about to hand leadership to another node: stop acting and
   * release, so the next leader takes the leases at once instead of waiting
   * them out. If this node still leads after `forMs`, it takes them again.
   */
  handover(nowMs: number, forMs: number): { proposals: Array<{ nonce: string; command: LeaseCommand }>; events: LeaseEvent[] } {
    this.handoverUntilMs = nowMs + forMs;
    return { proposals: this.releases(nowMs), events: this.events(nowMs) };
  }

  /** The handover did not start (Raft refused the transfer): take the leases again at the next tick. */
  handoverAborted(): void {
    this.handoverUntilMs = -Infinity;
  }

  private releases(nowMs: number): Array<{ nonce: string; command: LeaseCommand }> {
    const proposals: Array<{ nonce: string; command: LeaseCommand }> = [];
    for (const lease of leaseNames) {
      const state = this.table.get(lease);
      if (state.holder !== this.self) continue;
      const command: LeaseCommand = { op: "release", lease, holder: this.self, token: state.token, nonce: "" };
      const nonce = this.propose(command, nowMs);
      // Taking it again (after an aborted handover) need not wait for the renewal interval.
      this.lastProposal.delete(lease);
      proposals.push({ nonce, command });
    }
    return proposals;
  }

  // ------------------------------------------------------------ queries

  /**
   * Whether this node may act on `lease` at clock reading `nowMs`: it leads,
   * holds the lease in the table under the grant it knows a deadline for,
   * the deadline has not passed, and (when given) under `token`.
   */
  mayAct(lease: LeaseName, nowMs: number, token?: number): boolean {
    const grant = this.grants.get(lease);
    if (!grant || !this.leader || this.releasing || nowMs < this.handoverUntilMs || nowMs >= grant.deadlineMs) return false;
    const state = this.table.get(lease);
    if (state.holder !== this.self || state.token !== grant.token) return false;
    return token === undefined || token === grant.token;
  }

  /** The token this node acts under, or 0. */
  actingToken(lease: LeaseName, nowMs: number): number {
    return this.mayAct(lease, nowMs) ? this.grants.get(lease)!.token : 0;
  }

  views(nowMs: number): LeaseView[] {
    return leaseNames.map((lease) => {
      const state = this.table.get(lease);
      const acting = this.mayAct(lease, nowMs);
      const observed = this.observedAt.get(lease)!;
      let remainingMs: number | null = null;
      if (acting) remainingMs = this.grants.get(lease)!.deadlineMs - nowMs;
      else if (state.holder !== "") remainingMs = Math.max(0, observed + state.ttlMs - nowMs);
      const waiting = this.leader && state.holder !== "" && state.holder !== this.self;
      return {
        lease,
        holder: state.holder,
        token: state.token,
        version: state.version,
        released: state.released,
        acting,
        remainingMs: remainingMs === null ? null : Math.round(remainingMs),
        takeoverInMs: waiting ? Math.max(0, Math.ceil(observed + this.waitMs(state.ttlMs) - nowMs)) : null,
      };
    });
  }

  /** How long a new holder waits after seeing a renewal of a `ttlMs` lease. */
  waitMs(ttlMs: number): number {
    return Math.ceil(ttlMs * (1 + this.timing.clockDriftMax));
  }

  // ------------------------------------------------------------ internals

  private due(lease: LeaseName, nowMs: number): LeaseCommand | undefined {
    const last = this.lastProposal.get(lease);
    if (last !== undefined && nowMs - last < this.timing.renewIntervalMs) return undefined;
    const state = this.table.get(lease);
    const ttlMs = this.timing.ttlMs;
    if (state.holder === this.self) {
      const grant = this.grants.get(lease);
      // Known grant: renew on the interval. Unknown (this process did not
      // send the grant, e.g. after a restart): renew now to learn a deadline.
      if (grant && grant.token === state.token && nowMs - grant.sentMs < this.timing.renewIntervalMs) return undefined;
      return { op: "renew", lease, holder: this.self, ttlMs, token: state.token, nonce: "" };
    }
    if (state.holder !== "" && nowMs < this.observedAt.get(lease)! + this.waitMs(state.ttlMs)) return undefined;
    return { op: "acquire", lease, holder: this.self, ttlMs, expect: state.version, nonce: "" };
  }

  private propose(command: LeaseCommand, nowMs: number): string {
    const nonce = this.nextNonce();
    command.nonce = nonce;
    this.prunePending(nowMs, 1);
    this.pending.set(nonce, { lease: command.lease, op: command.op, sentMs: nowMs, ttlMs: command.op === "release" ? 0 : command.ttlMs });
    this.lastProposal.set(command.lease, nowMs);
    return nonce;
  }

  private nextNonce(): string {
    this.nonceCounter++;
    return `${this.nonceBase}.${this.nonceCounter}`;
  }

  /** Forget proposals whose deadline would already have passed, and make room for `room` more. */
  private prunePending(nowMs: number, room = 0): void {
    for (const [nonce, entry] of this.pending) {
      if (nowMs - entry.sentMs >= Math.max(entry.ttlMs, this.timing.ttlMs)) this.pending.delete(nonce);
    }
    while (this.pending.size + room > pendingProposalsMax) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
    }
  }

  private forgetLostGrants(): void {
    for (const [lease, grant] of this.grants) {
      const state = this.table.get(lease);
      if (state.holder !== this.self || state.token !== grant.token) this.grants.delete(lease);
    }
  }

  private lossReason(lease: LeaseName, nowMs: number): string {
    const state = this.table.get(lease);
    if (this.releasing) return "released";
    if (nowMs < this.handoverUntilMs) return "released for a leadership handover";
    if (!this.leader) return "no longer the Raft leader";
    if (state.holder !== this.self) return state.holder === "" ? "released" : `taken over by ${state.holder}`;
    const grant = this.grants.get(lease);
    if (grant && nowMs >= grant.deadlineMs) return "not renewed before its deadline";
    return "grant replaced";
  }

  private events(nowMs: number): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    for (const lease of leaseNames) {
      const token = this.actingToken(lease, nowMs);
      const before = this.reported.get(lease) ?? 0;
      if (token === before) continue;
      if (before !== 0) out.push({ kind: "lost", lease, token: before, reason: this.lossReason(lease, nowMs) });
      if (token !== 0) out.push({ kind: "gained", lease, token, reason: before === 0 ? "granted" : "new grant" });
      this.reported.set(lease, token);
    }
    return out;
  }
}
