// The Raft state machine of one node: roles and terms, elections (with
// pre-vote), check-quorum, log replication with per-follower flow control,
// the commit rule, snapshots, leadership transfer and single-server
// membership changes. It never performs I/O: inputs are tick() and step(),
// outputs are the log (read through RaftLog), the hard state and an outbox of
// messages, which RawNode (rawnode.ts) packages into Ready batches.
//
// The structure follows etcd-io/raft; section numbers in comments refer to
// the Raft paper ("In Search of an Understandable Consensus Algorithm") and,
// for membership, pre-vote and leadership transfer, Ongaro's thesis.

import { assert, assertNever } from "../lib/assert.ts";
import type { Prng } from "../lib/prng.ts";
import { RaftLog } from "./log.ts";
import { type ConfChange, type ConfChangeError, applyConfChange, confStateOf, differsByAtMostOneVoter, encodeConfState } from "./membership.ts";
import { type AppendRequest, type AppendResponse, type HeartbeatRequest, type HeartbeatResponse, type Message, type SnapshotRequest, type VoteRequest, type VoteResponse, isFromLeader, isVoteRequest } from "./messages.ts";
import { type RaftOptions, type ResolvedOptions, resolveOptions } from "./options.ts";
import type { Progress } from "./progress.ts";
import type { RaftStorageReader } from "./storage.ts";
import { ProgressTracker } from "./tracker.ts";
import {
  type ConfState,
  type Entry,
  type EntryKind,
  type HardState,
  type NodeId,
  type Snapshot,
  entriesBytes,
  entriesPerMessageMax,
  entryBytesMax,
  isEmptySnapshot,
  noNode,
} from "./types.ts";

export type Role = "follower" | "pre-candidate" | "candidate" | "leader";

export type ProposeError = "not-leader" | "transferring" | "too-large" | "uncommitted-bytes-exceeded";
export type ConfChangeProposeError = ProposeError | ConfChangeError | "change-in-progress" | "learner-behind";
export type TransferError = "not-leader" | "self" | "not-a-voter";

export type ProposeResult =
  | { readonly ok: true; readonly firstIndex: number; readonly lastIndex: number; readonly term: number }
  | { readonly ok: false; readonly error: ProposeError; readonly leader: NodeId };
export type ConfChangeProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: ConfChangeProposeError; readonly leader: NodeId };
export type TransferResult = { readonly ok: true } | { readonly ok: false; readonly error: TransferError; readonly leader: NodeId };

/** Messages waiting for the next Ready; beyond this the newest are dropped (Raft tolerates loss). */
export const outboxMessagesMax = 8192;
/** Config entries in the uncommitted tail (one change at a time keeps this tiny in practice). */
export const pendingConfigsMax = 1024;

interface ConfigAt {
  readonly index: number;
  readonly conf: ConfState;
}

