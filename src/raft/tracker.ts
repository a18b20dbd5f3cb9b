// The current membership and, on a leader, one Progress per member; also the
// vote tally of a campaign. Answers the quorum questions the core asks: what
// index a majority has acknowledged, whether an election is won, whether a
// quorum was heard from recently. Members are iterated in sorted order so
// that the messages a node emits are deterministic.

import { assert } from "../lib/assert.ts";
import { Progress } from "./progress.ts";
import { majorityAckedIndex, quorumActive, voteResult, type VoteResult } from "./quorum.ts";
import { type ConfState, type NodeId, assertConfState, emptyConfState } from "./types.ts";

export class ProgressTracker {
  private confState: ConfState = emptyConfState;
  private readonly progressOf = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  constructor(private readonly inflightMessagesMax: number) {}

  get conf(): ConfState {
    return this.confState;
  }

  isVoter(id: NodeId): boolean {
    return this.confState.voters.includes(id);
  }

  isLearner(id: NodeId): boolean {
    return this.confState.learners.includes(id);
  }

  /** Voters then learners, each sorted. */
  members(): NodeId[] {
    return [...this.confState.voters, ...this.confState.learners];
  }

  progress(id: NodeId): Progress | undefined {
    return this.progressOf.get(id);
  }

  /**
   * Switch to membership `conf`. Members that stay keep their progress; new
   * ones start probing just past `lastIndex` and count as recently active so
   * that a snapshot may be sent to them at once.
   */
  setConf(conf: ConfState, lastIndex: number): void {
    assertConfState(conf);
    this.confState = conf;
    const members = new Set(this.members());
    for (const id of [...this.progressOf.keys()]) if (!members.has(id)) this.progressOf.delete(id);
    for (const id of members) {
      const existing = this.progressOf.get(id);
      if (existing) {
        existing.isLearner = this.isLearner(id);
        continue;
      }
      const progress = new Progress(lastIndex, this.inflightMessagesMax, this.isLearner(id));
      progress.recentActive = true;
      this.progressOf.set(id, progress);
    }
    for (const id of [...this.votes.keys()]) if (!this.isVoter(id)) this.votes.delete(id);
  }

  /** Fresh progress for every member, as a new term begins. */
  resetProgress(selfId: NodeId, lastIndex: number): void {
    this.progressOf.clear();
    for (const id of this.members()) {
      const progress = new Progress(lastIndex, this.inflightMessagesMax, this.isLearner(id));
      if (id === selfId) {
        progress.match = lastIndex;
        progress.recentActive = true;
      }
      this.progressOf.set(id, progress);
    }
  }

  /** The largest index a quorum of voters has acknowledged. */
  committedIndex(): number {
    return majorityAckedIndex(this.confState.voters, (id) => this.progressOf.get(id)?.match ?? 0);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Record a voter's answer; the first answer from each voter counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.isVoter(id) || this.votes.has(id)) return;
    this.votes.set(id, granted);
  }

  tally(): VoteResult {
    return voteResult(this.confState.voters, this.votes);
  }

  /**
   * Whether a quorum of voters was heard from since the last call; clears the
   * marks for the next round. `selfId` always counts as active.
   */
  checkQuorumActive(selfId: NodeId): boolean {
    const active = quorumActive(this.confState.voters, (id) => id === selfId || this.progressOf.get(id)?.recentActive === true);
    for (const [id, progress] of this.progressOf) progress.recentActive = id === selfId;
    return active;
  }

  /** Every member except `selfId`, sorted voters first, with its progress. */
  *peers(selfId: NodeId): IterableIterator<[NodeId, Progress]> {
    for (const id of this.members()) {
      if (id === selfId) continue;
      const progress = this.progressOf.get(id);
      assert(progress !== undefined, `member ${id} has no progress`);
      yield [id, progress];
    }
  }
}
