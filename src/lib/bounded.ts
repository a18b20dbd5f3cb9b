// Bounded containers. Every queue and map in the agent has a named maximum;
// these helpers make the bound and the overflow policy explicit at the call
// site instead of leaving memory growth to chance.

import { assert } from "./assert.ts";

export type OverflowPolicy = "drop-oldest" | "drop-newest" | "reject";

/** FIFO ring buffer with a fixed capacity. */
export class BoundedQueue<T> {
  private readonly buffer: (T | undefined)[];
  private head = 0;
  private count = 0;
  /** Items dropped or rejected because the queue was full. */
  overflowCount = 0;

  constructor(
    readonly capacity: number,
    private readonly policy: OverflowPolicy = "drop-oldest",
  ) {
    assert(Number.isInteger(capacity) && capacity > 0, `queue capacity must be a positive integer, got ${capacity}`);
    this.buffer = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Returns false when the item was not queued (full, policy drop-newest or reject). */
  push(item: T): boolean {
    if (this.count === this.capacity) {
      this.overflowCount++;
      if (this.policy !== "drop-oldest") return false;
      this.shift();
    }
    this.buffer[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return true;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.buffer[this.head];
    this.buffer[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.buffer[this.head];
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.buffer[(this.head + i) % this.capacity]!;
  }

  clear(): void {
    this.buffer.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}

/**
 * Map with a maximum number of entries. When full, inserting a new key evicts
 * the least recently written key (Map keeps insertion order; a write moves the
 * key to the end). Reads do not refresh recency: this is a bound, not a cache.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  evictionCount = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, `map capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Returns the evicted entry, if the write pushed one out. */
  set(key: K, value: V): [K, V] | undefined {
    let evicted: [K, V] | undefined;
    if (this.map.has(key)) {
      this.map.delete(key);
    } else if (this.map.size >= this.capacity) {
      const oldest = this.map.entries().next().value as [K, V];
      this.map.delete(oldest[0]);
      this.evictionCount++;
      evicted = oldest;
    }
    this.map.set(key, value);
    return evicted;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  keys(): IterableIterator<K> {
    return this.map.keys();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
  }
}
