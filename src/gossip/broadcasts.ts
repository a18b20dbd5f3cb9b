// A transmit-limited broadcast queue, as memberlist's TransmitLimitedQueue:
// each queued message is piggybacked on outgoing packets until it has been
// sent `retransmitLimit` times. Messages sent fewer times go first, and among
// those the larger first (they are harder to fit later), then the newer. A
// new message with the same key (e.g. about the same node) replaces the
// queued one, so stale news about a node is never sent after fresher news.
//
// The queue is asked for a packet's worth of messages on every packet a
// node sends, and while a large cluster forms (or state changes faster than
// packets can carry it) it holds thousands of them, so it stays sorted
// (memberlist keeps a B-tree for the same reason). Messages are grouped by
// (transmit count, size), and the groups are kept in the queue's order; a
// group holds its messages oldest first, so the next one to send is at its
// end. A new message and a message just sent join the end of their group in
// the common case, and taking a packet's worth removes the ends of groups:
// each costs O(1) instead of moving a whole sorted array of thousands.

import { assert } from "../lib/assert.ts";

interface Queued {
  key: string | undefined;
  bytes: Uint8Array;
  /** bytes.length, kept apart so groups can be found by size alone. */
  size: number;
  transmits: number;
  id: number;
  /**
   * False once it left the queue. A group may still hold it until the group
   * is trimmed, and a message sent and queued again (a transmission more,
   * so another group) can still sit in its old group: see `holds`.
   */
  queued: boolean;
  onDone?: () => void;
}

/**
 * Messages sent equally often and of equal size, in ascending id order (the
 * queue sends the highest first). Removal is lazy: a message that leaves
 * from the middle (replaced by newer news, or sent) is only marked, and
 * skipped until the group is compacted. The group's own fields answer the
 * common questions (is a new message the newest? is this one at an end?)
 * without reading the messages themselves: with thousands of nodes' queues
 * in memory, each message read is likely a cache miss.
 */
interface Group {
  transmits: number;
  size: number;
  items: Queued[];
  /** items[0 .. head) are gone. */
  head: number;
  /** Messages of items[head ..] still queued. */
  live: number;
  /** No message in `items` has a higher id. */
  idMax: number;
}

/** Whether `item` in `group`'s array is one of its queued messages rather than a leftover. */
function holds(group: Group, item: Queued): boolean {
  return item.queued && item.transmits === group.transmits;
}

/** Removed messages a group may hold beyond its live ones before it is compacted. */
const groupSlackMax = 64;

/** The order of groups: fewer transmissions first, then larger. */
function groupBefore(transmits: number, size: number, group: Group): boolean {
  if (transmits !== group.transmits) return transmits < group.transmits;
  return size > group.size;
}

