// Crash durability of the SQLite Raft storage with real processes and real
// kill -9: the driver (test/support/raft-crash-driver.ts) runs a one-node Raft
// group on a database file and prints an ACK for every entry it applies after
// persistReady; this test kills it with SIGKILL after a random delay (some
// kills land while it starts, opens and recovers the file, most while it
// appends, snapshots and compacts), restarts it on the same file, and repeats.
// After every kill it checks a copy of the files the dead process left:
// the log has no gaps; every acknowledged entry is still at its index with
// the same term and data; an entry once seen never changes (one node never
// truncates its own synced log); entries that compaction removed are covered
// by the snapshot, whose hash chain must match the chain recomputed from
// what was acknowledged and seen. The check runs on a copy so that the next
// driver recovers the very WAL the kill left behind.
//
// A second test runs a deliberately broken driver that never syncs its
// Readies (so it acknowledges entries that are not durable) and demands that
// the checks catch it. A kill -9 cannot catch a node that merely acknowledges
// before its fsync returns: the data it wrote sits in the kernel's page cache,
// which outlives the process; only losing power (or the machine) loses it.
//
// The kill delays come from a seeded Prng; the seed is printed and
// SEED=<n> replays the same delays (the process timing itself is not
// reproducible). RAFT_CRASH_CYCLES=<n> changes the number of kill cycles.

import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRaftStorage } from "../../src/adapters/raft-sqlite.ts";
import { Prng } from "../../src/lib/prng.ts";
import { type MachineImage, chainStart, nextChain, sha256Hex } from "../support/raft-crash-driver.ts";

const driverPath = join(import.meta.dir, "../support/raft-crash-driver.ts");
const directory = mkdtempSync(join(tmpdir(), "constellation-raft-crash-"));
const cycles = Number(process.env.RAFT_CRASH_CYCLES ?? "40");
/** Kill cycles allowed for the broken driver to be caught; any kill after its first ACK and before its first snapshot catches it. */
const brokenCyclesMax = 20;
/** The delay before the kill, from spawn: the driver needs about 250 ms to start on a loaded machine. */
const killDelayMinMs = 0;
const killDelayMaxMs = 700;
/** A driver that outlives this is stuck; it stops itself at the same bound. */
const driverRunSecondsMax = 30;
/** Entry bytes per page when the check reads the log back. */
const checkPageBytes = 256 * 1024;
const live = new Set<ReturnType<typeof Bun.spawn>>();
const decoder = new TextDecoder();

afterAll(() => {
  for (const child of live) child.kill("SIGKILL");
  rmSync(directory, { recursive: true, force: true });
});

function chooseSeed(): number {
  const fromEnv = process.env.SEED;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isSafeInteger(seed)) throw new Error(`SEED must be an integer, got "${fromEnv}"`);
    return seed;
  }
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/** A broken promise found in the files or the output; thrown, never caught by the checks themselves. */
class CrashCheckFailure extends Error {
  override name = "CrashCheckFailure";
}

function check(condition: boolean, message: () => string): void {
  if (!condition) throw new CrashCheckFailure(message());
}

/** What the test knows of one log position: from an ACK or from the file after a kill. */
interface KnownEntry {
  term: number;
  dataSha: string;
  source: string;
}

class Knowledge {
  readonly entries = new Map<number, KnownEntry>();
  readonly acked = new Set<number>();
  /** chains[i] is the chain after entry i, computed as far as entries are known without a hole. */
  private readonly chains: string[] = [chainStart];

  learn(index: number, term: number, dataSha: string, source: string, acked: boolean): void {
    const known = this.entries.get(index);
    check(
      !known || (known.term === term && known.dataSha === dataSha),
      () => `entry ${index}: ${source} says term ${term} data ${dataSha}, but ${known?.source} said term ${known?.term} data ${known?.dataSha}`,
    );
    if (!known) this.entries.set(index, { term, dataSha, source });
    if (acked) this.acked.add(index);
  }

  chainThrough(index: number): string {
    while (this.chains.length <= index) {
      const at = this.chains.length;
      const known = this.entries.get(at);
      check(known !== undefined, () => `the snapshot covers entry ${at}, which was neither acknowledged nor ever seen in the log`);
      this.chains.push(nextChain(this.chains[at - 1]!, at, known!.term, known!.dataSha));
    }
    return this.chains[index]!;
  }
}

/** One database file, the driver's flags, and everything learnt about the file so far. */
interface CrashRun {
  databasePath: string;
  driverFlags: string[];
  knowledge: Knowledge;
}

function newRun(name: string, driverFlags: string[]): CrashRun {
  const runDirectory = join(directory, name);
  mkdirSync(runDirectory);
  return { databasePath: join(runDirectory, "raft.db"), driverFlags, knowledge: new Knowledge() };
}

