// Recovery after permanent quorum loss: rewrite one node's storage so that it
// is the single voter of a new configuration, keeping its log and snapshot.
// This is the one deliberately unsafe operation on a Raft log: entries this
// node holds but that were never committed become committed, and entries that
// other nodes committed but this node never received are lost. It exists for
// the case where those other nodes are gone for good and there is no better
// copy of the log to start from. It runs offline, on storage no node is using.
//
// The new configuration is appended as a config entry in a new term and marked
// committed at once, which is sound only because this node is its one voter:
// when the node starts it campaigns alone, wins, and every node added later
// receives this log, new configuration included.

import { decodeConfState, encodeConfState } from "./membership.ts";
import type { RaftStorage } from "./storage.ts";
import { type ConfState, type NodeId, noNode, nodeIdLengthMax } from "./types.ts";

export type RecoverResult =
  | {
      readonly ok: true;
      /** The membership in force before (from the latest config entry or the snapshot). */
      readonly previous: ConfState;
      /** Index and term of the appended config entry, now the commit index. */
      readonly index: number;
      readonly term: number;
      /** Entries that were held but not committed, and now are. */
      readonly uncommittedAdopted: number;
    }
  | { readonly ok: false; readonly error: string };

/** Pages read while looking for the latest config entry, so a huge log cannot stall the command. */
const scanBytesPerPage = 1024 * 1024;

/** The membership in force at the end of the log: its latest config entry, else the snapshot's. */
export function latestConf(storage: RaftStorage): ConfState {
  let conf = storage.snapshot().meta.conf;
  const last = storage.lastIndex();
  let next = Math.max(storage.firstIndex(), storage.snapshot().meta.index + 1);
  while (next <= last) {
    const page = storage.entries(next, last + 1, scanBytesPerPage);
    for (const entry of page) {
      if (entry.kind !== "config") continue;
      const decoded = decodeConfState(entry.data);
      if (decoded) conf = decoded;
    }
    next += page.length;
  }
  return conf;
}

/**
 * Make `self` the single voter of a new configuration in `storage`, keeping
 * every entry and the snapshot. Refuses storage that holds no Raft state.
 */
export function recoverAsSoleVoter(storage: RaftStorage, self: NodeId): RecoverResult {
  if (self.length === 0 || self.length > nodeIdLengthMax) return { ok: false, error: `node id must be 1 to ${nodeIdLengthMax} characters` };
  const hard = storage.hardState();
  const lastIndex = storage.lastIndex();
  if (lastIndex === 0) return { ok: false, error: "this storage holds no Raft log: the node never belonged to a cluster, so there is nothing to recover" };
  const lastTerm = storage.term(lastIndex) ?? 0;
  const previous = latestConf(storage);
  // A new term marks where the new configuration's history starts; it is
  // above every term this node saw, so nothing it voted for can compete.
  const term = Math.max(hard.term, lastTerm) + 1;
  const index = lastIndex + 1;
  const conf: ConfState = { voters: [self], learners: [] };
  storage.append([{ index, term, kind: "config", data: encodeConfState(conf) }]);
  storage.setHardState({ term, vote: noNode, commit: index });
  storage.sync();
  return { ok: true, previous, index, term, uncommittedAdopted: Math.max(0, lastIndex - hard.commit) };
}