export class BroadcastQueue {
  /** Groups holding queued messages, in queue order. */
  private readonly groups: Group[] = [];
  private count = 0;
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
    return this.count;
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
    if (this.count >= this.queuedMax) {
      // Drop the message that has already travelled most (the last): it is the least news.
      const last = this.groups[this.groups.length - 1]!;
      while (!holds(last, last.items[last.head]!)) last.head++;
      const worst = last.items[last.head]!;
      this.detach(worst);
      this.forgetKey(worst);
      worst.onDone?.();
      this.droppedCount++;
    }
    const item: Queued = { key, bytes, size: bytes.length, transmits: 0, id: this.nextId++, queued: false, onDone };
    this.insert(item);
    if (key !== undefined) this.byKey.set(key, item);
    this.shortestBytes = Math.min(this.shortestBytes, item.size);
  }

  /**
   * Messages that fit in `limitBytes` when each also costs `overheadBytes`,
   * in queue order, counting one transmission for each; messages that reach
   * `transmitLimit` leave the queue. Each message in order is taken when it
   * still fits; since a group's messages are equally large, that is a run
   * from the end of each group.
   */
  take(overheadBytes: number, limitBytes: number, transmitLimit: number): Uint8Array[] {
    if (this.count === 0 || limitBytes <= overheadBytes) return [];
    const chosen: Queued[] = [];
    let used = 0;
    for (const group of this.groups) {
      // Nothing left in the queue can fit any more.
      if (limitBytes - used < this.shortestBytes + overheadBytes) break;
      const cost = group.size + overheadBytes;
      if (used + cost > limitBytes) continue;
      let wanted = Math.min(group.live, Math.floor((limitBytes - used) / cost));
      used += wanted * cost;
      for (let i = group.items.length - 1; wanted > 0; i--) {
        const item = group.items[i]!;
        if (!holds(group, item)) continue;
        chosen.push(item);
        wanted--;
      }
    }
    assert(used <= limitBytes, "the messages taken fit the budget");
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
    if (this.count === 0) this.shortestBytes = Number.POSITIVE_INFINITY;
    return chosen.map((item) => item.bytes);
  }

  clear(): void {
    const items: Queued[] = [];
    for (const group of this.groups) {
      for (let i = group.items.length - 1; i >= group.head; i--) {
        const item = group.items[i]!;
        if (holds(group, item)) items.push(item);
      }
    }
    for (const item of items) item.queued = false;
    this.groups.length = 0;
    this.count = 0;
    this.byKey.clear();
    this.shortestBytes = Number.POSITIVE_INFINITY;
    for (const item of items) item.onDone?.();
  }

  /** Index of the group of (transmits, size), or of the first group after where it belongs. */
  private groupIndex(transmits: number, size: number): number {
    let low = 0;
    let high = this.groups.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (groupBefore(transmits, size, this.groups[middle]!)) high = middle;
      else low = middle + 1;
    }
    // `low` is the first group that (transmits, size) comes before; the group itself, if any, precedes it.
    const previous = this.groups[low - 1];
    return previous !== undefined && previous.transmits === transmits && previous.size === size ? low - 1 : low;
  }

  private insert(item: Queued): void {
    assert(!item.queued, "a message is queued once");
    const index = this.groupIndex(item.transmits, item.size);
    let group = this.groups[index];
    if (group === undefined || group.transmits !== item.transmits || group.size !== item.size) {
      group = { transmits: item.transmits, size: item.size, items: [], head: 0, live: 0, idMax: -1 };
      this.groups.splice(index, 0, group);
    }
    const items = group.items;
    // New messages, and the messages just sent in a busy queue, are the newest of their group.
    if (item.id > group.idMax) {
      items.push(item);
      group.idMax = item.id;
    } else {
      items.splice(idPosition(items, group.head, item.id), 0, item);
    }
    item.queued = true;
    group.live++;
    this.count++;
  }

  /** Take `item` out of the order; its key entry stays, for the caller to keep or forget. */
  private detach(item: Queued): void {
    assert(item.queued, "only a queued message leaves the queue");
    const index = this.groupIndex(item.transmits, item.size);
    const group = this.groups[index];
    assert(group !== undefined && group.transmits === item.transmits && group.size === item.size, "a queued broadcast has its group");
    item.queued = false;
    group.live--;
    this.count--;
    if (group.live === 0) {
      this.groups.splice(index, 1);
      return;
    }
    const items = group.items;
    // Messages leave mostly from the ends; others stay as leftovers until the group is compacted.
    if (items[items.length - 1] === item) items.pop();
    else if (items[group.head] === item) group.head++;
    const removed = items.length - group.head - group.live;
    if (group.head > groupSlackMax && group.head * 2 > items.length) {
      group.items = items.slice(group.head);
      group.head = 0;
    } else if (removed > groupSlackMax && removed > group.live) {
      group.items = items.slice(group.head).filter((kept) => holds(group, kept));
      group.head = 0;
    }
  }

  private forgetKey(item: Queued): void {
    if (item.key !== undefined && this.byKey.get(item.key) === item) this.byKey.delete(item.key);
  }
}

/** Index of the first item from `start` whose id is not below `id`, in items sorted by ascending id. */
function idPosition(items: readonly Queued[], start: number, id: number): number {
  let low = start;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (items[middle]!.id < id) low = middle + 1;
    else high = middle;
  }
  return low;
}
