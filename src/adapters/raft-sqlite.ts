// Durable Raft storage in one SQLite database file (bun:sqlite): the log, the
// hard state, the latest snapshot and a schema version, for a node that must
// survive crashes and restarts. It implements the same RaftStorage contract as
// MemoryStorage (test/sim/raft/storage-contract.ts runs against both), keeps
// the small values (hard state, log bounds, snapshot metadata) in memory, and
// reads entries from the file in bounded pages.
//
// Durability. Every write (append, setHardState, applySnapshot,
// createSnapshot, compact) joins one open transaction, begun by the first
// write after the previous sync(); sync() commits it. The database runs in WAL
// mode with synchronous=FULL, so COMMIT appends the transaction's pages and a
// checksummed commit frame to the -wal file and fsyncs that file before it
// returns; on the next open SQLite replays the WAL only up to its last valid
// commit frame. Hence the writes of one persistReady() (snapshot, entries,
// hard state, then sync) reach the disk all together or not at all, and they
// are on stable storage when sync() returns, which persistReady() does before
// the shell sends any message. Writes not yet synced are lost by a crash and
// also by close(), so the file only ever holds what sync() made durable. A
// Ready without mustSync (only the commit index moved) leaves its write in the
// open transaction until the next sync(): a node that forgets its commit index
// relearns it from the leader. SQLite fsyncs the directory when it creates the
// -wal file; we fsync the directory ourselves after creating the database file.
// Nothing here can help a disk that acknowledges flushes it has not done.
//
// Errors. Opening returns a value: a file that is not SQLite, belongs to
// another program, has another schema version, has gaps in its log, fails
// SQLite's quick_check, or is held by another process is refused with a
// message that names the file; nothing is ever repaired or overwritten. Once
// open, a failing SQLite call (I/O error, disk full, corruption found while
// reading) throws SqliteRaftStorageError and the instance refuses all further
// use, because its in-memory view may no longer match the file, and because a
// failed fsync cannot be retried safely (the kernel may already have dropped
// the pages it failed to write): the shell must stop the node and let it
// restart from what the file holds.

