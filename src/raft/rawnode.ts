// The interface a shell drives: feed it ticks, messages and proposals; take a
// Ready batch of work; do that work in the documented order; call advance().
// It wraps the Raft state machine (raft.ts) and tracks what was already handed
// out, so each Ready contains only what changed since the previous one.

import { assert } from "../lib/assert.ts";
import type { ConfChange } from "./membership.ts";
import type { Message } from "./messages.ts";
import type { RaftOptions } from "./options.ts";
import type { ProgressState } from "./progress.ts";
import {
  type ConfChangeProposeResult,
  type ProposeResult,
  type Role,
  type TransferResult,
  Raft,
} from "./raft.ts";
import { type ConfState, type Entry, type HardState, type NodeId, type Snapshot, hardStateEqual } from "./types.ts";

export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

/**
 * One batch of work for the shell. Handle it in this order, which is what
 * makes the protocol safe across crashes:
 *
 *   1. PERSIST, then FSYNC: `snapshot` (storage.applySnapshot), `entries`
 *      (storage.append, which first discards any stored entry at or after
 *      the first one's index) and `hardState` (storage.setHardState); then
 *      storage.sync() when `mustSync` or a snapshot is present
 *      (persistReady() in storage.ts does exactly this). Nothing may be sent
 *      before the sync returns: a vote, an acknowledgement or a commit index
 *      that goes out and is then forgotten in a crash breaks election safety
 *      or loses committed entries.
 *   2. SEND `messages`, in order. Sending is fire-and-forget: Raft copes with
 *      loss, duplication and reordering.
 *   3. APPLY `committedEntries` to the state machine, in index order (skip
 *      the content of `noop` entries; a `config` entry's data is the new
 *      membership, decodeConfState()). Acknowledge a client's proposal only
 *      when its (index, term) is applied here.
 *   4. INSTALL `snapshot.data` into the state machine (a Ready never carries
 *      both a snapshot and committed entries, so 3 and 4 never compete).
 *   5. call advance(ready) before asking for the next Ready.
 *
 * `softState` (leader and role) is present only when it changed; it needs no
 * persistence.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  /** The entries or the term/vote changed: the writes must be fsynced before sending. */
  readonly mustSync: boolean;
}

export interface PeerStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
  readonly inflightMessages: number;
}

/** What a node is, cheaply: no membership and no peers. */
export interface BasicStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly role: Role;
  readonly commit: number;
  readonly applied: number;
}

export interface Status extends BasicStatus {
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  /** On the leader only: what it knows of each other member, sorted by id. */
  readonly peers: Readonly<Record<NodeId, PeerStatus>>;
}

export class RawNode {
  private readonly raft: Raft;
  private previousSoftState: SoftState;
  private previousHardState: HardState;
  private readyOutstanding = false;
  /** Messages addressed to another node, dropped (a transport routing fault). */
  misaddressedMessages = 0;

  constructor(options: RaftOptions) {
    this.raft = new Raft(options);
    this.previousSoftState = this.softState();
    this.previousHardState = options.storage.hardState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /** Advance logical time by one tick (the shell calls this every tickIntervalMs). */
  tick(): void {
    this.raft.tick();
  }

  /** Deliver a message from the network (already decoded and validated by the codec). */
  step(message: Message): void {
    if (message.to !== this.raft.id) {
      this.misaddressedMessages++;
      return;
    }
    this.raft.step(message);
  }

  /** Start an election now, as if the election timeout had elapsed. */
  campaign(): void {
    this.raft.hup(false);
  }

  /** Append commands to the log (leader only); each becomes one entry, all in one batch. */
  propose(data: readonly Uint8Array[]): ProposeResult {
    return this.raft.propose(data);
  }

  proposeConfChange(change: ConfChange): ConfChangeProposeResult {
    return this.raft.proposeConfChange(change);
  }

  transferLeadership(target: NodeId): TransferResult {
    return this.raft.transferLeadership(target);
  }

  reportUnreachable(id: NodeId): void {
    this.raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, delivered: boolean): void {
    this.raft.reportSnapshot(id, delivered);
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    const raft = this.raft;
    const soft = this.softState();
    return (
      raft.hasMessages() ||
      soft.lead !== this.previousSoftState.lead ||
      soft.role !== this.previousSoftState.role ||
      !hardStateEqual(raft.hardState(), this.previousHardState) ||
      raft.log.unstable.entries.length > 0 ||
      raft.log.unstable.snapshot !== undefined ||
      raft.log.hasNextCommittedEntries()
    );
  }

  /** The work accumulated since the last Ready; call advance() when it is done. */
  ready(): Ready {
    assert(!this.readyOutstanding, "ready() called again before advance()");
    const raft = this.raft;
    raft.flushBroadcast();
    const soft = this.softState();
    const hard = raft.hardState();
    const softChanged = soft.lead !== this.previousSoftState.lead || soft.role !== this.previousSoftState.role;
    const hardChanged = !hardStateEqual(hard, this.previousHardState);
    const entries = [...raft.log.unstable.entries];
    const ready: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hard : undefined,
      entries,
      snapshot: raft.log.unstable.snapshot,
      committedEntries: raft.log.nextCommittedEntries(raft.options.applyBytesMax),
      messages: raft.takeMessages(),
      mustSync: entries.length > 0 || hard.term !== this.previousHardState.term || hard.vote !== this.previousHardState.vote,
    };
    assert(!(ready.snapshot && ready.committedEntries.length > 0), "a Ready carries a snapshot and committed entries");
    this.previousSoftState = soft;
    this.previousHardState = hard;
    this.readyOutstanding = true;
    return ready;
  }

  /** The shell persisted, sent, applied and installed everything in `ready`. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, "advance() without an outstanding ready()");
    const log = this.raft.log;
    if (ready.snapshot) log.appliedSnapshot(ready.snapshot);
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied) log.appliedTo(lastApplied.index);
    const lastWritten = ready.entries[ready.entries.length - 1];
    if (lastWritten) log.unstable.stableTo(lastWritten.index, lastWritten.term);
    this.readyOutstanding = false;
  }

  /** Term of the entry at `index` in this node's log, or undefined if not held. */
  logTerm(index: number): number | undefined {
    return this.raft.log.term(index);
  }

  basicStatus(): BasicStatus {
    const raft = this.raft;
    return { id: raft.id, term: raft.term, vote: raft.vote, lead: raft.lead, role: raft.role, commit: raft.log.committed, applied: raft.log.applied };
  }

  status(): Status {
    const raft = this.raft;
    const peers: Record<NodeId, PeerStatus> = {};
    if (raft.role === "leader") {
      for (const [id, progress] of raft.tracker.peers(raft.id)) {
        peers[id] = {
          match: progress.match,
          next: progress.next,
          state: progress.state,
          recentActive: progress.recentActive,
          isLearner: progress.isLearner,
          inflightMessages: progress.inflights.size,
        };
      }
    }
    return {
      id: raft.id,
      term: raft.term,
      vote: raft.vote,
      lead: raft.lead,
      role: raft.role,
      commit: raft.log.committed,
      applied: raft.log.applied,
      firstIndex: raft.log.firstIndex(),
      lastIndex: raft.log.lastIndex(),
      conf: raft.currentConf(),
      leadTransferee: raft.leadTransferee,
      peers,
    };
  }
}
