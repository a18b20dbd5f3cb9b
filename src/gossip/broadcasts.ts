// A transmit-limited broadcast queue, as memberlist's TransmitLimitedQueue:
// each queued message is piggybacked on outgoing packets until it has been
// sent `retransmitLimit` times. Messages sent fewer times go first, and among
// those the larger first (they are harder to fit later), then the newer. A
// new message with the same key (e.g. about the same node) replaces the
// queued one, so stale news about a node is never sent after fresher news.
//
// The queue is asked for a packet's worth of messages on every packet a
// node sends, and while a large cluster forms it holds thousands of them, so
// it stays sorted (memberlist keeps a B-tree for the same reason): taking a
// packet's worth costs the messages taken, plus a binary-search move of each
// one to its new place, instead of a sort of the whole queue.

import { assert } from "../lib/assert.ts";

interface Queued {
  key: string | undefined;
  bytes: Uint8Array;
  /** bytes.length, kept apart so a search can probe the order with a size alone. */
  size: number;
  transmits: number;
  id: number;
  onDone?: () => void;
}

/** The queue's order: fewer transmissions first, then larger, then newer. */
function before(a: Queued, b: Queued): boolean {
  if (a.transmits !== b.transmits) return a.transmits < b.transmits;
  if (a.size !== b.size) return a.size > b.size;
  return a.id > b.id;
}

export class BroadcastQueue {
  /** Sorted by `before`. */
  private items: Queued[] = [];
  private readonly byKey = new Map<string, Queued>();
  private nextId = 0;
  /** No queued message is shorter than this (a lower bound: removals do not raise it). */
  private shortestBytes = Number.POSITIVE_INFINITY;
  /** Messages dropped because the queue was full. */
  droppedCount = 0;

  constructor(private readonly queuedMax = 4096) {
    assert(queuedMax > 0, "queue bound must be positive");
  }

  get size(): number {
    return this.items.length;
  }

  /** Queue `bytes`; `onDone` runs once the message has been sent enough times or was replaced. */
  push(key: string | undefined, bytes: Uint8Array, onDone?: () => void): void {
    if (key !== undefined) {
      const old = this.byKey.get(key);
      if (old) {
        this.detach(old);
        this.byKey.delete(key);
        old.onDone?.();
      }
    }
    if (this.items.length >= this.queuedMax) {
      // Drop the message that has already travelled most (the last): it is the least news.
      const worst = this.items[this.items.length - 1]!;
      this.detach(worst);
      this.forgetKey(worst);
      worst.onDone?.();
      this.droppedCount++;
    }
    const item: Queued = { key, bytes, size: bytes.length, transmits: 0, id: this.nextId++, onDone };
    this.insert(item);
    if (key !== undefined) this.byKey.set(key, item);
    this.shortestBytes = Math.min(this.shortestBytes, item.size);
  }

  /**
   * Messages that fit in `limitBytes` when each also costs `overheadBytes`,
   * in queue order, counting one transmission for each; messages that reach
   * `transmitLimit` leave the queue.
   */
  take(overheadBytes: number, limitBytes: number, transmitLimit: number): Uint8Array[] {
    if (this.items.length === 0 || limitBytes <= overheadBytes) return [];
    const chosen: Queued[] = [];
    let used = 0;
    for (let index = 0; index < this.items.length; ) {
      // Nothing left in the queue can fit any more.
      if (limitBytes - used < this.shortestBytes + overheadBytes) break;
      const item = this.items[index]!;
      if (used + item.size + overheadBytes > limitBytes) {
        // Within one transmit count the larger come first: jump to the first
        // one that fits, or to the next transmit count, instead of walking
        // past every larger message one by one.
        const fits: Queued = { key: undefined, bytes: item.bytes, size: limitBytes - used - overheadBytes, transmits: item.transmits, id: Number.POSITIVE_INFINITY };
        index = Math.max(index + 1, this.position(fits));
        continue;
      }
      used += item.size + overheadBytes;
      chosen.push(item);
      index++;
    }
    for (const item of chosen) {
      this.detach(item);
      item.transmits++;
      if (item.transmits >= Math.max(1, transmitLimit)) {
        this.forgetKey(item);
        item.onDone?.();
      } else {
        this.insert(item);
      }
    }
    if (this.items.length === 0) this.shortestBytes = Number.POSITIVE_INFINITY;
    return chosen.map((item) => item.bytes);
  }

  clear(): void {
    const items = this.items;
    this.items = [];
    this.byKey.clear();
    this.shortestBytes = Number.POSITIVE_INFINITY;
    for (const item of items) item.onDone?.();
  }

  /** Index of the first queued item that does not come before `item`. */
  private position(item: Queued): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (before(this.items[middle]!, item)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private insert(item: Queued): void {
    this.items.splice(this.position(item), 0, item);
  }

  /** Take `item` out of the order; its key entry stays, for the caller to keep or forget. */
  private detach(item: Queued): void {
    const index = this.position(item);
    assert(this.items[index] === item, "a queued broadcast is where the order puts it");
    this.items.splice(index, 1);
  }

  private forgetKey(item: Queued): void {
    if (item.key !== undefined && this.byKey.get(item.key) === item) this.byKey.delete(item.key);
  }
}
