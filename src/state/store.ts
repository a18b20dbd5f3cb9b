// The replicated cluster state: owner-versioned entries with tombstones,
// merged by "highest owner version wins". Pure and deterministic.
//
// Every entry is authored by one node (its owner), named in its key:
// "node/<owner>", "svc/<service>@<owner>" (how the instance is reached),
// "health/<service>@<owner>" (its health, which changes often and travels
// as a small message), "warp/<owner>". Its version is
// (epoch, counter): the epoch is the owner's start incarnation, which grows
// across restarts (see the gossip incarnation), and the counter grows with
// each write within an epoch. So an owner's newest write wins everywhere,
// and what it wrote before a restart can never win over what it writes
// after. No receiver's clock takes part in any decision.
//
// Deletions are tombstones that are kept for `tombstoneMs` and then
// collected. Two rules keep deleted things from coming back:
// - when an owner starts a new epoch, every entry of its older epochs is
//   dropped (the owner republishes what still exists), so a stale replica
//   can never resurrect pre-restart entries;
// - members that gossip declares dead or left are excluded from every view
//   at once, and their entries are collected after `deadOwnerRetentionMs`.
// What remains possible: a peer cut off for longer than `tombstoneMs` may
// bring back an entry its owner deleted within the same epoch, until the
// owner's next write of that key or its next restart. The default keeps
// tombstones for an hour.

import { Value } from "@sinclair/typebox/value";
import { assert } from "../lib/assert.ts";
import {
  NodeMetadata,
  ServiceSpec,
  ServiceState,
  WARPHealth,
  joinServiceHealth,
  type ClusterView,
} from "./model.ts";

export interface Version {
  epoch: number;
  counter: number;
}

export type EntryKind = "node" | "svc" | "health" | "warp";

export type EntryValue = NodeMetadata | ServiceSpec | ServiceState | WARPHealth;

export interface Entry {
  key: string;
  owner: string;
  version: Version;
  /** undefined for a tombstone. */
  value: EntryValue | undefined;
  /** Local time the entry arrived or was written (for tombstone collection only). */
  storedAtMs: number;
}

export function compareVersions(a: Version, b: Version): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.counter - b.counter;
}

/** Parses a key into kind and owner; undefined for a malformed key. */
export function parseKey(key: string): { kind: EntryKind; owner: string; service?: string } | undefined {
  if (key.length > 200) return undefined;
  const slash = key.indexOf("/");
  const kind = key.slice(0, slash);
  const rest = key.slice(slash + 1);
  if (kind === "node" || kind === "warp") return rest === "" ? undefined : { kind, owner: rest };
  if (kind !== "svc" && kind !== "health") return undefined;
  const at = rest.lastIndexOf("@");
  if (at <= 0 || at === rest.length - 1) return undefined;
  return { kind, owner: rest.slice(at + 1), service: rest.slice(0, at) };
}

export function serviceKey(service: string, node: string): string {
  return `svc/${service}@${node}`;
}

export function healthKey(service: string, node: string): string {
  return `health/${service}@${node}`;
}

/** Why a remote entry was refused, for counters and logs. */
export type Rejection = "malformed-key" | "owner-mismatch" | "invalid-value" | "stale";

export interface StoreOptions {
  tombstoneMs: number;
  deadOwnerRetentionMs: number;
  /** Bound on entries (live and tombstones); beyond it new keys are refused. */
  entriesMax: number;
}

export const storeDefaults: StoreOptions = {
  tombstoneMs: 3_600_000,
  deadOwnerRetentionMs: 3_600_000,
  entriesMax: 200_000,
};

export class StateStore {
  private readonly entries = new Map<string, Entry>();
  /** The newest epoch seen per owner: entries of older epochs are dropped. */
  private readonly epochs = new Map<string, number>();
  private localCounter = 0;
  private changes = 0;
  readonly rejected: Record<Rejection | "full", number> = { "malformed-key": 0, "owner-mismatch": 0, "invalid-value": 0, stale: 0, full: 0 };

  constructor(
    readonly self: string,
    readonly epoch: number,
    private readonly options: StoreOptions = storeDefaults,
  ) {
    assert(Number.isSafeInteger(epoch) && epoch >= 0, "epoch must be a non-negative integer");
    this.epochs.set(self, epoch);
  }

  get size(): number {
    return this.entries.size;
  }

  get changeCount(): number {
    return this.changes;
  }

  get(key: string): Entry | undefined {
    return this.entries.get(key);
  }

  all(): Entry[] {
    return [...this.entries.values()];
  }

  /** Write (or with undefined, delete) one of this node's own entries; returns the new entry. */
  writeLocal(nowMs: number, key: string, value: Entry["value"]): Entry {
    const parsed = parseKey(key);
    assert(parsed !== undefined && parsed.owner === this.self, `key ${key} is not owned by ${this.self}`);
    const existing = this.entries.get(key);
    if (value === undefined && (!existing || existing.value === undefined)) return existing ?? this.tombstoneFor(nowMs, key);
    this.localCounter++;
    const entry: Entry = { key, owner: this.self, version: { epoch: this.epoch, counter: this.localCounter }, value, storedAtMs: nowMs };
    this.entries.set(key, entry);
    this.changes++;
    return entry;
  }

  private tombstoneFor(nowMs: number, key: string): Entry {
    return { key, owner: this.self, version: { epoch: this.epoch, counter: this.localCounter }, value: undefined, storedAtMs: nowMs };
  }

