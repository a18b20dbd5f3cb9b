// RaftStorage on a simulated disk. Every write goes to the SimDisk as well as
// to the in-memory view (MemoryStorage); sync() makes the disk's writes
// durable, and a crash loses whatever was not synced. A restarted node opens
// a new SimDiskStorage from what the disk kept, exactly as the SQLite storage
// will reopen its database file.

import { assert } from "../../../src/lib/assert.ts";
import { decodeBase64, encodeBase64 } from "../../../src/raft/base64.ts";
import { MemoryStorage } from "../../../src/raft/memory-storage.ts";
import type { ConfState, Entry, HardState, Snapshot, SnapshotMeta } from "../../../src/raft/types.ts";
import type { SimDisk } from "../cluster.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const hardKey = "raft/hard";
const compactedKey = "raft/compacted";
const snapshotMetaKey = "raft/snapshot/meta";
const snapshotDataKey = "raft/snapshot/data";
const entryKey = (index: number): string => `raft/log/${String(index).padStart(12, "0")}`;

function writeJson(disk: SimDisk, key: string, value: unknown): void {
  disk.write(key, encoder.encode(JSON.stringify(value)));
}

function readJson<T>(disk: SimDisk, key: string): T | undefined {
  const bytes = disk.read(key);
  return bytes ? (JSON.parse(decoder.decode(bytes)) as T) : undefined;
}

interface StoredEntry {
  index: number;
  term: number;
  kind: Entry["kind"];
  data: string;
}

export class SimDiskStorage extends MemoryStorage {
  private constructor(private readonly disk: SimDisk) {
    super();
  }

  /** Open the storage that `disk` holds (empty on a fresh disk). */
  static open(disk: SimDisk): SimDiskStorage {
    const storage = new SimDiskStorage(disk);
    storage.load();
    return storage;
  }

  private load(): void {
    this.hard = readJson<HardState>(this.disk, hardKey) ?? this.hard;
    const meta = readJson<SnapshotMeta>(this.disk, snapshotMetaKey);
    if (meta) this.snap = { meta, data: this.disk.read(snapshotDataKey) ?? new Uint8Array(0) };
    const compacted = readJson<{ index: number; term: number }>(this.disk, compactedKey);
    if (compacted) {
      this.compactedIndex = compacted.index;
      this.compactedTerm = compacted.term;
    }
    const entries: Entry[] = [];
    for (let index = this.compactedIndex + 1; ; index++) {
      const stored = readJson<StoredEntry>(this.disk, entryKey(index));
      if (!stored) break;
      const data = decodeBase64(stored.data);
      assert(data, `entry ${index} on disk is corrupt`);
      entries.push({ index: stored.index, term: stored.term, kind: stored.kind, data });
    }
    this.log = entries;
  }

  override append(entries: readonly Entry[]): void {
    const lastBefore = this.lastIndex();
    super.append(entries);
    for (const entry of entries) {
      writeJson(this.disk, entryKey(entry.index), { index: entry.index, term: entry.term, kind: entry.kind, data: encodeBase64(entry.data) });
    }
    for (let index = this.lastIndex() + 1; index <= lastBefore; index++) this.disk.remove(entryKey(index));
  }

  override setHardState(hardState: HardState): void {
    super.setHardState(hardState);
    writeJson(this.disk, hardKey, hardState);
  }

  override applySnapshot(snapshot: Snapshot): void {
    const [firstBefore, lastBefore] = [this.firstIndex(), this.lastIndex()];
    super.applySnapshot(snapshot);
    this.writeSnapshot();
    for (let index = firstBefore; index <= lastBefore; index++) this.disk.remove(entryKey(index));
    writeJson(this.disk, compactedKey, { index: this.compactedIndex, term: this.compactedTerm });
  }

  override createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    const snapshot = super.createSnapshot(index, conf, data);
    this.writeSnapshot();
    return snapshot;
  }

  override compact(index: number): void {
    const firstBefore = this.firstIndex();
    super.compact(index);
    for (let removed = firstBefore; removed < this.firstIndex(); removed++) this.disk.remove(entryKey(removed));
    writeJson(this.disk, compactedKey, { index: this.compactedIndex, term: this.compactedTerm });
  }

  override sync(): void {
    super.sync();
    this.disk.sync();
  }

  private writeSnapshot(): void {
    writeJson(this.disk, snapshotMetaKey, this.snap.meta);
    this.disk.write(snapshotDataKey, this.snap.data);
  }
}
