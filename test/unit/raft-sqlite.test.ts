// The SQLite Raft storage: the shared storage contract (with reopen = close
// and open the same file, and crash = close without syncing, which discards
// exactly what a killed process would lose), restoring everything after
// snapshots and compaction, and refusing damaged or foreign files with an
// error that names the file. The crash test with real processes and kill -9
// is test/integration/raft-crash.test.ts.

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type SqliteRaftOpenErrorKind,
  SqliteRaftStorage,
  SqliteRaftStorageError,
  raftSchemaVersion,
} from "../../src/adapters/raft-sqlite.ts";
import { AssertionError } from "../../src/lib/assert.ts";
import { Prng } from "../../src/lib/prng.ts";
import { type Entry, MemoryStorage, RawNode, bootstrapStorage, entryBytesMax, persistReady } from "../../src/raft/index.ts";
import { describeStorageContract, entry } from "../sim/raft/storage-contract.ts";

const directory = mkdtempSync(join(tmpdir(), "constellation-raft-sqlite-"));
const opened: SqliteRaftStorage[] = [];
let fileCount = 0;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const conf = { voters: ["a", "b", "c"], learners: ["d"] };

afterAll(() => {
  for (const storage of opened) storage.close();
  rmSync(directory, { recursive: true, force: true });
});

function freshPath(): string {
  fileCount++;
  return join(directory, `raft-${fileCount}.db`);
}

function openOk(path: string): SqliteRaftStorage {
  const result = SqliteRaftStorage.open(path);
  if (!result.ok) throw new Error(result.error.message);
  opened.push(result.storage);
  return result.storage;
}

function openFails(path: string, kind: SqliteRaftOpenErrorKind): string {
  const result = SqliteRaftStorage.open(path);
  if (result.ok) {
    opened.push(result.storage);
    throw new Error(`${path} opened, expected a "${kind}" error`);
  }
  expect(result.error.kind).toBe(kind);
  expect(result.error.path).toBe(path);
  expect(result.error.message).toContain(path);
  return result.error.message;
}

/** Runs raw SQL on a closed storage file, as a damaged disk or another program would. */
function tamper(path: string, ...statements: string[]): void {
  const db = new Database(path, { readwrite: true, create: true });
  for (const statement of statements) db.run(statement);
  db.close(true);
}

function entriesOf(from: number, to: number, term: number, prefix = "e"): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term, `${prefix}${from + i}`));
}

function texts(entries: readonly Entry[]): string[] {
  return entries.map((e) => decoder.decode(e.data));
}

describeStorageContract("SqliteRaftStorage", () => {
  const path = freshPath();
  let current = openOk(path);
  const restart = (): SqliteRaftStorage => {
    current.close();
    current = openOk(path);
    return current;
  };
  return { storage: current, reopen: restart, crash: restart };
});

