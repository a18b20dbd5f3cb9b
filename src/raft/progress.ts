// What the leader knows about one follower's log, and how fast it may send to
// it. A follower is in one of three states:
//   probe      - we do not know where its log ends; send one append per
//                heartbeat interval and walk back on rejection;
//   replicate  - its log matches up to `match`; stream appends optimistically,
//                at most `inflights.capacity` unacknowledged at once;
//   snapshot   - it needs entries we compacted; a snapshot is on its way and
//                nothing else is sent until it is acknowledged or times out.
// Pure bookkeeping; the leader decides when to call each transition.

import { assert, assertNever } from "../lib/assert.ts";
import { Inflights } from "./inflights.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState = "probe";
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Leader ticks spent in snapshot state; a lost snapshot is resent after a timeout. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In probe state: an append is outstanding, wait for an answer or the next heartbeat. */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(
    lastIndex: number,
    inflightMessagesMax: number,
    public isLearner: boolean,
  ) {
    this.next = lastIndex + 1;
    this.inflights = new Inflights(inflightMessagesMax);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot's entries, so
    // probing starts just after it.
    const next = this.state === "snapshot" ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState("probe");
    this.next = next;
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    assert(snapshotIndex > 0, "snapshot state needs a snapshot index");
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
  }

  /** An acknowledgement up to `index`; false when it tells us nothing new. */
  maybeUpdate(index: number): boolean {
    const updated = this.match < index;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append after `rejectedIndex`; `hintIndex` is the
   * follower's suggestion of where its log may still match. Returns false when
   * the rejection is stale (answers an older message).
   */
  maybeDecreaseTo(rejectedIndex: number, hintIndex: number): boolean {
    if (this.state === "replicate") {
      if (rejectedIndex <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejectedIndex) return false;
    this.next = Math.max(Math.min(rejectedIndex, hintIndex + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Account for an append just sent with `entryCount` entries of `bytes` in total. */
  sentAppend(entryCount: number, bytes: number): void {
    switch (this.state) {
      case "replicate":
        if (entryCount > 0) {
          this.next += entryCount;
          this.inflights.add(this.next - 1, bytes);
        }
        return;
      case "probe":
        this.probeSent = true;
        return;
      case "snapshot":
        assert(false, "append sent to a follower in snapshot state");
        return;
      default:
        assertNever(this.state, "progress state");
    }
  }

  /** Whether the leader must hold back appends to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
      default:
        return assertNever(this.state, "progress state");
    }
  }
}
