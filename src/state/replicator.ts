// Replication of the state store over gossip: the SwimDelegate that turns
// local writes into broadcasts (coalesced per key, fewest-sent first, as
// many as fit the packet), relays news it accepts from peers (epidemic
// spread), and exchanges the full store in push/pull for anti-entropy, so a
// node that joins or heals catches up in one exchange. Subscribers hear
// which keys changed after each batch.

import { BroadcastQueue } from "../gossip/broadcasts.ts";
import { retransmitLimit } from "../gossip/math.ts";
import type { SwimDelegate } from "../gossip/types.ts";
import { decodeStateMessage, encodeDelta, encodeFullState, entryBytesMax } from "./wire.ts";
import type { Entry, StateStore } from "./store.ts";

export type ChangeListener = (changedKeys: string[]) => void;

export interface ReplicatorCounters {
  deltasSent: number;
  deltasApplied: number;
  fullStatesMerged: number;
  foreignMessages: number;
  malformedMessages: number;
  rejectedEntries: number;
}

export class StateReplicator implements SwimDelegate {
  private readonly queue: BroadcastQueue;
  private readonly listeners: ChangeListener[] = [];
  readonly counters: ReplicatorCounters = {
    deltasSent: 0,
    deltasApplied: 0,
    fullStatesMerged: 0,
    foreignMessages: 0,
    malformedMessages: 0,
    rejectedEntries: 0,
  };

  constructor(
    readonly store: StateStore,
    private readonly now: () => number,
    private readonly retransmitMult: number,
    /** Members not dead or left, this node included: sets how often news is retransmitted. */
    private readonly liveMembers: () => number,
    queuedMax = 8192,
  ) {
    this.queue = new BroadcastQueue(queuedMax);
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const index = this.listeners.indexOf(listener);
      if (index >= 0) this.listeners.splice(index, 1);
    };
  }

  /** Write one of this node's entries (undefined deletes it) and gossip the change. */
  publish(key: string, value: Entry["value"]): void {
    const before = this.store.get(key);
    const entry = this.store.writeLocal(this.now(), key, value);
    if (before === entry || (before && before.version.counter === entry.version.counter && before.version.epoch === entry.version.epoch)) return;
    this.enqueue(entry);
    this.notify([key]);
  }

  get queuedBroadcasts(): number {
    return this.queue.size;
  }

  private enqueue(entry: Omit<Entry, "storedAtMs">): void {
    const bytes = encodeDelta(entry);
    if (bytes.length > entryBytesMax) return;
    this.queue.push(entry.key, bytes);
  }

  private notify(keys: string[]): void {
    if (keys.length === 0) return;
    for (const listener of [...this.listeners]) listener(keys);
  }

  // --------------------------------------------------------- SwimDelegate

  broadcasts(overheadBytes: number, limitBytes: number): Uint8Array[] {
    const limit = retransmitLimit(this.retransmitMult, this.liveMembers());
    const taken = this.queue.take(overheadBytes, limitBytes, limit);
    this.counters.deltasSent += taken.length;
    return taken;
  }

  notifyMessage(payload: Uint8Array): void {
    const decoded = decodeStateMessage(payload);
    switch (decoded.kind) {
      case "foreign":
        this.counters.foreignMessages++;
        return;
      case "error":
      case "full":
        // Full states travel only in push/pull.
        this.counters.malformedMessages++;
        return;
      case "delta": {
        const result = this.store.merge(this.now(), decoded.entry);
        if (result === "applied") {
          this.counters.deltasApplied++;
          this.enqueue(decoded.entry);
          this.notify([decoded.entry.key]);
        } else if (result !== "ignored") {
          this.counters.rejectedEntries++;
        }
        return;
      }
    }
  }

  localState(): Uint8Array {
    return encodeFullState(this.store.all());
  }

  mergeRemoteState(state: Uint8Array): void {
    const decoded = decodeStateMessage(state);
    if (decoded.kind === "foreign") return void this.counters.foreignMessages++;
    if (decoded.kind !== "full") return void this.counters.malformedMessages++;
    this.counters.fullStatesMerged++;
    this.counters.rejectedEntries += decoded.malformed;
    const changed: string[] = [];
    const nowMs = this.now();
    for (const entry of decoded.entries) {
      const result = this.store.merge(nowMs, entry);
      if (result === "applied") changed.push(entry.key);
      else if (result !== "ignored") this.counters.rejectedEntries++;
    }
    this.notify(changed);
  }
}
