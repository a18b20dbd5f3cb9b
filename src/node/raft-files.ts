// Where a node keeps its Raft state in the data directory, and the small file
// beside the log that names the cluster the log belongs to and the node that
// wrote it. The agent reads it before gossip starts, so that a restarted node
// advertises its cluster in its very first metadata; `raft recover` rewrites
// it with a fresh cluster id. Writes are atomic (temporary file, fsync,
// rename, fsync of the directory), so a crash leaves the old file or the new.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";

/** The Raft log, hard state and snapshot (SqliteRaftStorage). */
export function raftDatabasePath(dataDir: string): string {
  return join(dataDir, "raft.db");
}

/** The cluster file, beside raft.db. */
export function raftClusterPath(dataDir: string): string {
  return join(dataDir, "raft-cluster.json");
}

export interface RaftClusterRecord {
  /** The cluster id this node advertises in gossip (raft_cluster). */
  cluster_id: string;
  /** The node name the log belongs to; a log is never reused under another name. */
  node: string;
}

export const clusterIdPattern = /^[0-9a-f]{1,64}$/;
/** The file is a few dozen bytes; anything larger is not ours. */
const clusterFileBytesMax = 4096;

export type ReadClusterResult =
  | { ok: true; record: RaftClusterRecord | undefined }
  | { ok: false; error: string };

/** The record, undefined when there is no file, or why the file cannot be used. */
export function readClusterFile(dataDir: string): ReadClusterResult {
  const path = raftClusterPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return { ok: true, record: undefined };
    return { ok: false, error: `${path}: cannot be read (${(error as Error).message})` };
  }
  if (text.length > clusterFileBytesMax) return { ok: false, error: `${path}: larger than ${clusterFileBytesMax} bytes; not a Raft cluster file` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: `${path}: not valid JSON; expected {"cluster_id": "...", "node": "..."}` };
  }
  const record = parsed as Partial<RaftClusterRecord> | null;
  if (typeof record?.cluster_id !== "string" || !clusterIdPattern.test(record.cluster_id) || typeof record.node !== "string" || record.node === "") {
    return { ok: false, error: `${path}: expected {"cluster_id": "<1 to 64 hex digits>", "node": "<node name>"}` };
  }
  return { ok: true, record: { cluster_id: record.cluster_id, node: record.node } };
}

/** Replace the cluster file atomically and durably; throws an Error naming the file on failure. */
export function writeClusterFile(dataDir: string, record: RaftClusterRecord): void {
  const path = raftClusterPath(dataDir);
  const temporary = `${path}.tmp`;
  try {
    const fd = openSync(temporary, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    const directory = openSync(dataDir, "r");
    try {
      fsyncSync(directory);
    } finally {
      closeSync(directory);
    }
  } catch (error) {
    throw new Error(`cannot write the Raft cluster file ${path}: ${(error as Error).message}`);
  }
}

/** A cluster id that no bootstrap computes: for clusters rebuilt by `raft recover`. */
export function randomClusterId(): string {
  return randomBytes(8).toString("hex");
}