import { type Changes, Database, SQLiteError, type Statement } from "bun:sqlite";
import { closeSync, fsyncSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { assert } from "../lib/assert.ts";
import {
  type ConfState,
  type Entry,
  type EntryKind,
  type HardState,
  type RaftStorage,
  type Snapshot,
  type SnapshotMeta,
  decodeConfState,
  emptyHardState,
  emptySnapshot,
  encodeConfState,
  entryBytesMax,
  nodeIdLengthMax,
  snapshotBytesMax,
} from "../raft/index.ts";
// The byte budget of entries() must be counted exactly as the core counts it,
// and appended batches checked as MemoryStorage checks them; the public
// surface does not export these two helpers yet.
import { assertContiguous, entryBytes } from "../raft/types.ts";

/** What the raft_schema table says this file holds; anything else is foreign. */
export const raftSchemaFormat = "constellation-raft";
/** Bumped whenever the tables below change shape; older and newer files are refused. */
export const raftSchemaVersion = 1;
/** SQLite header field (offset 68) marking the file as ours, for tools such as file(1): "CRFT". */
export const raftApplicationId = 0x43524654;
/** The -wal file is truncated back to this size after a checkpoint (a large snapshot can grow it). */
export const walSizeLimitBytes = 16 * 1024 * 1024;

const schemaStatements = [
  `CREATE TABLE raft_schema (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     format TEXT NOT NULL,
     version INTEGER NOT NULL
   ) STRICT`,
  `CREATE TABLE raft_hard_state (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     term INTEGER NOT NULL CHECK (term >= 0),
     vote TEXT NOT NULL,
     commit_index INTEGER NOT NULL CHECK (commit_index >= 0)
   ) STRICT`,
  // The entry just before the first one held: its index and term survive
  // compaction because the next entry's prevTerm needs them.
  `CREATE TABLE raft_log_bounds (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     compacted_index INTEGER NOT NULL CHECK (compacted_index >= 0),
     compacted_term INTEGER NOT NULL CHECK (compacted_term >= 0)
   ) STRICT`,
  // log_index is the rowid, so range reads walk the table's own b-tree.
  `CREATE TABLE raft_log (
     log_index INTEGER PRIMARY KEY CHECK (log_index > 0),
     term INTEGER NOT NULL CHECK (term > 0),
     kind TEXT NOT NULL CHECK (kind IN ('normal', 'noop', 'config')),
     data BLOB NOT NULL
   ) STRICT`,
  `CREATE TABLE raft_snapshot (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     snapshot_index INTEGER NOT NULL CHECK (snapshot_index >= 0),
     term INTEGER NOT NULL CHECK (term >= 0),
     conf TEXT NOT NULL,
     data BLOB NOT NULL
   ) STRICT`,
];
const tableNames = ["raft_hard_state", "raft_log", "raft_log_bounds", "raft_schema", "raft_snapshot"];

export type SqliteRaftOpenErrorKind =
  /** The file or its directory cannot be opened, read or written. */
  | "io"
  /** Another process (or another instance in this one) has the file open. */
  | "locked"
  /** The file is not an SQLite database at all. */
  | "not-a-database"
  /** An SQLite database that belongs to another program. */
  | "foreign"
  /** Our database, written by a build with another schema version. */
  | "schema-version"
  /** Our database, but damaged: bad pages, gaps in the log, inconsistent rows. */
  | "corrupt";

export interface SqliteRaftOpenError {
  readonly kind: SqliteRaftOpenErrorKind;
  readonly path: string;
  /** One sentence that names the file and says what is wrong with it. */
  readonly message: string;
}

export type SqliteRaftOpenResult =
  | { readonly ok: true; readonly storage: SqliteRaftStorage }
  | { readonly ok: false; readonly error: SqliteRaftOpenError };

export interface SqliteRaftOpenOptions {
  /**
   * Run PRAGMA quick_check when opening (default true). It reads every page,
   * so it costs time proportional to the file; a compacted log keeps it small.
   */
  integrityCheck?: boolean;
}

/** A SQLite call failed on an open storage; the storage refuses further use. */
export class SqliteRaftStorageError extends Error {
  override name = "SqliteRaftStorageError";
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the file held when it was opened, after every consistency check passed. */
interface LoadedState {
  hard: HardState;
  compactedIndex: number;
  compactedTerm: number;
  lastIndex: number;
  lastTerm: number;
  snapshotMeta: SnapshotMeta;
}

type OpenStep<T> = { ok: true; value: T } | { ok: false; error: SqliteRaftOpenError };

interface EntryRow {
  log_index: number;
  term: number;
  kind: string;
  data: Uint8Array;
}

function describeError(error: unknown): string {
  if (error instanceof SQLiteError) return `${error.code ?? "SQLITE_ERROR"}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function openError(kind: SqliteRaftOpenErrorKind, path: string, what: string): { ok: false; error: SqliteRaftOpenError } {
  return { ok: false, error: { kind, path, message: `raft storage ${path}: ${what}` } };
}

/** Maps an SQLite failure during open to the kind of problem it reveals. */
function classifyOpenFailure(error: unknown): SqliteRaftOpenErrorKind {
  const code = error instanceof SQLiteError ? (error.code ?? "") : "";
  if (code.startsWith("SQLITE_NOTADB")) return "not-a-database";
  if (code.startsWith("SQLITE_CORRUPT")) return "corrupt";
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return "locked";
  return "io";
}

function isEntryKind(kind: string): kind is EntryKind {
  return kind === "normal" || kind === "noop" || kind === "config";
}

/** Makes the directory entry of a newly created file durable (rename and create are directory writes). */
function fsyncDirectory(path: string): void {
  const fd = openSync(dirname(path), "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class SqliteRaftStorage implements RaftStorage {
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private readonly insertEntry: Statement<unknown, [number, number, string, Uint8Array]>;
  private readonly deleteEntriesFrom: Statement<unknown, [number]>;
  private readonly deleteEntriesThrough: Statement<unknown, [number]>;
  private readonly deleteAllEntries: Statement<unknown, []>;
  private readonly selectTerm: Statement<{ term: number }, [number]>;
  private readonly selectEntries: Statement<EntryRow, [number, number]>;
  private readonly updateHardState: Statement<unknown, [number, string, number]>;
  private readonly updateBounds: Statement<unknown, [number, number]>;
  private readonly updateSnapshot: Statement<unknown, [number, number, string, Uint8Array]>;
  private readonly selectSnapshotData: Statement<{ data: Uint8Array }, []>;

  private hard: HardState;
  private compactedIndex: number;
  private compactedTerm: number;
  private last: number;
  private lastTerm: number;
  private snapshotMeta: SnapshotMeta;
  /** The latest snapshot with its data, read on first use: the shell asks for it after every Ready. */
  private snapshotCache: Snapshot | undefined;
  /** Set by the first failed SQLite call; every later call rethrows it. */
  private failure: SqliteRaftStorageError | undefined;
  private closed = false;

  private constructor(
    private readonly db: Database,
    /** The database file, named in every error. */
    readonly path: string,
    state: LoadedState,
  ) {
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.insertEntry = db.prepare("INSERT INTO raft_log (log_index, term, kind, data) VALUES (?, ?, ?, ?)");
    this.deleteEntriesFrom = db.prepare("DELETE FROM raft_log WHERE log_index >= ?");
    this.deleteEntriesThrough = db.prepare("DELETE FROM raft_log WHERE log_index <= ?");
    this.deleteAllEntries = db.prepare("DELETE FROM raft_log");
    this.selectTerm = db.prepare("SELECT term FROM raft_log WHERE log_index = ?");
    this.selectEntries = db.prepare("SELECT log_index, term, kind, data FROM raft_log WHERE log_index >= ? AND log_index < ? ORDER BY log_index");
    this.updateHardState = db.prepare("UPDATE raft_hard_state SET term = ?, vote = ?, commit_index = ? WHERE id = 1");
    this.updateBounds = db.prepare("UPDATE raft_log_bounds SET compacted_index = ?, compacted_term = ? WHERE id = 1");
    this.updateSnapshot = db.prepare("UPDATE raft_snapshot SET snapshot_index = ?, term = ?, conf = ?, data = ? WHERE id = 1");
    this.selectSnapshotData = db.prepare("SELECT data FROM raft_snapshot WHERE id = 1");
    this.hard = state.hard;
    this.compactedIndex = state.compactedIndex;
    this.compactedTerm = state.compactedTerm;
    this.last = state.lastIndex;
    this.lastTerm = state.lastTerm;
    this.snapshotMeta = state.snapshotMeta;
  }

  /**
   * Open the storage in `path`, creating an empty one when the file does not
   * exist or is empty. The directory must exist. Holds an exclusive lock on
   * the file until close() (or the process's death), so that two nodes can
   * never write one log.
   */
  static open(path: string, options: SqliteRaftOpenOptions = {}): SqliteRaftOpenResult {
    let db: Database;
    try {
      db = new Database(path, { create: true, readwrite: true, strict: true });
    } catch (error) {
      return openError("io", path, `cannot open or create the file; does its directory exist and is it writable? (${describeError(error)})`);
    }
    try {
      const loaded = prepareFile(db, path, options.integrityCheck ?? true);
      if (!loaded.ok) {
        db.close(false);
        return loaded;
      }
      return { ok: true, storage: new SqliteRaftStorage(db, path, loaded.value) };
    } catch (error) {
      db.close(false);
      const kind = classifyOpenFailure(error);
      const what: Record<SqliteRaftOpenErrorKind, string> = {
        io: "cannot read or write the database",
        locked: "the database is in use by another process or instance",
        "not-a-database": "the file is not an SQLite database; refusing to touch it",
        foreign: "the database belongs to another program",
        "schema-version": "unknown schema version",
        corrupt: "the database is corrupt",
      };
      return openError(kind, path, `${what[kind]} (${describeError(error)})`);
    }
  }

  // ---- RaftStorageReader -------------------------------------------------

  hardState(): HardState {
    this.checkUsable();
    return this.hard;
  }

  firstIndex(): number {
    this.checkUsable();
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    this.checkUsable();
    return this.last;
  }

  term(index: number): number | undefined {
    this.checkUsable();
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.last) return undefined;
    if (index === this.last) return this.lastTerm;
    const row = this.guard(`read the term of entry ${index}`, () => this.selectTerm.get(index));
    if (!row) throw this.fail(`entry ${index} is missing from the log [${this.compactedIndex + 1}, ${this.last}]: the file is corrupt`);
    return row.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    this.checkUsable();
    assert(lo >= this.compactedIndex + 1 && lo <= hi && hi <= this.last + 1, `entries [${lo}, ${hi}) outside [${this.compactedIndex + 1}, ${this.last + 1})`);
    if (lo === hi) return [];
    return this.guard(`read entries [${lo}, ${hi})`, () => {
      const result: Entry[] = [];
      let bytes = 0;
      let expected = lo;
      // iterate() decodes one row at a time, so a small budget over a long
      // range reads only the rows it returns (plus the one that overflows).
      for (const row of this.selectEntries.iterate(lo, hi)) {
        if (row.log_index !== expected) throw this.fail(`entry ${expected} is missing from the log (next held is ${row.log_index}): the file is corrupt`);
        if (!isEntryKind(row.kind)) throw this.fail(`entry ${row.log_index} has unknown kind "${row.kind}": the file is corrupt`);
        const entry: Entry = { index: row.log_index, term: row.term, kind: row.kind, data: row.data };
        bytes += entryBytes(entry);
        if (result.length > 0 && bytes > bytesMax) return result;
        result.push(entry);
        expected++;
      }
      if (expected !== hi) throw this.fail(`entries [${expected}, ${hi}) are missing from the log: the file is corrupt`);
      return result;
    });
  }

  snapshot(): Snapshot {
    this.checkUsable();
    if (this.snapshotMeta.index === 0) return emptySnapshot;
    if (!this.snapshotCache) {
      const row = this.guard("read the snapshot", () => this.selectSnapshotData.get());
      if (!row) throw this.fail("the snapshot row is missing: the file is corrupt");
      this.snapshotCache = { meta: this.snapshotMeta, data: row.data };
    }
    return this.snapshotCache;
  }

  // ---- RaftStorage writes --------------------------------------------------
  // Each method checks its arguments first (a bad call is a programmer error
  // and leaves the storage usable), then writes, then updates the in-memory
  // view only after the SQL succeeded.

  append(entries: readonly Entry[]): void {
    this.checkUsable();
    if (entries.length === 0) return;
    assertContiguous(entries);
    const first = entries[0]!;
    const lastEntry = entries[entries.length - 1]!;
    assert(first.index >= this.compactedIndex + 1 && first.index <= this.last + 1, `append at ${first.index} outside [${this.compactedIndex + 1}, ${this.last + 1}]`);
    const previousTerm = this.term(first.index - 1);
    assert(previousTerm !== undefined && previousTerm <= first.term, `append at ${first.index} after an entry of a later term`);
    assert(first.index > this.hard.commit || this.term(first.index) === first.term, `append at ${first.index} would overwrite committed entry`);
    for (const entry of entries) assert(entry.data.length <= entryBytesMax, `entry ${entry.index} holds ${entry.data.length} bytes, more than ${entryBytesMax}`);
    this.write(`append entries [${first.index}, ${lastEntry.index}]`, () => {
      if (first.index <= this.last) this.deleteEntriesFrom.run(first.index);
      for (const entry of entries) this.insertEntry.run(entry.index, entry.term, entry.kind, entry.data);
    });
    this.last = lastEntry.index;
    this.lastTerm = lastEntry.term;
  }

  setHardState(hardState: HardState): void {
    this.checkUsable();
    assert(hardState.term >= this.hard.term, `hard state term went back from ${this.hard.term} to ${hardState.term}`);
    assert(hardState.commit <= Math.max(this.last, this.snapshotMeta.index), `commit ${hardState.commit} past the log's end`);
    assert(hardState.vote.length <= nodeIdLengthMax, `vote for a node id longer than ${nodeIdLengthMax}`);
    const current = this.hard;
    if (hardState.term === current.term && hardState.vote === current.vote && hardState.commit === current.commit) return;
    this.write("write the hard state", () => this.expectOneRow(this.updateHardState.run(hardState.term, hardState.vote, hardState.commit), "raft_hard_state"));
    this.hard = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  applySnapshot(snapshot: Snapshot): void {
    this.checkUsable();
    const meta = snapshot.meta;
    assert(meta.index > this.snapshotMeta.index, `snapshot ${meta.index} is not newer than ${this.snapshotMeta.index}`);
    assert(meta.term > 0, `snapshot ${meta.index} has term 0`);
    assert(snapshot.data.length <= snapshotBytesMax, `snapshot of ${snapshot.data.length} bytes, more than ${snapshotBytesMax}`);
    const conf = encodeConfText(meta.conf);
    this.write(`install the snapshot at ${meta.index}`, () => {
      this.deleteAllEntries.run();
      this.expectOneRow(this.updateSnapshot.run(meta.index, meta.term, conf, snapshot.data), "raft_snapshot");
      this.expectOneRow(this.updateBounds.run(meta.index, meta.term), "raft_log_bounds");
    });
    this.snapshotMeta = meta;
    this.snapshotCache = snapshot;
    this.compactedIndex = meta.index;
    this.compactedTerm = meta.term;
    this.last = meta.index;
    this.lastTerm = meta.term;
  }

  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    this.checkUsable();
    assert(index > this.snapshotMeta.index, `snapshot at ${index} is not newer than ${this.snapshotMeta.index}`);
    assert(index <= this.hard.commit, `snapshot at ${index} past the commit index ${this.hard.commit}`);
    assert(data.length <= snapshotBytesMax, `snapshot of ${data.length} bytes, more than ${snapshotBytesMax}`);
    const term = this.term(index);
    assert(term !== undefined, `snapshot at ${index}: entry not held`);
    const confText = encodeConfText(conf);
    const snapshot: Snapshot = { meta: { index, term, conf }, data: data.slice() };
    this.write(`record the snapshot at ${index}`, () => this.expectOneRow(this.updateSnapshot.run(index, term, confText, snapshot.data), "raft_snapshot"));
    this.snapshotMeta = snapshot.meta;
    this.snapshotCache = snapshot;
    return snapshot;
  }

  compact(index: number): void {
    this.checkUsable();
    assert(index <= this.snapshotMeta.index, `compact to ${index} past the snapshot at ${this.snapshotMeta.index}`);
    if (index <= this.compactedIndex) return;
    const term = this.term(index);
    assert(term !== undefined, `compact to ${index}: entry not held`);
    this.write(`compact the log through ${index}`, () => {
      this.deleteEntriesThrough.run(index);
      this.expectOneRow(this.updateBounds.run(index, term), "raft_log_bounds");
    });
    this.compactedIndex = index;
    this.compactedTerm = term;
  }

  /** Commits the open transaction; COMMIT fsyncs the WAL before it returns (synchronous=FULL). */
  sync(): void {
    this.checkUsable();
    if (!this.db.inTransaction) return; // every earlier write is committed, hence already durable
    this.guard("commit (fsync) the pending writes", () => this.commit.run());
    assert(!this.db.inTransaction, "COMMIT left a transaction open");
  }

  // ---- Lifecycle -----------------------------------------------------------

  /** True when writes were made since the last sync() (they would be lost by a crash or close()). */
  get unsyncedWrites(): boolean {
    return !this.closed && this.db.inTransaction;
  }

  /**
   * Close the file, discarding writes not yet synced, exactly as a crash
   * would: call sync() first to keep them. Safe to call more than once, also
   * after a failure.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.db.inTransaction) this.rollback.run();
    } finally {
      this.db.close(true);
    }
  }

  // ---- Internals -----------------------------------------------------------

  private checkUsable(): void {
    assert(!this.closed, `raft storage ${this.path} used after close()`);
    if (this.failure) throw this.failure;
  }

  /** Runs `body` inside the open transaction, beginning one if none is open. */
  private write(what: string, body: () => void): void {
    this.guard(what, () => {
      if (!this.db.inTransaction) this.begin.run();
      body();
    });
  }

  /**
   * Runs one SQLite call; on failure rolls back what the open transaction
   * holds, marks the storage failed and throws an error naming the file.
   */
  private guard<T>(what: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      if (error instanceof SqliteRaftStorageError) throw error;
      throw this.fail(`cannot ${what} (${describeError(error)})`, error);
    }
  }

  /** A single-row table whose row is gone would make the write vanish silently: refuse instead. */
  private expectOneRow(result: Changes, table: string): void {
    if (result.changes !== 1) throw this.fail(`${table} should hold one row but the update changed ${result.changes}: the file is corrupt`);
  }

  private fail(what: string, cause?: unknown): SqliteRaftStorageError {
    if (this.failure) return this.failure;
    this.failure = new SqliteRaftStorageError(this.path, `raft storage ${this.path}: ${what}; the storage refuses further use, restart the node`, { cause });
    try {
      if (this.db.inTransaction) this.rollback.run();
    } catch {
      // SQLite already rolled back (it does after I/O and full-disk errors);
      // the failure above is the one worth reporting.
    }
    return this.failure;
  }
}