type Payload = { readonly kind: EntryKind; readonly data: Uint8Array };

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = noNode;
  lead: NodeId = noNode;
  role: Role = "follower";
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  leadTransferee: NodeId = noNode;
  /** Messages dropped because the outbox was full. */
  droppedMessages = 0;
  /** Messages no correct peer sends (another leader in our term, acknowledgements past our log), ignored. */
  anomalies = 0;
  private outbox: Message[] = [];
  readonly options: ResolvedOptions;
  private readonly storage: RaftStorageReader;
  private readonly prng: Prng;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** No membership change may be proposed until the commit index reaches this. */
  private pendingConfIndex = 0;
  /** Leader: bytes of entries appended this term and not yet committed, per batch. */
  private uncommittedBatches: { lastIndex: number; bytes: number }[] = [];
  private uncommittedBytes = 0;
  /** Leader: new entries or a new commit index wait for the next Ready to go out in one batch. */
  private broadcastPending = false;
  /** [0] is the membership in force at the commit index; later ones come from uncommitted config entries. */
  private configs: ConfigAt[] = [];

  constructor(raftOptions: RaftOptions) {
    this.options = resolveOptions(raftOptions);
    this.id = this.options.id;
    this.storage = this.options.storage;
    this.prng = this.options.prng;
    this.tracker = new ProgressTracker(this.options.inflightMessagesMax);
    this.log = new RaftLog(this.storage, this.options.appliedIndex);
    this.configs = this.loadConfigs();
    this.tracker.setConf(this.currentConf(), this.log.lastIndex());
    const hardState = this.storage.hardState();
    assert(hardState.commit <= this.log.lastIndex(), `stored commit ${hardState.commit} is past the last index ${this.log.lastIndex()}`);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log.commitTo(hardState.commit);
    this.pruneCommittedConfigs();
    this.becomeFollower(this.term, noNode);
  }

  /** Membership from the snapshot, then every config entry after it. */
  private loadConfigs(): ConfigAt[] {
    const snapshot = this.storage.snapshot();
    const configs: ConfigAt[] = [{ index: snapshot.meta.index, conf: snapshot.meta.conf }];
    const last = this.storage.lastIndex();
    let next = Math.max(snapshot.meta.index + 1, this.storage.firstIndex());
    while (next <= last) {
      const page = this.storage.entries(next, last + 1, this.options.applyBytesMax);
      assert(page.length > 0, `storage returned no entries from ${next}`);
      for (const entry of page) if (entry.kind === "config") configs.push({ index: entry.index, conf: confStateOf(entry.data) });
      next += page.length;
    }
    return configs;
  }

  currentConf(): ConfState {
    return this.configs[this.configs.length - 1]!.conf;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Take the messages produced since the last call. */
  takeMessages(): Message[] {
    const messages = this.outbox;
    this.outbox = [];
    return messages;
  }

  hasMessages(): boolean {
    return this.outbox.length > 0 || this.broadcastPending;
  }

  private send(message: Message): void {
    assert(message.to !== this.id, `message ${message.type} to self`);
    if (this.outbox.length >= outboxMessagesMax) {
      this.droppedMessages++;
      return;
    }
    this.outbox.push(message);
  }

  // ---- Role transitions (§5.2) ------------------------------------------

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = noNode;
    }
    this.lead = noNode;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.options.electionTicks + this.prng.int(this.options.electionTicks);
    this.leadTransferee = noNode;
    this.tracker.resetVotes();
    this.tracker.resetProgress(this.id, this.log.lastIndex());
    this.pendingConfIndex = 0;
    this.uncommittedBatches = [];
    this.uncommittedBytes = 0;
    this.broadcastPending = false;
  }

  becomeFollower(term: number, lead: NodeId): void {
    assert(term >= this.term, `term would go back from ${this.term} to ${term}`);
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
  }

  private becomePreCandidate(): void {
    assert(this.role !== "leader", "a leader cannot become a pre-candidate");
    // A pre-election changes neither the term nor the vote (§9.6 of the thesis).
    this.tracker.resetVotes();
    this.lead = noNode;
    this.role = "pre-candidate";
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader cannot become a candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    assert(this.role === "candidate", `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    this.tracker.progress(this.id)?.becomeReplicate();
    // Entries of earlier terms commit only through an entry of this term
    // (§5.4.2), so append one at once. Membership changes wait until it
    // commits: that closes the single-server change bug Ongaro described.
    this.pendingConfIndex = this.log.lastIndex() + 1;
    this.appendEntries([{ kind: "noop", data: new Uint8Array(0) }]);
  }

  /**
   * A node not waiting for a snapshot may campaign if it is a voter in its
   * latest membership or in the one it knows to be committed. The second case
   * matters when a leader that removed itself fell before the removal
   * committed: its log may be the only complete one, and the old membership
   * may need its vote, so it must be able to win (counting votes in the new
   * membership), commit the removal, and step down.
   */
  promotable(): boolean {
    const selfListed = this.tracker.isVoter(this.id) || this.configs[0]!.conf.voters.includes(this.id);
    return selfListed && this.log.unstable.snapshot === undefined;
  }

  // ---- Ticks -------------------------------------------------------------

  tick(): void {
    switch (this.role) {
      case "leader":
        this.tickLeader();
        return;
      case "follower":
      case "pre-candidate":
      case "candidate":
        this.tickElection();
        return;
      default:
        assertNever(this.role, "role");
    }
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.options.electionTicks) {
      this.electionElapsed = 0;
      // Check-quorum (§6.2 of the thesis): a leader that has not heard from a
      // quorum for a whole election timeout may be partitioned away; stepping
      // down stops it from serving stale leadership.
      if (this.options.checkQuorum && !this.tracker.checkQuorumActive(this.id)) {
        this.becomeFollower(this.term, noNode);
        return;
      }
      if (this.leadTransferee !== noNode) this.leadTransferee = noNode;
    }
    this.tickSnapshotTimeouts();
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  /** A snapshot may be lost in transit; after a timeout, probe again (which resends it if needed). */
  private tickSnapshotTimeouts(): void {
    for (const [id, progress] of this.tracker.peers(this.id)) {
      if (progress.state !== "snapshot") continue;
      progress.snapshotTicks++;
      if (progress.snapshotTicks >= this.options.snapshotTimeoutTicks) this.reportSnapshot(id, false);
    }
  }

  // ---- Elections (§5.2, pre-vote §9.6) ----------------------------------

  /** Start an election if allowed; `transfer` skips the pre-election (TimeoutNow). */
  hup(transfer: boolean): void {
    if (this.role === "leader" || !this.promotable()) return;
    if (this.options.preVote && !transfer) this.campaign("pre-vote", false);
    else this.campaign("vote", transfer);
  }

  private campaign(kind: "vote" | "pre-vote", transfer: boolean): void {
    let voteTerm: number;
    if (kind === "pre-vote") {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tally() === "won") {
      // A group of one wins at once.
      if (kind === "pre-vote") this.campaign("vote", transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const voter of this.currentConf().voters) {
      if (voter === this.id) continue;
      this.send({ type: kind, from: this.id, to: voter, term: voteTerm, lastIndex, lastTerm, transfer });
    }
  }

  private handleVoteRequest(message: VoteRequest): void {
    const responseType = message.type === "vote" ? "vote-response" : "pre-vote-response";
    // We may vote for the one we already voted for, for anyone if we have
    // neither voted nor know a leader this term, and in a pre-vote for anyone
    // campaigning in a later term (a pre-vote promises nothing).
    const canVote =
      this.vote === message.from ||
      (this.vote === noNode && this.lead === noNode) ||
      (message.type === "pre-vote" && message.term > this.term);
    if (canVote && this.log.isUpToDate(message.lastIndex, message.lastTerm)) {
      this.send({ type: responseType, from: this.id, to: message.from, term: message.term, reject: false });
      if (message.type === "vote") {
        this.electionElapsed = 0;
        this.vote = message.from;
      }
      return;
    }
    this.send({ type: responseType, from: this.id, to: message.from, term: this.term, reject: true });
  }

  private handleVoteResponse(message: VoteResponse): void {
    const expected = this.role === "pre-candidate" ? "pre-vote-response" : "vote-response";
    if (message.type !== expected) return;
    this.tracker.recordVote(message.from, !message.reject);
    const result = this.tracker.tally();
    switch (result) {
      case "won":
        if (this.role === "pre-candidate") this.campaign("vote", false);
        else this.becomeLeader();
        return;
      case "lost":
        this.becomeFollower(this.term, noNode);
        return;
      case "pending":
        return;
      default:
        assertNever(result, "vote result");
    }
  }

  // ---- Step: terms first (§5.1), then by role ---------------------------

  step(message: Message): void {
    assert(message.to === this.id, `message for ${message.to} delivered to ${this.id}`);
    if (message.term > this.term) {
      if (!this.acceptHigherTerm(message)) return;
    } else if (message.term < this.term) {
      this.answerStaleTerm(message);
      return;
    }
    if (isVoteRequest(message)) {
      this.handleVoteRequest(message);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(message);
        return;
      case "pre-candidate":
      case "candidate":
        this.stepCandidate(message);
        return;
      case "follower":
        this.stepFollower(message);
        return;
      default:
        assertNever(this.role, "role");
    }
  }

  /** A message from a later term; false when it must be ignored. */
  private acceptHigherTerm(message: Message): boolean {
    if (isVoteRequest(message)) {
      // While we hear from a leader, disregard campaigns (§6 of the thesis):
      // a removed or partitioned node must not depose a working leader. A
      // transfer campaign was asked for by the leader itself.
      const inLease = this.options.checkQuorum && this.lead !== noNode && this.electionElapsed < this.options.electionTicks;
      if (inLease && !message.transfer) return false;
    }
    const preVoteGrant = message.type === "pre-vote-response" && !message.reject;
    if (message.type === "pre-vote" || preVoteGrant) return true; // a pre-election changes no term
    this.becomeFollower(message.term, isFromLeader(message) ? message.from : noNode);
    return true;
  }

  private answerStaleTerm(message: Message): void {
    if ((this.options.checkQuorum || this.options.preVote) && (message.type === "append" || message.type === "heartbeat")) {
      // A leader cut off from the group (and so still in an old term) learns
      // of the new term from this answer and steps down. Without it, under
      // check-quorum or pre-vote, nobody would ever tell it.
      this.send({ type: "append-response", from: this.id, to: message.from, term: this.term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
    } else if (message.type === "pre-vote") {
      this.send({ type: "pre-vote-response", from: this.id, to: message.from, term: this.term, reject: true });
    }
  }

  private stepLeader(message: Message): void {
    switch (message.type) {
      case "append-response":
        this.handleAppendResponse(message);
        return;
      case "heartbeat-response":
        this.handleHeartbeatResponse(message);
        return;
      case "append":
      case "heartbeat":
      case "snapshot":
        // Another leader in our term would break election safety; count it
        // for the operator instead of trusting it.
        this.anomalies++;
        return;
      case "vote-response":
      case "pre-vote-response":
      case "timeout-now":
        return;
      case "vote":
      case "pre-vote":
        assert(false, "vote requests are handled before the role switch");
        return;
      default:
        assertNever(message, "message");
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        // Someone won this term (§5.2): follow it.
        this.becomeFollower(message.term, message.from);
        this.handleLeaderMessage(message);
        return;
      case "vote-response":
      case "pre-vote-response":
        this.handleVoteResponse(message);
        return;
      case "append-response":
      case "heartbeat-response":
      case "timeout-now":
        return;
      case "vote":
      case "pre-vote":
        assert(false, "vote requests are handled before the role switch");
        return;
      default:
        assertNever(message, "message");
    }
  }

  private stepFollower(message: Message): void {
    switch (message.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        this.electionElapsed = 0;
        this.lead = message.from;
        this.handleLeaderMessage(message);
        return;
      case "timeout-now":
        // Leadership transfer (§3.10 of the thesis): campaign now, skipping
        // the pre-election, with the transfer flag so voters in lease comply.
        this.hup(true);
        return;
      case "append-response":
      case "heartbeat-response":
      case "vote-response":
      case "pre-vote-response":
        return;
      case "vote":
      case "pre-vote":
        assert(false, "vote requests are handled before the role switch");
        return;
      default:
        assertNever(message, "message");
    }
  }

  private handleLeaderMessage(message: AppendRequest | HeartbeatRequest | SnapshotRequest): void {
    switch (message.type) {
      case "append":
        this.handleAppend(message);
        return;
      case "heartbeat":
        this.handleHeartbeat(message);
        return;
      case "snapshot":
        this.handleSnapshot(message);
        return;
      default:
        assertNever(message, "leader message");
    }
  }

  // ---- Follower side of replication (§5.3) ------------------------------

  private respondAppend(to: NodeId, index: number, reject: boolean, hintIndex = 0, hintTerm = 0): void {
    this.send({ type: "append-response", from: this.id, to, term: this.term, index, reject, hintIndex, hintTerm });
  }

  private handleAppend(message: AppendRequest): void {
    if (message.prevIndex < this.log.committed) {
      // Everything up to our commit index is settled; tell the leader so.
      this.respondAppend(message.from, this.log.committed, false);
      return;
    }
    const outcome = this.log.maybeAppend(message.prevIndex, message.prevTerm, message.commit, message.entries);
    if (outcome) {
      if (outcome.writtenFrom !== 0) {
        this.onEntriesWritten(message.entries.slice(outcome.writtenFrom - message.prevIndex - 1), outcome.writtenFrom);
      }
      this.pruneCommittedConfigs();
      this.respondAppend(message.from, outcome.lastNewIndex, false);
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(message.prevIndex, this.log.lastIndex()), message.prevTerm);
    this.respondAppend(message.from, message.prevIndex, true, hint.index, hint.term);
  }

  private handleHeartbeat(message: HeartbeatRequest): void {
    this.log.commitTo(message.commit);
    this.pruneCommittedConfigs();
    const response: HeartbeatResponse = { type: "heartbeat-response", from: this.id, to: message.from, term: this.term };
    this.send(response);
  }

  private handleSnapshot(message: SnapshotRequest): void {
    const index = this.restore(message.snapshot) ? this.log.lastIndex() : this.log.committed;
    this.respondAppend(message.from, index, false);
  }

  /** Install a leader's snapshot (§7); false when we already have what it covers. */
  private restore(snapshot: Snapshot): boolean {
    const { index, term, conf } = snapshot.meta;
    if (index <= this.log.committed) return false;
    assert(this.role === "follower", `snapshot restored by a ${this.role}`);
    if (this.log.matchTerm(index, term)) {
      // Our log already holds the snapshot's last entry: just commit up to it.
      this.log.commitTo(index);
      this.pruneCommittedConfigs();
      return false;
    }
    this.log.restore(snapshot);
    this.configs = [{ index, conf }];
    this.tracker.setConf(conf, this.log.lastIndex());
    return true;
  }

  // ---- Membership bookkeeping --------------------------------------------

  /**
   * Entries from `from` on were (re)written: configs from truncated entries
   * are forgotten and new config entries take effect at once (§4.1 of the
   * thesis: a server uses the latest configuration in its log, committed or not).
   */
  private onEntriesWritten(written: readonly Entry[], from: number): void {
    const before = this.currentConf();
    while (this.configs.length > 1 && this.configs[this.configs.length - 1]!.index >= from) this.configs.pop();
    assert(this.configs[0]!.index < from, `entries rewritten at ${from}, at or below the committed config at ${this.configs[0]!.index}`);
    for (const entry of written) {
      if (entry.kind === "config") this.configs.push({ index: entry.index, conf: confStateOf(entry.data) });
    }
    assert(this.configs.length <= pendingConfigsMax, `more than ${pendingConfigsMax} uncommitted config entries`);
    const after = this.currentConf();
    if (after !== before) this.tracker.setConf(after, this.log.lastIndex());
    if (this.leadTransferee !== noNode && !this.tracker.isVoter(this.leadTransferee)) this.leadTransferee = noNode;
  }

  private pruneCommittedConfigs(): void {
    while (this.configs.length > 1 && this.configs[1]!.index <= this.log.committed) this.configs.shift();
  }

  // ---- Leader side of replication (§5.3, §5.4) --------------------------

  /** Stamp `payloads` with this term and the next indices, append them, and schedule a broadcast. */
  private appendEntries(payloads: readonly Payload[]): Entry[] {
    assert(this.role === "leader", "only a leader appends new entries");
    const first = this.log.lastIndex() + 1;
    const entries = payloads.map((payload, i): Entry => ({ index: first + i, term: this.term, kind: payload.kind, data: payload.data }));
    this.log.append(entries);
    this.onEntriesWritten(entries, first);
    const bytes = entriesBytes(entries);
    this.uncommittedBatches.push({ lastIndex: this.log.lastIndex(), bytes });
    this.uncommittedBytes += bytes;
    this.tracker.progress(this.id)?.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
    this.broadcastPending = true;
    return entries;
  }

  /** Send whatever the last calls queued for every follower, in one batch each. */
  flushBroadcast(): void {
    if (!this.broadcastPending) return;
    this.broadcastPending = false;
    if (this.role !== "leader") return;
    for (const [id] of this.tracker.peers(this.id)) this.maybeSendAppend(id, true);
  }

  /** Advance the commit index to what a quorum holds, if it is from this term (§5.4.2). */
  private maybeCommit(): boolean {
    if (!this.log.maybeCommit(this.tracker.committedIndex(), this.term)) return false;
    this.pruneCommittedConfigs();
    while (this.uncommittedBatches.length > 0 && this.uncommittedBatches[0]!.lastIndex <= this.log.committed) {
      this.uncommittedBytes -= this.uncommittedBatches.shift()!.bytes;
    }
    assert(this.uncommittedBytes >= 0, "uncommitted bytes went negative");
    this.broadcastPending = true;
    // A leader removed from the voters manages the group until the change
    // commits, then steps down (§4.2.2 of the thesis).
    if (this.configs.length === 1 && !this.tracker.isVoter(this.id)) this.becomeFollower(this.term, noNode);
    return true;
  }

  /** Send the next append to `to` if flow control allows; false when nothing was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.tracker.progress(to);
    assert(progress !== undefined, `no progress for ${to}`);
    if (progress.isPaused()) return false;
    const prevIndex = progress.next - 1;
    assert(prevIndex <= this.log.lastIndex(), `next index ${progress.next} for ${to} is past our log`);
    const prevTerm = this.log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.log.entriesFrom(progress.next, this.options.appendBytesMax);
    if (prevTerm === undefined || entries === undefined) return this.maybeSendSnapshot(to, progress);
    if (entries.length === 0 && !sendIfEmpty) return false;
    const batch = entries.length > entriesPerMessageMax ? entries.slice(0, entriesPerMessageMax) : entries;
    this.send({ type: "append", from: this.id, to, term: this.term, prevIndex, prevTerm, entries: batch, commit: this.log.committed });
    progress.sentAppend(batch.length, entriesBytes(batch));
    return true;
  }

  private maybeSendSnapshot(to: NodeId, progress: Progress): boolean {
    // A follower we have not heard from lately may be down; a snapshot is
    // large, so wait until it answers a heartbeat.
    if (!progress.recentActive) return false;
    const snapshot = this.storage.snapshot();
    assert(!isEmptySnapshot(snapshot), `entries for ${to} were compacted but there is no snapshot`);
    progress.becomeSnapshot(snapshot.meta.index);
    this.send({ type: "snapshot", from: this.id, to, term: this.term, snapshot });
    return true;
  }

  private broadcastHeartbeat(): void {
    for (const [id, progress] of this.tracker.peers(this.id)) {
      // Never point a follower's commit past what it is known to hold.
      const commit = Math.min(progress.match, this.log.committed);
      this.send({ type: "heartbeat", from: this.id, to: id, term: this.term, commit });
    }
  }

  private handleAppendResponse(message: AppendResponse): void {
    const progress = this.tracker.progress(message.from);
    if (!progress) return;
    if (message.index > this.log.lastIndex()) {
      // No follower can hold or reject more than we sent in this term.
      this.anomalies++;
      return;
    }
    progress.recentActive = true;
    if (message.reject) {
      const hint = message.hintTerm > 0 ? this.log.findConflictByTerm(message.hintIndex, message.hintTerm).index : message.hintIndex;
      if (progress.maybeDecreaseTo(message.index, hint)) {
        if (progress.state === "replicate") progress.becomeProbe();
        this.maybeSendAppend(message.from, true);
      }
      return;
    }
    const reconfirmedProbe = progress.state === "probe" && progress.match === message.index;
    if (!progress.maybeUpdate(message.index) && !reconfirmedProbe) return;
    this.onFollowerAdvanced(message.from, progress, message.index);
  }

  /** The follower acknowledged up to `index`: move its state on, commit, keep its pipe full. */
  private onFollowerAdvanced(id: NodeId, progress: Progress, index: number): void {
    switch (progress.state) {
      case "probe":
        progress.becomeReplicate();
        break;
      case "snapshot":
        if (progress.match + 1 >= this.log.firstIndex()) {
          progress.becomeProbe();
          progress.becomeReplicate();
        }
        break;
      case "replicate":
        progress.inflights.freeUpTo(index);
        break;
      default:
        assertNever(progress.state, "progress state");
    }
    this.maybeCommit();
    if (this.role !== "leader") return; // the commit may have removed us
    for (let sent = 0; sent < this.options.inflightMessagesMax; sent++) {
      if (!this.maybeSendAppend(id, false)) break;
    }
    if (id === this.leadTransferee && progress.match === this.log.lastIndex()) this.sendTimeoutNow(id);
  }

  private handleHeartbeatResponse(message: HeartbeatResponse): void {
    const progress = this.tracker.progress(message.from);
    if (!progress) return;
    progress.recentActive = true;
    progress.probeSent = false;
    // A full window after a loss would otherwise wait forever for answers
    // that will not come: free one slot per heartbeat.
    if (progress.state === "replicate" && progress.inflights.full()) progress.inflights.freeOldest();
    if (progress.match < this.log.lastIndex() || progress.state === "probe") this.maybeSendAppend(message.from, true);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: "timeout-now", from: this.id, to, term: this.term });
  }

  // ---- Local requests ----------------------------------------------------

  propose(data: readonly Uint8Array[]): ProposeResult {
    const refused = this.refuseProposal(data.map((bytes) => bytes.length));
    if (refused) return { ok: false, error: refused, leader: this.lead };
    const entries = this.appendEntries(data.map((bytes) => ({ kind: "normal", data: bytes })));
    return { ok: true, firstIndex: entries[0]!.index, lastIndex: entries[entries.length - 1]!.index, term: this.term };
  }

  private refuseProposal(sizes: readonly number[]): ProposeError | undefined {
    if (this.role !== "leader") return "not-leader";
    // While handing over leadership, new entries would only delay the
    // target's catching up.
    if (this.leadTransferee !== noNode) return "transferring";
    if (sizes.length === 0 || sizes.length > entriesPerMessageMax || sizes.some((size) => size > entryBytesMax)) return "too-large";
    const bytes = sizes.reduce((total, size) => total + size, 0);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.options.uncommittedBytesMax) return "uncommitted-bytes-exceeded";
    return undefined;
  }

  /** Propose one membership change (§4.1 of the thesis): one at a time, learners caught up before promotion. */
  proposeConfChange(change: ConfChange): ConfChangeProposeResult {
    const refused = this.refuseProposal([0]);
    if (refused) return { ok: false, error: refused, leader: this.lead };
    if (this.log.committed < this.pendingConfIndex) return { ok: false, error: "change-in-progress", leader: this.lead };
    const result = applyConfChange(this.currentConf(), change);
    if (!result.ok) return { ok: false, error: result.error, leader: this.lead };
    if (change.type === "promote") {
      const progress = this.tracker.progress(change.node);
      if (!progress || progress.match + this.options.learnerCatchUpEntriesMax < this.log.lastIndex()) {
        return { ok: false, error: "learner-behind", leader: this.lead };
      }
    }
    assert(differsByAtMostOneVoter(this.currentConf(), result.conf), "a membership change moved more than one voter");
    const [entry] = this.appendEntries([{ kind: "config", data: encodeConfState(result.conf) }]);
    this.pendingConfIndex = entry!.index;
    return { ok: true, index: entry!.index, term: this.term };
  }

  /** Hand leadership to `target` (§3.10 of the thesis): catch it up, then send TimeoutNow. */
  transferLeadership(target: NodeId): TransferResult {
    if (this.role !== "leader") return { ok: false, error: "not-leader", leader: this.lead };
    if (target === this.id) return { ok: false, error: "self", leader: this.lead };
    if (!this.tracker.isVoter(target)) return { ok: false, error: "not-a-voter", leader: this.lead };
    if (this.leadTransferee === target) return { ok: true };
    this.leadTransferee = target;
    // The transfer gets one election timeout to finish.
    this.electionElapsed = 0;
    const progress = this.tracker.progress(target)!;
    if (progress.match === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.maybeSendAppend(target, true);
    return { ok: true };
  }

  /** The transport could not reach `id`: stop streaming to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    if (this.role !== "leader") return;
    const progress = this.tracker.progress(id);
    if (progress?.state === "replicate") progress.becomeProbe();
  }

  /** The transport finished sending a snapshot to `id` (or failed to). */
  reportSnapshot(id: NodeId, delivered: boolean): void {
    if (this.role !== "leader") return;
    const progress = this.tracker.progress(id);
    if (!progress || progress.state !== "snapshot") return;
    if (!delivered) progress.pendingSnapshot = 0;
    // Wait for the follower's answer or the next heartbeat before sending more.
    progress.becomeProbe();
    progress.probeSent = true;
  }
}
