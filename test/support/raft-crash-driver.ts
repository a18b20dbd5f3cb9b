// A one-node Raft group on SqliteRaftStorage, run as its own process by
// test/integration/raft-crash.test.ts, which kills it with SIGKILL at random
// moments and restarts it on the same file. It bootstraps an empty file,
// elects itself, and proposes a continuous stream of entries "entry-<n>"
// (n counts up by one along the log, across restarts). For every entry it
// applies, of any kind, it prints "ACK <index> <term> <sha256 of data, hex>",
// only after the Ready that committed the entry was persisted and synced
// (persistReady), so every ACK is a promise the file must keep. Every few
// hundred entries it snapshots and compacts the log, so that kills also land
// in those writes. Its state machine is a hash chain over every applied entry
// (index, term, data hash), which the snapshot carries: the test recomputes
// the chain from the ACKs to check the entries that compaction removed.
//
//   bun test/support/raft-crash-driver.ts <database file> [--seed <n>] [--max-seconds <s>] [--skip-sync]
//
// --skip-sync makes a deliberately broken node that writes each Ready but
// never calls sync() for it (only snapshots are synced), so it acknowledges
// entries that are not durable: the crash test must catch it.
//
// Other output: "START <firstIndex> <lastIndex> <snapshotIndex>" once the file
// is open, "SNAPSHOT <index>" after a synced snapshot. Exit code 2: the file
// could not be opened; 3: the log broke an invariant (message on stderr).

import { writeSync } from "node:fs";
import { SqliteRaftStorage } from "../../src/adapters/raft-sqlite.ts";
import { Prng } from "../../src/lib/prng.ts";
import { type Entry, type Ready, RawNode, bootstrapStorage, persistReady } from "../../src/raft/index.ts";

export const nodeId = "n1";
/** The chain value before entry 1. */
export const chainStart = "0".repeat(64);
/** Proposals per batch are drawn from [1, proposalBatchMax]. */
const proposalBatchMax = 24;
/** Entries applied between snapshots are drawn from [snapshotEveryMin, snapshotEveryMax]. */
const snapshotEveryMin = 100;
const snapshotEveryMax = 400;
/** Entries kept behind a snapshot are drawn from [0, keepAfterSnapshotMax]. */
const keepAfterSnapshotMax = 40;
/** Bytes of one stdout write; a Ready's ACK lines are written in one go when they fit. */
const outputChunkBytesMax = 64 * 1024;

/** What the state machine holds, and what a snapshot's data encodes (as JSON). */
export interface MachineImage {
  index: number;
  chain: string;
  lastNumber: number;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** The chain after applying an entry with this index, term and data hash. */
export function nextChain(chain: string, index: number, term: number, dataSha: string): string {
  return sha256Hex(`${chain} ${index} ${term} ${dataSha}`);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

/** Writes all of `text` to stdout before returning, so that a kill right after cannot lose it. */
function writeOut(text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(1, bytes, offset, Math.min(bytes.length - offset, outputChunkBytesMax));
    } catch (error) {
      // A non-blocking pipe that is full: wait for the reader. Anything else
      // (EPIPE: the test is gone) ends the driver.
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      Bun.sleepSync(1);
    }
  }
}

function die(message: string, code: number): never {
  writeSync(2, `raft-crash-driver: ${message}\n`);
  process.exit(code);
}

function main(): void {
  const path = process.argv[2];
  if (!path || path.startsWith("--")) die("usage: raft-crash-driver.ts <database file> [--seed <n>] [--max-seconds <s>] [--skip-sync]", 2);
  const prng = new Prng(Number(flag("seed", "1")));
  const deadlineMs = performance.now() + Number(flag("max-seconds", "60")) * 1000;
  const skipSync = process.argv.includes("--skip-sync");

  const opened = SqliteRaftStorage.open(path);
  if (!opened.ok) die(opened.error.message, 2);
  const storage = opened.storage;
  bootstrapStorage(storage, { voters: [nodeId], learners: [] }); // false (a no-op) when the file holds a log
  const snapshot = storage.snapshot();
  const machine: MachineImage =
    snapshot.meta.index > 0 ? (JSON.parse(decoder.decode(snapshot.data)) as MachineImage) : { index: 0, chain: chainStart, lastNumber: 0 };
  if (machine.index !== snapshot.meta.index) die(`snapshot at ${snapshot.meta.index} holds a machine at ${machine.index}`, 3);
  writeOut(`START ${storage.firstIndex()} ${storage.lastIndex()} ${snapshot.meta.index}\n`);

  const node = new RawNode({ id: nodeId, storage, prng: prng.fork(), electionTicks: 10, heartbeatTicks: 1, appliedIndex: machine.index });
  let nextSnapshotAt = machine.index + prng.intBetween(snapshotEveryMin, snapshotEveryMax);

  const apply = (entry: Entry): string => {
    if (entry.index !== machine.index + 1) die(`applied ${entry.index} after ${machine.index}`, 3);
    const dataSha = sha256Hex(entry.data);
    if (entry.kind === "normal") {
      const number = Number(/^entry-(\d+)$/.exec(decoder.decode(entry.data))?.[1]);
      if (number !== machine.lastNumber + 1) die(`entry ${entry.index} holds "${decoder.decode(entry.data)}", expected entry-${machine.lastNumber + 1}`, 3);
      machine.lastNumber = number;
    }
    machine.index = entry.index;
    machine.chain = nextChain(machine.chain, entry.index, entry.term, dataSha);
    return `ACK ${entry.index} ${entry.term} ${dataSha}\n`;
  };

  const handle = (ready: Ready): void => {
    if (skipSync) {
      if (ready.snapshot) storage.applySnapshot(ready.snapshot);
      storage.append(ready.entries);
      if (ready.hardState) storage.setHardState(ready.hardState);
    } else {
      persistReady(storage, ready); // write, then fsync: nothing below may happen before it returns
    }
    let acks = "";
    for (const entry of ready.committedEntries) acks += apply(entry);
    if (acks.length > 0) writeOut(acks);
    node.advance(ready);
  };

  node.campaign();
  while (performance.now() < deadlineMs) {
    while (node.hasReady()) handle(node.ready());
    const status = node.basicStatus();
    // Propose only when everything in the log is applied, so that the next
    // number follows the highest one the log holds, even after a restart.
    if (status.role === "leader" && status.applied === storage.lastIndex()) {
      const count = prng.intBetween(1, proposalBatchMax);
      const batch = Array.from({ length: count }, (_, i) => encoder.encode(`entry-${machine.lastNumber + 1 + i}`));
      const result = node.propose(batch);
      if (!result.ok) die(`proposal refused: ${JSON.stringify(result)}`, 3);
    } else if (status.role !== "leader" && !node.hasReady()) {
      die(`node is ${status.role} with nothing to do`, 3);
    }
    if (machine.index >= nextSnapshotAt) {
      storage.createSnapshot(machine.index, node.status().conf, encoder.encode(JSON.stringify(machine)));
      storage.compact(Math.max(storage.firstIndex() - 1, machine.index - prng.int(keepAfterSnapshotMax + 1)));
      storage.sync();
      writeOut(`SNAPSHOT ${machine.index}\n`);
      nextSnapshotAt = machine.index + prng.intBetween(snapshotEveryMin, snapshotEveryMax);
    }
  }
  storage.close();
}

if (import.meta.main) main();