describe("SqliteRaftStorage: reopening restores everything", () => {
  test("entries of every kind and size, the hard state, snapshot and bounds survive compaction and a reopen", () => {
    const path = freshPath();
    const storage = openOk(path);
    const binary = new Prng(7).fill(new Uint8Array(4096));
    const large = new Prng(8).fill(new Uint8Array(entryBytesMax));
    const written: Entry[] = [
      { index: 1, term: 1, kind: "config", data: encoder.encode(JSON.stringify(conf)) },
      { index: 2, term: 1, kind: "noop", data: new Uint8Array(0) },
      { index: 3, term: 2, kind: "normal", data: binary },
      // A view into a larger buffer must store only its own bytes.
      { index: 4, term: 2, kind: "normal", data: binary.subarray(100, 164) },
      { index: 5, term: 2, kind: "normal", data: large },
      ...entriesOf(6, 100, 3),
    ];
    storage.append(written);
    storage.setHardState({ term: 3, vote: "b", commit: 90 });
    storage.createSnapshot(60, conf, encoder.encode("image-60"));
    storage.compact(50);
    storage.sync();
    storage.close();

    const reopened = openOk(path);
    expect(reopened.hardState()).toEqual({ term: 3, vote: "b", commit: 90 });
    expect([reopened.firstIndex(), reopened.lastIndex(), reopened.term(50), reopened.term(49), reopened.term(100)]).toEqual([51, 100, 3, undefined, 3]);
    expect(reopened.snapshot().meta).toEqual({ index: 60, term: 3, conf });
    expect(decoder.decode(reopened.snapshot().data)).toBe("image-60");
    expect(reopened.entries(51, 101, Number.MAX_SAFE_INTEGER)).toEqual(written.slice(50));
    reopened.close();

    // Before compaction every kind and the large entries round-trip exactly.
    const other = freshPath();
    const first = openOk(other);
    first.append(written.slice(0, 5));
    first.sync();
    first.close();
    const again = openOk(other);
    expect(again.entries(1, 6, Number.MAX_SAFE_INTEGER)).toEqual(written.slice(0, 5));
    expect(again.entries(1, 6, 5000).map((e) => e.index)).toEqual([1, 2, 3, 4]); // the 1 MiB entry does not fit
    expect(again.entries(5, 6, 1).map((e) => e.data.length)).toEqual([entryBytesMax]); // but goes alone
  });

  test("a snapshot from the leader replaces the log, and the log grows again after it", () => {
    const path = freshPath();
    const storage = openOk(path);
    storage.append(entriesOf(1, 30, 1));
    storage.setHardState({ term: 1, vote: "a", commit: 30 });
    storage.sync();
    storage.applySnapshot({ meta: { index: 200, term: 5, conf }, data: encoder.encode("leader-image") });
    storage.setHardState({ term: 5, vote: "", commit: 200 });
    storage.sync();
    storage.close();

    const afterSnapshot = openOk(path);
    expect([afterSnapshot.firstIndex(), afterSnapshot.lastIndex(), afterSnapshot.term(200), afterSnapshot.term(30)]).toEqual([201, 200, 5, undefined]);
    expect(decoder.decode(afterSnapshot.snapshot().data)).toBe("leader-image");
    afterSnapshot.append(entriesOf(201, 210, 5));
    afterSnapshot.setHardState({ term: 5, vote: "", commit: 205 });
    afterSnapshot.sync();
    afterSnapshot.createSnapshot(205, conf, encoder.encode("image-205"));
    afterSnapshot.compact(205);
    afterSnapshot.sync();
    afterSnapshot.close();

    const last = openOk(path);
    expect([last.firstIndex(), last.lastIndex(), last.term(205)]).toEqual([206, 210, 5]);
    expect(texts(last.entries(206, 211, 1_000_000))).toEqual(["e206", "e207", "e208", "e209", "e210"]);
    expect(last.snapshot().meta.index).toBe(205);
    // Compacting everything leaves an empty log whose end is the snapshot.
    last.compact(205);
    last.append(entriesOf(211, 211, 6));
    last.sync();
    last.close();
    expect(openOk(path).lastIndex()).toBe(211);
  });

  test("a truncated suffix stays truncated after a reopen", () => {
    const path = freshPath();
    const storage = openOk(path);
    storage.append(entriesOf(1, 10, 1));
    storage.sync();
    storage.append(entriesOf(6, 7, 2, "new"));
    storage.sync();
    storage.close();
    const reopened = openOk(path);
    expect(reopened.lastIndex()).toBe(7);
    expect(texts(reopened.entries(4, 8, 1_000_000))).toEqual(["e4", "e5", "new6", "new7"]);
  });

  test("writes join one transaction that sync() commits, and close() discards what was not synced", () => {
    const path = freshPath();
    const storage = openOk(path);
    expect(storage.unsyncedWrites).toBe(false);
    storage.append(entriesOf(1, 3, 1));
    expect(storage.unsyncedWrites).toBe(true);
    storage.setHardState({ term: 1, vote: "a", commit: 2 });
    storage.sync();
    expect(storage.unsyncedWrites).toBe(false);
    storage.sync(); // nothing pending: a no-op
    storage.setHardState({ term: 1, vote: "a", commit: 3 }); // a commit-only Ready: not synced
    storage.close();
    expect(openOk(path).hardState()).toEqual({ term: 1, vote: "a", commit: 2 });
  });

  test("a bootstrapped node driven through persistReady restarts with its log", () => {
    const path = freshPath();
    const storage = openOk(path);
    expect(bootstrapStorage(storage, { voters: ["n1"], learners: [] })).toBe(true);
    const node = new RawNode({ id: "n1", storage, prng: new Prng(1), electionTicks: 10, heartbeatTicks: 1 });
    node.campaign();
    const drain = (): void => {
      while (node.hasReady()) {
        const ready = node.ready();
        persistReady(storage, ready);
        expect(storage.unsyncedWrites && ready.mustSync).toBe(false);
        node.advance(ready);
      }
    };
    drain();
    expect(node.basicStatus().role).toBe("leader");
    expect(node.propose([encoder.encode("x"), encoder.encode("y")]).ok).toBe(true);
    drain();
    const { commit, term } = node.basicStatus();
    storage.close();
    const reopened = openOk(path);
    expect(reopened.lastIndex()).toBe(commit);
    expect(texts(reopened.entries(commit - 1, commit + 1, 1000))).toEqual(["x", "y"]);
    expect(reopened.term(commit)).toBe(term);
  });

  test("the same sequence of calls leaves it in the same state as MemoryStorage", () => {
    const prng = new Prng(42);
    const memory = new MemoryStorage();
    const path = freshPath();
    let sqlite = openOk(path);
    let term = 1;
    for (let step = 0; step < 300; step++) {
      const choice = prng.int(10);
      const last = memory.lastIndex();
      if (choice < 6) {
        const from = Math.max(memory.firstIndex(), memory.hardState().commit + 1, last + 1 - prng.int(3));
        if (prng.chance(0.2)) term++;
        const batch = entriesOf(from, from + prng.int(8), term, `s${step}-`);
        memory.append(batch);
        sqlite.append(batch);
      } else if (choice < 8) {
        const hard = { term, vote: prng.pick(["", "a", "b"]), commit: Math.max(memory.hardState().commit, last - prng.int(3)) };
        memory.setHardState(hard);
        sqlite.setHardState(hard);
      } else if (choice < 9) {
        const index = memory.hardState().commit;
        if (index > memory.snapshot().meta.index && index >= memory.firstIndex()) {
          memory.createSnapshot(index, conf, encoder.encode(`img${index}`));
          sqlite.createSnapshot(index, conf, encoder.encode(`img${index}`));
          const to = index - prng.int(4);
          memory.compact(to);
          sqlite.compact(to);
        }
      } else {
        sqlite.sync();
        sqlite.close();
        sqlite = openOk(path);
      }
      expect([sqlite.firstIndex(), sqlite.lastIndex(), sqlite.hardState(), sqlite.snapshot().meta]).toEqual([
        memory.firstIndex(),
        memory.lastIndex(),
        memory.hardState(),
        memory.snapshot().meta,
      ]);
    }
    sqlite.sync();
    sqlite.close();
    sqlite = openOk(path);
    const lo = memory.firstIndex();
    const hi = memory.lastIndex() + 1;
    expect(sqlite.entries(lo, hi, 1_000_000)).toEqual(memory.entries(lo, hi, 1_000_000));
    expect(sqlite.term(lo - 1)).toBe(memory.term(lo - 1)!);
  });
});

