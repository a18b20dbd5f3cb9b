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
import { healthKey, serviceKey, type Entry, type StateStore } from "./store.ts";
import type { ServiceHealth, ServiceSpec, ServiceState } from "./model.ts";

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
  private cachedState: { changeCount: number; bytes: Uint8Array } | undefined;
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

  /**
   * Publish one of this node's service instances. The spec (endpoints,
   * networks, labels) is written only when it changed; the small health
   * record whenever status or failure count changed.
   */
  publishService(health: ServiceHealth): void {
    const spec: ServiceSpec = {
      service_name: health.service_name,
      node_name: health.node_name,
      endpoints: health.endpoints,
      networks: health.networks,
    };
    if (health.labels !== undefined) spec.labels = health.labels;
    const state: ServiceState = {
      status: health.status,
      consecutive_failures: health.consecutive_failures,
      checked_at_ms: Date.parse(health.checked_at) || 0,
    };
    if (health.last_success_time !== undefined) state.last_success_ms = Date.parse(health.last_success_time) || 0;
    if (health.last_failure_time !== undefined) state.last_failure_ms = Date.parse(health.last_failure_time) || 0;
    const specKey = serviceKey(health.service_name, health.node_name);
    const stateKey = healthKey(health.service_name, health.node_name);
    if (JSON.stringify(this.store.get(specKey)?.value) !== JSON.stringify(spec)) this.publish(specKey, spec);
    const previous = this.store.get(stateKey)?.value as ServiceState | undefined;
    if (!previous || previous.status !== state.status || previous.consecutive_failures !== state.consecutive_failures) {
      this.publish(stateKey, state);
    }
  }

  /** Withdraw one of this node's service instances (both halves become tombstones). */
  removeService(service: string, node: string): void {
    this.publish(healthKey(service, node), undefined);
    this.publish(serviceKey(service, node), undefined);
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

  /** The encoded store, reused until the store changes (push/pull asks for it often). */
  localState(): Uint8Array {
    if (this.cachedState?.changeCount !== this.store.changeCount) {
      this.cachedState = { changeCount: this.store.changeCount, bytes: encodeFullState(this.store.all()) };
    }
    return this.cachedState.bytes;
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
