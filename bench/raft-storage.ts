// Throughput of the SQLite Raft storage for a leader appending batches: each
// step is what persistReady does for a Ready with new entries (append the
// batch, write the hard state, sync = one COMMIT with an fsync of the WAL),
// for several batch sizes. Baselines measured in the same run: a bare
// write + fdatasync loop on a plain file in the same directory (the disk's
// floor for one durable write) and MemoryStorage (no I/O at all; its append
// copies the whole log, so it slows down as the log grows). Also the
// cost of reads (entries() pages, term() lookups) and of opening a log.
//
//   npx bun bench/raft-storage.ts [--seconds 1] [--entry-bytes 256] [--batches 1,16,128,1024] [--dir /tmp]

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRaftStorage } from "../src/adapters/raft-sqlite.ts";
import { Prng } from "../src/lib/prng.ts";
import { type Entry, MemoryStorage, type RaftStorage } from "../src/raft/index.ts";

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const seconds = Number(flag("seconds", "1"));
const entryBytes = Number(flag("entry-bytes", "256"));
const batchSizes = flag("batches", "1,16,128,1024").split(",").map(Number);
const directory = mkdtempSync(join(flag("dir", tmpdir()), "constellation-raft-bench-"));
const payload = new Prng(1).fill(new Uint8Array(entryBytes));
let fileCount = 0;

function open(): SqliteRaftStorage {
  fileCount++;
  const result = SqliteRaftStorage.open(join(directory, `bench-${fileCount}.db`));
  if (!result.ok) throw new Error(result.error.message);
  return result.storage;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

interface Figures {
  steps: number;
  entries: number;
  elapsedMs: number;
  latenciesMs: number[];
}

/** Runs leader steps (append + hard state + sync) for `seconds`, batches of `batch` entries. */
function appendLoop(storage: RaftStorage, batch: number): Figures {
  const latenciesMs: number[] = [];
  let index = storage.lastIndex();
  const term = 1;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let now = started;
  while (now < deadline) {
    const entries: Entry[] = [];
    for (let i = 0; i < batch; i++) entries.push({ index: ++index, term, kind: "normal", data: payload });
    const stepStarted = now;
    storage.append(entries);
    storage.setHardState({ term, vote: "a", commit: index });
    storage.sync();
    now = performance.now();
    latenciesMs.push(now - stepStarted);
  }
  return { steps: latenciesMs.length, entries: index, elapsedMs: now - started, latenciesMs };
}

function row(name: string, figures: Figures): string {
  const sorted = [...figures.latenciesMs].sort((a, b) => a - b);
  const perSecond = (count: number): string => Math.round((count * 1000) / figures.elapsedMs).toLocaleString("en-US");
  const mibPerSecond = ((figures.entries * entryBytes * 1000) / figures.elapsedMs / (1024 * 1024)).toFixed(2);
  return [
    name.padEnd(34),
    perSecond(figures.steps).padStart(10),
    perSecond(figures.entries).padStart(12),
    mibPerSecond.padStart(8),
    percentile(sorted, 50).toFixed(3).padStart(9),
    percentile(sorted, 99).toFixed(3).padStart(9),
  ].join(" ");
}

/**
 * The floor: one durable 4 KiB write at a time on a plain file, always over
 * the same block so that no fdatasync has to journal a change of file size.
 */
function fsyncFloor(): Figures {
  const fd = openSync(join(directory, "floor.bin"), "w");
  const block = new Uint8Array(4096);
  const latenciesMs: number[] = [];
  const started = performance.now();
  let now = started;
  try {
    while (now < started + seconds * 1000) {
      const stepStarted = now;
      writeSync(fd, block, 0, block.length, 0);
      fdatasyncSync(fd);
      now = performance.now();
      latenciesMs.push(now - stepStarted);
    }
  } finally {
    closeSync(fd);
  }
  return { steps: latenciesMs.length, entries: 0, elapsedMs: now - started, latenciesMs };
}

function readFigures(storage: SqliteRaftStorage): string[] {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  let started = performance.now();
  let pages = 0;
  let entries = 0;
  while (performance.now() - started < seconds * 1000) {
    for (let next = first; next <= last; ) {
      const page = storage.entries(next, last + 1, 256 * 1024);
      next += page.length;
      entries += page.length;
      pages++;
    }
  }
  const readMs = performance.now() - started;
  const prng = new Prng(2);
  started = performance.now();
  let lookups = 0;
  while (performance.now() - started < seconds * 1000) {
    for (let i = 0; i < 1000; i++) storage.term(first + prng.int(last - first));
    lookups += 1000;
  }
  const termMs = performance.now() - started;
  return [
    `entries() in 256 KiB pages: ${Math.round((entries * 1000) / readMs).toLocaleString("en-US")} entries/s (${Math.round((pages * 1000) / readMs).toLocaleString("en-US")} pages/s)`,
    `term() of a random held entry: ${Math.round((lookups * 1000) / termMs).toLocaleString("en-US")} lookups/s`,
  ];
}

function main(): void {
  console.log(`Raft storage: ${entryBytes}-byte entries, ${seconds} s per row, files in ${directory}`);
  console.log(`${"".padEnd(34)} ${"steps/s".padStart(10)} ${"entries/s".padStart(12)} ${"MiB/s".padStart(8)} ${"p50 ms".padStart(9)} ${"p99 ms".padStart(9)}`);
  console.log(row("floor: pwrite 4 KiB + fdatasync", fsyncFloor()));
  let largest: SqliteRaftStorage | undefined;
  for (const batch of batchSizes) {
    console.log(row(`MemoryStorage, batch ${batch}`, appendLoop(new MemoryStorage(), batch)));
    const storage = open();
    console.log(row(`SqliteRaftStorage, batch ${batch}`, appendLoop(storage, batch)));
    largest?.close();
    largest = storage;
  }
  if (!largest) return;
  const entriesHeld = largest.lastIndex();
  console.log("");
  for (const line of readFigures(largest)) console.log(line);
  const path = largest.path;
  largest.close();
  const openStarted = performance.now();
  const reopened = SqliteRaftStorage.open(path);
  const openMs = performance.now() - openStarted;
  if (!reopened.ok) throw new Error(reopened.error.message);
  reopened.storage.close();
  console.log(`open with quick_check, ${entriesHeld.toLocaleString("en-US")} entries: ${openMs.toFixed(1)} ms`);
}

try {
  main();
} finally {
  rmSync(directory, { recursive: true, force: true });
}