interface RunOutcome {
  acks: number;
  started: boolean;
}

/** Starts the driver, kills it with SIGKILL after `delayMs`, and learns every ACK it printed. */
async function runAndKill(run: CrashRun, seed: number, delayMs: number, cycle: number): Promise<RunOutcome> {
  const args = [driverPath, run.databasePath, "--seed", String(seed), "--max-seconds", String(driverRunSecondsMax), ...run.driverFlags];
  const child = Bun.spawn([process.execPath, ...args], { stdout: "pipe", stderr: "pipe" });
  live.add(child);
  const stdout = new Response(child.stdout).text();
  const stderr = new Response(child.stderr).text();
  // The delay is the fault being injected (a kill at a random moment), not a
  // wait for something to happen.
  await Bun.sleep(delayMs);
  child.kill("SIGKILL");
  await child.exited;
  live.delete(child);
  const [out, err] = await Promise.all([stdout, stderr]);
  if (child.signalCode !== "SIGKILL") {
    throw new Error(`cycle ${cycle}: the driver exited by itself (code ${child.exitCode}) before the kill:\n${err}\n${out.slice(-2000)}`);
  }
  // Only complete lines count: a kill in the middle of a write leaves a
  // partial last line, which promised nothing.
  const lines = out.split("\n").slice(0, -1);
  let acks = 0;
  for (const line of lines) {
    const ack = /^ACK (\d+) (\d+) ([0-9a-f]{64})$/.exec(line);
    if (ack) {
      run.knowledge.learn(Number(ack[1]), Number(ack[2]), ack[3]!, `the ACK in cycle ${cycle}`, true);
      acks++;
    } else if (!/^(START \d+ \d+ \d+|SNAPSHOT \d+)$/.test(line)) {
      throw new Error(`cycle ${cycle}: unexpected driver output "${line}"`);
    }
  }
  return { acks, started: lines.some((line) => line.startsWith("START ")) };
}

/** Copies the database and the WAL the dead driver left, so checking cannot change what the next run recovers. */
function copyFiles(run: CrashRun, cycle: number): string {
  const copyDirectory = join(directory, `check-${cycle}`);
  mkdirSync(copyDirectory);
  const copy = join(copyDirectory, "raft.db");
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    if (existsSync(run.databasePath + suffix)) copyFileSync(run.databasePath + suffix, copy + suffix);
  }
  return copy;
}

interface FileSummary {
  firstIndex: number;
  lastIndex: number;
  snapshotIndex: number;
}

/** Every check that the files left by a killed driver must pass. */
function checkFiles(run: CrashRun, cycle: number): FileSummary {
  const copy = copyFiles(run, cycle);
  try {
    const summary = checkThroughAdapter(copy, cycle, run.knowledge);
    checkRawContiguity(copy, cycle);
    return summary;
  } finally {
    rmSync(join(copy, ".."), { recursive: true, force: true });
  }
}

function checkThroughAdapter(copy: string, cycle: number, knowledge: Knowledge): FileSummary {
  const opened = SqliteRaftStorage.open(copy);
  if (!opened.ok) throw new CrashCheckFailure(`cycle ${cycle}: ${opened.error.message}`);
  const storage = opened.storage;
  try {
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    const snapshot = storage.snapshot();
    const commit = storage.hardState().commit;
    check(commit <= lastIndex, () => `cycle ${cycle}: commit ${commit} is past the last index ${lastIndex}`);
    // Every entry held, read back through the adapter in bounded pages.
    let previousNumber: number | undefined;
    for (let next = firstIndex; next <= lastIndex; ) {
      for (const entry of storage.entries(next, lastIndex + 1, checkPageBytes)) {
        check(entry.index === next, () => `cycle ${cycle}: entries() returned ${entry.index} where ${next} was expected`);
        knowledge.learn(entry.index, entry.term, sha256Hex(entry.data), `the file after cycle ${cycle}`, false);
        if (entry.kind === "normal") {
          const number = Number(/^entry-(\d+)$/.exec(decoder.decode(entry.data))?.[1]);
          check(previousNumber === undefined || number === previousNumber + 1, () => `cycle ${cycle}: entry ${entry.index} holds entry-${number} after entry-${previousNumber}`);
          previousNumber = number;
        }
        next++;
      }
    }
    // Every acknowledged entry is held, or compacted under the snapshot.
    for (const index of knowledge.acked) {
      check(index <= lastIndex, () => `cycle ${cycle}: acknowledged entry ${index} is lost: the log ends at ${lastIndex}`);
      check(index >= firstIndex || index <= snapshot.meta.index, () => `cycle ${cycle}: acknowledged entry ${index} was compacted but the snapshot ends at ${snapshot.meta.index}`);
    }
    if (snapshot.meta.index > 0) {
      const image = JSON.parse(decoder.decode(snapshot.data)) as MachineImage;
      const known = knowledge.entries.get(snapshot.meta.index);
      check(image.index === snapshot.meta.index, () => `cycle ${cycle}: the snapshot at ${snapshot.meta.index} holds a machine at ${image.index}`);
      check(known?.term === snapshot.meta.term, () => `cycle ${cycle}: the snapshot at ${snapshot.meta.index} has term ${snapshot.meta.term}, the entry had ${known?.term}`);
      check(image.chain === knowledge.chainThrough(snapshot.meta.index), () => `cycle ${cycle}: the snapshot at ${snapshot.meta.index} disagrees with the acknowledged entries`);
    }
    return { firstIndex, lastIndex, snapshotIndex: snapshot.meta.index };
  } finally {
    storage.close();
  }
}