  /**
   * Merge an entry from a peer. Returns "applied" when it was newer and is
   * now stored, "ignored" when ours was as new, or why it was rejected.
   */
  merge(nowMs: number, entry: Omit<Entry, "storedAtMs">): "applied" | "ignored" | Rejection | "full" {
    const existing = this.entries.get(entry.key);
    // Most entries in a push/pull are already known: settle those before any parsing or validation.
    if (existing && existing.owner === entry.owner && compareVersions(entry.version, existing.version) <= 0) return "ignored";
    const parsed = parseKey(entry.key);
    if (!parsed) return this.reject("malformed-key");
    if (parsed.owner !== entry.owner) return this.reject("owner-mismatch");
    // Our own entries are written only here; a copy from a peer is at best an echo.
    if (entry.owner === this.self) {
      return compareVersions(entry.version, { epoch: this.epoch, counter: this.localCounter }) > 0 ? this.adoptFuture(entry) : "ignored";
    }
    const knownEpoch = this.epochs.get(entry.owner) ?? -1;
    if (entry.version.epoch < knownEpoch) return this.reject("stale");
    if (entry.value !== undefined && !this.validValue(parsed.kind, parsed.owner, parsed.service, entry.value)) {
      return this.reject("invalid-value");
    }
    if (!existing && this.entries.size >= this.options.entriesMax) return this.reject("full");
    if (entry.version.epoch > knownEpoch) this.startEpoch(entry.owner, entry.version.epoch);
    this.entries.set(entry.key, { ...entry, storedAtMs: nowMs });
    this.changes++;
    return "applied";
  }

  /**
   * A peer holds a version of our own entry newer than anything we know: we
   * restarted and lost our counter (same epoch is impossible after a restart,
   * since the epoch grows). Keep our counter ahead so our next write wins.
   */
  private adoptFuture(entry: Omit<Entry, "storedAtMs">): "ignored" {
    if (entry.version.epoch === this.epoch) this.localCounter = Math.max(this.localCounter, entry.version.counter);
    return "ignored";
  }

  /** An owner restarted: everything from its earlier epochs is gone. */
  private startEpoch(owner: string, epoch: number): void {
    const firstSeen = !this.epochs.has(owner);
    this.epochs.set(owner, epoch);
    // Entries are stored only after their owner's epoch is recorded, so an
    // owner seen for the first time has none to drop: skip the scan, which
    // would otherwise cost the whole store once per owner as a cluster forms.
    if (firstSeen) return;
    for (const [key, existing] of this.entries) {
      if (existing.owner === owner && existing.version.epoch < epoch) {
        this.entries.delete(key);
        this.changes++;
      }
    }
  }

  private validValue(kind: EntryKind, owner: string, service: string | undefined, value: unknown): boolean {
    switch (kind) {
      case "node":
        return Value.Check(NodeMetadata, value) && value.name === owner;
      case "svc":
        return Value.Check(ServiceSpec, value) && value.node_name === owner && value.service_name === service;
      case "health":
        return Value.Check(ServiceState, value);
      case "warp":
        return Value.Check(WARPHealth, value) && value.node_name === owner;
    }
  }

  private reject(reason: Rejection | "full"): Rejection | "full" {
    this.rejected[reason]++;
    return reason;
  }

  /**
   * Collect tombstones older than tombstoneMs and the entries of owners that
   * gossip has held dead or left for longer than deadOwnerRetentionMs.
   * Returns the keys removed.
   */
  collect(nowMs: number, goneSinceMs: (owner: string) => number | undefined): string[] {
    const removed: string[] = [];
    for (const [key, entry] of this.entries) {
      const tombstoneExpired = entry.value === undefined && nowMs - entry.storedAtMs > this.options.tombstoneMs;
      const goneAt = entry.owner === this.self ? undefined : goneSinceMs(entry.owner);
      const ownerExpired = goneAt !== undefined && nowMs - goneAt > this.options.deadOwnerRetentionMs;
      if (tombstoneExpired || ownerExpired) {
        this.entries.delete(key);
        this.changes++;
        removed.push(key);
      }
    }
    return removed;
  }

  /** Live entries of live owners, as the rest of the agent reads them. */
  view(isLive: (owner: string) => boolean): ClusterView {
    const view: ClusterView = { nodes: {}, service_health: {}, warp_health: {}, version: this.changes };
    const keys = [...this.entries.keys()].sort();
    for (const key of keys) {
      const entry = this.entries.get(key)!;
      if (entry.value === undefined || !isLive(entry.owner)) continue;
      const parsed = parseKey(key)!;
      switch (parsed.kind) {
        case "node":
          view.nodes[entry.owner] = entry.value as NodeMetadata;
          break;
        case "svc": {
          // An instance is listed once both halves are known.
          const state = this.entries.get(healthKey(parsed.service!, entry.owner))?.value;
          if (state !== undefined) {
            view.service_health[`${parsed.service}@${entry.owner}`] = joinServiceHealth(entry.value as ServiceSpec, state as ServiceState);
          }
          break;
        }
        case "health":
          break;
        case "warp":
          view.warp_health[entry.owner] = entry.value as WARPHealth;
          break;
      }
    }
    return view;
  }

  /** A hash of every entry's key, version and tombstone flag: equal on replicas that agree. */
  digest(): string {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    const keys = [...this.entries.keys()].sort();
    for (const key of keys) {
      const entry = this.entries.get(key)!;
      const line = `${key}|${entry.version.epoch}|${entry.version.counter}|${entry.value === undefined ? "x" : "v"}\n`;
      for (let i = 0; i < line.length; i++) {
        const c = line.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193) >>> 0;
        b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
      }
    }
    return `${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}`;
  }
}
