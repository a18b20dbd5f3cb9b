// A transmit-limited broadcast queue, as memberlist's TransmitLimitedQueue:
// each queued message is piggybacked on outgoing packets until it has been
// sent `retransmitLimit` times. Messages sent fewer times go first, and among
// those the larger first (they are harder to fit later). A new message with
// the same key (e.g. about the same node) replaces the queued one, so stale
// news about a node is never sent after fresher news.

import { assert } from "../lib/assert.ts";

interface Queued {
  key: string | undefined;
  bytes: Uint8Array;
  transmits: number;
  id: number;
  onDone?: () => void;
}

export class BroadcastQueue {
  private items: Queued[] = [];
  private nextId = 0;
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
      const index = this.items.findIndex((item) => item.key === key);
      if (index >= 0) {
        this.items[index]!.onDone?.();
        this.items.splice(index, 1);
      }
    }
    if (this.items.length >= this.queuedMax) {
      // Drop the message that has already travelled most: it is the least news.
      let worst = 0;
      for (let i = 1; i < this.items.length; i++) {
        if (this.items[i]!.transmits > this.items[worst]!.transmits) worst = i;
      }
      this.items[worst]!.onDone?.();
      this.items.splice(worst, 1);
      this.droppedCount++;
    }
    this.items.push({ key, bytes, transmits: 0, id: this.nextId++, onDone });
  }

  /**
   * Messages that fit in `limitBytes` when each also costs `overheadBytes`,
   * counting one transmission for each; messages that reach `transmitLimit`
   * leave the queue.
   */
  take(overheadBytes: number, limitBytes: number, transmitLimit: number): Uint8Array[] {
    if (this.items.length === 0 || limitBytes <= overheadBytes) return [];
    this.items.sort((a, b) => a.transmits - b.transmits || b.bytes.length - a.bytes.length || b.id - a.id);
    const chosen: Uint8Array[] = [];
    let used = 0;
    const keep: Queued[] = [];
    for (const item of this.items) {
      const cost = item.bytes.length + overheadBytes;
      if (used + cost > limitBytes) {
        keep.push(item);
        continue;
      }
      used += cost;
      chosen.push(item.bytes);
      item.transmits++;
      if (item.transmits >= Math.max(1, transmitLimit)) item.onDone?.();
      else keep.push(item);
    }
    this.items = keep;
    return chosen;
  }

  clear(): void {
    for (const item of this.items) item.onDone?.();
    this.items = [];
  }
}