/** The same no-gap property read with plain SQL, independently of the adapter's own checks. */
function checkRawContiguity(copy: string, cycle: number): void {
  const db = new Database(copy, { readwrite: true });
  try {
    const bounds = db.query<{ compacted_index: number }, []>("SELECT compacted_index FROM raft_log_bounds").get();
    const indexes = db.query<{ log_index: number }, []>("SELECT log_index FROM raft_log ORDER BY log_index").all();
    let expected = (bounds?.compacted_index ?? -1) + 1;
    for (const { log_index } of indexes) {
      check(log_index === expected, () => `cycle ${cycle}: raw read finds entry ${log_index} where ${expected} was expected`);
      expected++;
    }
  } finally {
    db.close();
  }
}

interface CycleStats {
  killedBeforeStart: number;
  killedBeforeFirstAck: number;
  snapshotChanges: number;
  summary: FileSummary;
}

/** Kill, check, restart, `count` times; throws at the first broken promise. */
async function crashCycles(run: CrashRun, prng: Prng, count: number): Promise<CycleStats> {
  const stats: CycleStats = { killedBeforeStart: 0, killedBeforeFirstAck: 0, snapshotChanges: 0, summary: { firstIndex: 1, lastIndex: 0, snapshotIndex: 0 } };
  for (let cycle = 1; cycle <= count; cycle++) {
    const delayMs = prng.intBetween(killDelayMinMs, killDelayMaxMs);
    const outcome = await runAndKill(run, prng.nextU32(), delayMs, cycle);
    if (!outcome.started) stats.killedBeforeStart++;
    else if (outcome.acks === 0) stats.killedBeforeFirstAck++;
    const previous = stats.summary;
    stats.summary = checkFiles(run, cycle);
    check(stats.summary.snapshotIndex >= previous.snapshotIndex, () => `cycle ${cycle}: the snapshot went back from ${previous.snapshotIndex} to ${stats.summary.snapshotIndex}`);
    if (stats.summary.snapshotIndex !== previous.snapshotIndex) stats.snapshotChanges++;
  }
  return stats;
}

test(
  `SIGKILL at random moments never loses an acknowledged entry (${cycles} kill cycles)`,
  async () => {
    const seed = chooseSeed();
    console.log(`raft crash test: SEED=${seed} cycles=${cycles}`);
    const run = newRun("durable", []);
    const startedMs = performance.now();
    let stats: CycleStats;
    try {
      stats = await crashCycles(run, new Prng(seed), cycles);
    } catch (error) {
      console.error(`raft crash test failed. Replay the kill delays with:\n  SEED=${seed} bun test test/integration/raft-crash.test.ts`);
      throw error;
    }
    const seconds = ((performance.now() - startedMs) / 1000).toFixed(1);
    const { summary } = stats;
    console.log(
      `raft crash test: ${cycles} kills in ${seconds} s; ${stats.killedBeforeStart} before the file was open, ${stats.killedBeforeFirstAck} before the first ACK; ` +
        `${run.knowledge.acked.size} entries acknowledged, log (${summary.firstIndex - 1}, ${summary.lastIndex}], snapshot at ${summary.snapshotIndex} (moved in ${stats.snapshotChanges} cycles)`,
    );
    // The run must have exercised something: many acknowledged entries and
    // snapshots with compaction, not just kills during start-up.
    expect(run.knowledge.acked.size).toBeGreaterThan(cycles * 10);
    expect(summary.snapshotIndex).toBeGreaterThan(0);
    expect(summary.firstIndex).toBeGreaterThan(1);
  },
  120_000,
);

test(
  "the checks catch a node that acknowledges entries it never synced",
  async () => {
    const seed = chooseSeed();
    console.log(`raft crash test (broken node): SEED=${seed}`);
    const run = newRun("broken", ["--skip-sync"]);
    let caught: unknown;
    try {
      await crashCycles(run, new Prng(seed), brokenCyclesMax);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CrashCheckFailure);
    console.log(`raft crash test (broken node) caught: ${(caught as Error).message}`);
  },
  120_000,
);