/** The membership as stored in raft_snapshot.conf (the config entry encoding, as text). */
function encodeConfText(conf: ConfState): string {
  // encodeConfState checks the shape (sorted, unique, bounded) first.
  return new TextDecoder().decode(encodeConfState(conf));
}

// ---- Opening: schema, validation, loading ----------------------------------

/**
 * Configures the connection, creates the schema in an empty file, refuses a
 * foreign or unknown one, and loads and checks what the file holds.
 */
function prepareFile(db: Database, path: string, integrityCheck: boolean): OpenStep<LoadedState> {
  // Exclusive locking is set before the first access so that the WAL index
  // lives in process memory (no -shm file) and the lock, taken by the first
  // write transaction below, is held until close: a second opener fails fast.
  db.run("PRAGMA locking_mode = EXCLUSIVE");
  db.run("PRAGMA busy_timeout = 0");
  const journal = db.query<{ journal_mode: string }, []>("PRAGMA journal_mode = WAL").get();
  if (journal?.journal_mode !== "wal") return openError("io", path, `cannot switch to WAL journal mode (got ${journal?.journal_mode})`);
  db.run("PRAGMA synchronous = FULL");
  db.run(`PRAGMA journal_size_limit = ${walSizeLimitBytes}`);
  const synchronous = db.query<{ synchronous: number }, []>("PRAGMA synchronous").get();
  assert(synchronous?.synchronous === 2, `raft storage ${path}: synchronous is ${synchronous?.synchronous}, expected FULL (2)`);

  db.run("BEGIN IMMEDIATE");
  let created = false;
  try {
    const schema = checkSchema(db, path);
    if (!schema.ok) return schema;
    if (schema.value === "empty") {
      createSchema(db);
      created = true;
    }
    db.run("COMMIT");
  } finally {
    if (db.inTransaction) db.run("ROLLBACK");
  }
  if (created) fsyncDirectory(path);
  if (integrityCheck) {
    const problems = db.query<{ quick_check: string }, []>("PRAGMA quick_check(5)").all().map((row) => row.quick_check.replaceAll("\n", "; "));
    if (problems.length !== 1 || problems[0] !== "ok") return openError("corrupt", path, `the database is corrupt: ${problems.join("; ")}`);
  }
  return loadState(db, path);
}

