// Flow-control window for one follower: the last index of every append
// message sent but not yet acknowledged, oldest first, in a fixed ring. When
// the ring is full the leader stops sending to that follower until an
// acknowledgement frees slots, so a slow follower costs bounded memory.

import { assert } from "../lib/assert.ts";

export class Inflights {
  private readonly lastIndices: number[];
  private start = 0;
  private count = 0;
  private bytesInFlight = 0;
  private readonly bytesOf: number[];

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, `inflight capacity must be a positive integer, got ${capacity}`);
    this.lastIndices = new Array<number>(capacity).fill(0);
    this.bytesOf = new Array<number>(capacity).fill(0);
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.bytesInFlight;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  /** Record a sent message whose last entry is `lastIndex`; indices must increase. */
  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), "add to a full inflight window");
    if (this.count > 0) {
      const newest = this.lastIndices[(this.start + this.count - 1) % this.capacity]!;
      assert(lastIndex > newest, `inflight indices must increase: ${newest} then ${lastIndex}`);
    }
    const slot = (this.start + this.count) % this.capacity;
    this.lastIndices[slot] = lastIndex;
    this.bytesOf[slot] = bytes;
    this.bytesInFlight += bytes;
    this.count++;
  }

  /** Forget every message whose last index is at most `index` (acknowledged). */
  freeUpTo(index: number): void {
    while (this.count > 0 && this.lastIndices[this.start]! <= index) this.freeOldest();
  }

  /** Forget the oldest message (presumed lost), so that a full window can make progress. */
  freeOldest(): void {
    if (this.count === 0) return;
    this.bytesInFlight -= this.bytesOf[this.start]!;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
    assert(this.bytesInFlight >= 0, "inflight bytes went negative");
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytesInFlight = 0;
  }
}