describe("SqliteRaftStorage: damaged and foreign files are refused with the file's name", () => {
  function storedLog(): string {
    const path = freshPath();
    const storage = openOk(path);
    storage.append(entriesOf(1, 50, 1));
    storage.setHardState({ term: 1, vote: "a", commit: 40 });
    storage.createSnapshot(20, conf, encoder.encode("image"));
    storage.compact(10);
    storage.sync();
    storage.close();
    return path;
  }

  test("a file that is not SQLite at all", () => {
    const path = freshPath();
    const junk = "this is a text file, not a database; ".repeat(200);
    writeFileSync(path, junk);
    expect(openFails(path, "not-a-database")).toContain("not an SQLite database");
    expect(readFileSync(path, "utf8")).toBe(junk); // untouched
  });

  test("another program's SQLite database", () => {
    const path = freshPath();
    tamper(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO users (name) VALUES ('alice')");
    const sizeBefore = statSync(path).size;
    expect(openFails(path, "foreign")).toContain("users");
    expect(statSync(path).size).toBe(sizeBefore);
    tamper(path, "PRAGMA application_id = 1234");
    expect(openFails(path, "foreign")).toContain("application_id");
  });

  test("a schema version this build does not read", () => {
    const path = storedLog();
    tamper(path, `UPDATE raft_schema SET version = ${raftSchemaVersion + 1}`);
    expect(openFails(path, "schema-version")).toContain(`schema version ${raftSchemaVersion + 1}`);
    tamper(path, "UPDATE raft_schema SET version = 1, format = 'something-else'");
    openFails(path, "foreign");
  });

  test("a gap in the log, a stale entry below the compacted index, a term going backwards", () => {
    const gap = storedLog();
    tamper(gap, "DELETE FROM raft_log WHERE log_index = 30");
    expect(openFails(gap, "corrupt")).toContain("first missing entry 30");

    const stale = storedLog();
    tamper(stale, "INSERT INTO raft_log (log_index, term, kind, data) VALUES (5, 1, 'normal', x'00')");
    expect(openFails(stale, "corrupt")).toContain("starts at 5");

    const backwards = storedLog();
    tamper(backwards, "UPDATE raft_log SET term = 3 WHERE log_index = 35");
    expect(openFails(backwards, "corrupt")).toContain("term goes backwards at entry 36");

    const missingTable = storedLog();
    tamper(missingTable, "DROP TABLE raft_log_bounds");
    expect(openFails(missingTable, "corrupt")).toContain("raft_log_bounds");
  });

  test("rows that contradict each other", () => {
    const pastEnd = storedLog();
    tamper(pastEnd, "UPDATE raft_hard_state SET commit_index = 99");
    expect(openFails(pastEnd, "corrupt")).toContain("commit index 99");

    const snapshotTerm = storedLog();
    tamper(snapshotTerm, "UPDATE raft_snapshot SET term = 7");
    expect(openFails(snapshotTerm, "corrupt")).toContain("snapshot at 20 has term 7");

    const badConf = storedLog();
    tamper(badConf, "UPDATE raft_snapshot SET conf = '{\"voters\": 3}'");
    expect(openFails(badConf, "corrupt")).toContain("membership");

    const behind = storedLog();
    tamper(behind, "UPDATE raft_snapshot SET snapshot_index = 5");
    expect(openFails(behind, "corrupt")).toContain("compacted through 10");
  });

  test("damaged pages fail the integrity check", () => {
    const path = freshPath();
    const storage = openOk(path);
    for (let index = 1; index <= 400; index += 50) storage.append(entriesOf(index, index + 49, 1, "x".repeat(200)));
    storage.sync();
    storage.close(); // checkpoints the WAL into the main file
    const bytes = readFileSync(path);
    const pageBytes = 4096;
    expect(bytes.length).toBeGreaterThan(6 * pageBytes);
    // Scribble over the middle of the file (b-tree pages of raft_log), leaving the header alone.
    const garbage = new Prng(3).fill(new Uint8Array(2 * pageBytes));
    bytes.set(garbage, 4 * pageBytes);
    writeFileSync(path, bytes);
    openFails(path, "corrupt");
  });

  test("a second open of a file in use is refused", () => {
    const path = freshPath();
    const first = openOk(path);
    first.append(entriesOf(1, 3, 1));
    first.sync();
    expect(openFails(path, "locked")).toContain("in use");
    first.close();
    expect(openOk(path).lastIndex()).toBe(3);
  });

  test("a missing directory, and an empty file (a crash right after creating it)", () => {
    openFails(join(directory, "no-such-directory", "raft.db"), "io");
    const empty = freshPath();
    writeFileSync(empty, "");
    const storage = openOk(empty);
    expect([storage.firstIndex(), storage.lastIndex()]).toEqual([1, 0]);
  });

  test("programmer errors leave the storage usable; a closed storage refuses use", () => {
    const storage = openOk(freshPath());
    storage.append(entriesOf(1, 5, 2));
    expect(() => storage.append([entry(3, 1)])).toThrow(AssertionError); // term before its predecessor's
    expect(() => storage.setHardState({ term: 1, vote: "", commit: 9 })).toThrow(AssertionError);
    expect(() => storage.append([{ index: 6, term: 2, kind: "normal", data: new Uint8Array(entryBytesMax + 1) }])).toThrow(AssertionError);
    storage.sync();
    expect(storage.lastIndex()).toBe(5);
    storage.close();
    storage.close();
    expect(() => storage.lastIndex()).toThrow(AssertionError);
  });

  test("a failing write marks the storage failed, names the file and keeps the synced state", () => {
    const path = freshPath();
    const storage = openOk(path);
    storage.append(entriesOf(1, 5, 1));
    storage.sync();
    storage.append(entriesOf(6, 8, 1));
    // No other connection can get in (the lock is exclusive), so provoke a
    // failure from inside the open transaction: a table the storage needs
    // disappears under it, and compact() is the write that needs it.
    const db = (storage as unknown as { db: Database }).db;
    db.run("DROP TABLE raft_log_bounds");
    storage.setHardState({ term: 1, vote: "", commit: 8 });
    storage.createSnapshot(8, conf, new Uint8Array(0));
    let failure: unknown;
    try {
      storage.compact(8);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SqliteRaftStorageError);
    expect((failure as SqliteRaftStorageError).message).toContain(path);
    expect(() => storage.lastIndex()).toThrow(SqliteRaftStorageError);
    expect(storage.unsyncedWrites).toBe(false);
    storage.close();
    // The DROP was part of the rolled-back transaction too, so the file is intact.
    const reopened = openOk(path);
    expect([reopened.lastIndex(), reopened.snapshot().meta.index]).toEqual([5, 0]);

    // An update that finds no row to change is refused, not silently lost.
    reopened.append(entriesOf(6, 6, 1));
    (reopened as unknown as { db: Database }).db.run("DELETE FROM raft_hard_state");
    expect(() => reopened.setHardState({ term: 1, vote: "", commit: 6 })).toThrow("raft_hard_state should hold one row");
    reopened.close();
    expect(openOk(path).hardState().term).toBe(0);
  });
});