/** "empty" for a file with no tables at all, "ours" for our schema at our version, else why not. */
function checkSchema(db: Database, path: string): OpenStep<"empty" | "ours"> {
  const applicationId = db.query<{ application_id: number }, []>("PRAGMA application_id").get()?.application_id ?? 0;
  const names = db
    .query<{ name: string }, []>("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all()
    .map((row) => row.name);
  if (applicationId !== 0 && applicationId !== raftApplicationId) {
    return openError("foreign", path, `the database belongs to another program (application_id 0x${applicationId.toString(16)})`);
  }
  if (names.length === 0) return { ok: true, value: "empty" };
  if (!names.includes("raft_schema")) {
    return openError("foreign", path, `the database belongs to another program (tables: ${names.slice(0, 8).join(", ")}); refusing to touch it`);
  }
  const rows = db.query<{ format: unknown; version: unknown }, []>("SELECT format, version FROM raft_schema").all();
  const row = rows[0];
  if (rows.length !== 1 || !row) return openError("corrupt", path, `raft_schema holds ${rows.length} rows, expected 1`);
  if (row.format !== raftSchemaFormat) return openError("foreign", path, `raft_schema names format "${String(row.format)}", expected "${raftSchemaFormat}"`);
  if (row.version !== raftSchemaVersion) {
    return openError("schema-version", path, `schema version ${String(row.version)}, this build reads version ${raftSchemaVersion} only`);
  }
  const missing = tableNames.filter((name) => !names.includes(name));
  if (missing.length > 0) return openError("corrupt", path, `tables missing: ${missing.join(", ")}`);
  return { ok: true, value: "ours" };
}

function createSchema(db: Database): void {
  for (const statement of schemaStatements) db.run(statement);
  db.run(`PRAGMA application_id = ${raftApplicationId}`);
  db.run("INSERT INTO raft_schema (id, format, version) VALUES (1, ?, ?)", [raftSchemaFormat, raftSchemaVersion]);
  db.run("INSERT INTO raft_hard_state (id, term, vote, commit_index) VALUES (1, ?, ?, ?)", [emptyHardState.term, emptyHardState.vote, emptyHardState.commit]);
  db.run("INSERT INTO raft_log_bounds (id, compacted_index, compacted_term) VALUES (1, 0, 0)");
  db.run("INSERT INTO raft_snapshot (id, snapshot_index, term, conf, data) VALUES (1, 0, 0, ?, ?)", [encodeConfText(emptySnapshot.meta.conf), new Uint8Array(0)]);
}

/** Exactly one row of a single-row table, or an error naming the table. */
function singleRow<T>(db: Database, path: string, sql: string, table: string): OpenStep<T> {
  const rows = db.query<T, []>(sql).all();
  const row = rows[0];
  if (rows.length !== 1 || row === undefined) return openError("corrupt", path, `${table} holds ${rows.length} rows, expected 1`);
  return { ok: true, value: row };
}

/** Reads the hard state, log bounds and snapshot metadata, and checks that they fit together. */
function loadState(db: Database, path: string): OpenStep<LoadedState> {
  const hardRow = singleRow<{ term: number; vote: string; commit_index: number }>(db, path, "SELECT term, vote, commit_index FROM raft_hard_state", "raft_hard_state");
  if (!hardRow.ok) return hardRow;
  const bounds = singleRow<{ compacted_index: number; compacted_term: number }>(db, path, "SELECT compacted_index, compacted_term FROM raft_log_bounds", "raft_log_bounds");
  if (!bounds.ok) return bounds;
  const snapshotRow = singleRow<{ snapshot_index: number; term: number; conf: string; bytes: number }>(
    db,
    path,
    "SELECT snapshot_index, term, conf, length(data) AS bytes FROM raft_snapshot",
    "raft_snapshot",
  );
  if (!snapshotRow.ok) return snapshotRow;
  const conf = decodeConfState(new TextEncoder().encode(snapshotRow.value.conf));
  if (!conf) return openError("corrupt", path, `the snapshot's membership is not valid: ${snapshotRow.value.conf.slice(0, 200)}`);
  const { compacted_index: compactedIndex, compacted_term: compactedTerm } = bounds.value;
  const snapshotMeta: SnapshotMeta = { index: snapshotRow.value.snapshot_index, term: snapshotRow.value.term, conf };
  const log = checkLog(db, path, compactedIndex, compactedTerm);
  if (!log.ok) return log;
  const { lastIndex, lastTerm } = log.value;
  const hard: HardState = { term: hardRow.value.term, vote: hardRow.value.vote, commit: hardRow.value.commit_index };

  if (snapshotMeta.index < compactedIndex) {
    return openError("corrupt", path, `the log is compacted through ${compactedIndex} but the snapshot only covers ${snapshotMeta.index}`);
  }
  if (snapshotMeta.index === compactedIndex && snapshotMeta.term !== compactedTerm) {
    return openError("corrupt", path, `the snapshot at ${snapshotMeta.index} has term ${snapshotMeta.term} but the log says ${compactedTerm}`);
  }
  if (snapshotMeta.index > compactedIndex && snapshotMeta.index <= lastIndex) {
    const held = db.query<{ term: number }, [number]>("SELECT term FROM raft_log WHERE log_index = ?").get(snapshotMeta.index);
    if (held?.term !== snapshotMeta.term) {
      return openError("corrupt", path, `the snapshot at ${snapshotMeta.index} has term ${snapshotMeta.term} but the log holds term ${held?.term}`);
    }
  }
  if (snapshotMeta.index > lastIndex) return openError("corrupt", path, `the snapshot at ${snapshotMeta.index} is past the log's end ${lastIndex}`);
  if (snapshotMeta.index > 0 && (snapshotMeta.term === 0 || conf.voters.length === 0)) {
    return openError("corrupt", path, `the snapshot at ${snapshotMeta.index} has term ${snapshotMeta.term} and ${conf.voters.length} voters`);
  }
  if (snapshotRow.value.bytes > snapshotBytesMax) return openError("corrupt", path, `the snapshot holds ${snapshotRow.value.bytes} bytes, more than ${snapshotBytesMax}`);
  if (hard.commit > Math.max(lastIndex, snapshotMeta.index)) return openError("corrupt", path, `the commit index ${hard.commit} is past the log's end ${lastIndex}`);
  if (hard.vote.length > nodeIdLengthMax) return openError("corrupt", path, `the vote names a node id of ${hard.vote.length} characters`);
  return { ok: true, value: { hard, compactedIndex, compactedTerm, lastIndex, lastTerm, snapshotMeta } };
}

/**
 * The log must hold exactly the entries (compactedIndex, lastIndex], with
 * terms that never go down and never below the compacted entry's term.
 */
function checkLog(db: Database, path: string, compactedIndex: number, compactedTerm: number): OpenStep<{ lastIndex: number; lastTerm: number }> {
  const shape = db.query<{ count: number; lo: number | null; hi: number | null }, []>("SELECT count(*) AS count, min(log_index) AS lo, max(log_index) AS hi FROM raft_log").get();
  assert(shape, "an aggregate query returned no row");
  if (shape.count === 0 || shape.lo === null || shape.hi === null) return { ok: true, value: { lastIndex: compactedIndex, lastTerm: compactedTerm } };
  if (shape.lo !== compactedIndex + 1) {
    return openError("corrupt", path, `the log starts at ${shape.lo} but entries through ${compactedIndex} were compacted: a gap or a stale entry`);
  }
  if (shape.hi - shape.lo + 1 !== shape.count) {
    const gap = db
      .query<{ after: number }, []>("SELECT log_index AS after FROM raft_log AS held WHERE log_index < (SELECT max(log_index) FROM raft_log) AND NOT EXISTS (SELECT 1 FROM raft_log WHERE log_index = held.log_index + 1) ORDER BY log_index LIMIT 1")
      .get();
    return openError("corrupt", path, `the log has gaps: ${shape.count} entries between ${shape.lo} and ${shape.hi}, first missing entry ${(gap?.after ?? shape.lo) + 1}`);
  }
  const backwards = db
    .query<{ log_index: number }, []>("SELECT log_index FROM (SELECT log_index, term, lag(term) OVER (ORDER BY log_index) AS previous FROM raft_log) WHERE term < previous ORDER BY log_index LIMIT 1")
    .get();
  if (backwards) return openError("corrupt", path, `the term goes backwards at entry ${backwards.log_index}`);
  const firstTerm = db.query<{ term: number }, [number]>("SELECT term FROM raft_log WHERE log_index = ?").get(shape.lo);
  if (!firstTerm || firstTerm.term < compactedTerm) return openError("corrupt", path, `entry ${shape.lo} has a term below the compacted term ${compactedTerm}`);
  const lastTerm = db.query<{ term: number }, [number]>("SELECT term FROM raft_log WHERE log_index = ?").get(shape.hi);
  assert(lastTerm, `entry ${shape.hi} vanished between two queries`);
  return { ok: true, value: { lastIndex: shape.hi, lastTerm: lastTerm.term } };
}

