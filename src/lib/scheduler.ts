// Timer scheduler ordered by (due time, sequence number).
//
// Cores express timers as data ("wake me at t for reason r"); a shell keeps
// them here and delivers the due ones in a fixed order: earliest due time
// first, and among equal due times, the one scheduled first. The simulator
// uses the same ordering rule, so a core sees identical timer sequences in
// production and under simulation. Cancellation is by handle; a cancelled
// timer stays in the heap and is skipped when it surfaces (cheap, and the
// heap stays bounded by `timersMax`).

import { assert } from "./assert.ts";
import { MinHeap } from "./heap.ts";

export interface TimerHandle {
  readonly sequence: number;
}

interface Entry<T> {
  dueMs: number;
  sequence: number;
  payload: T;
  cancelled: boolean;
}

export class TimerScheduler<T> {
  private readonly heap = new MinHeap<Entry<T>>((a, b) =>
    a.dueMs !== b.dueMs ? a.dueMs < b.dueMs : a.sequence < b.sequence,
  );
  private readonly live = new Map<number, Entry<T>>();
  private nextSequence = 1;

  constructor(private readonly timersMax = 100_000) {}

  get pending(): number {
    return this.live.size;
  }

  schedule(dueMs: number, payload: T): TimerHandle {
    assert(Number.isFinite(dueMs), `timer due time must be finite, got ${dueMs}`);
    assert(this.live.size < this.timersMax, `more than ${this.timersMax} timers pending`);
    const entry: Entry<T> = { dueMs, sequence: this.nextSequence++, payload, cancelled: false };
    this.heap.push(entry);
    this.live.set(entry.sequence, entry);
    return { sequence: entry.sequence };
  }

  cancel(handle: TimerHandle): boolean {
    const entry = this.live.get(handle.sequence);
    if (!entry) return false;
    entry.cancelled = true;
    this.live.delete(handle.sequence);
    return true;
  }

  /** Due time of the earliest live timer, or undefined when none is pending. */
  nextDueMs(): number | undefined {
    this.dropCancelledTop();
    return this.heap.peek()?.dueMs;
  }

  /** Removes and returns, in order, every live timer due at or before `nowMs`. */
  takeDue(nowMs: number): T[] {
    const due: T[] = [];
    for (;;) {
      this.dropCancelledTop();
      const top = this.heap.peek();
      if (!top || top.dueMs > nowMs) break;
      this.heap.pop();
      this.live.delete(top.sequence);
      due.push(top.payload);
    }
    return due;
  }

  clear(): void {
    this.heap.clear();
    this.live.clear();
  }

  private dropCancelledTop(): void {
    while (this.heap.peek()?.cancelled) this.heap.pop();
  }
}
