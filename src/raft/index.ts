// The public surface of the Raft core, for shells, storage and transport
// adapters. Everything else in this folder is an implementation detail.
//
// A shell drives one node like this (see Ready in rawnode.ts for the order):
//
//   const { tickIntervalMs, heartbeatTicks, electionTicks } = ticksFromTiming(config.raft);
//   if (firstStart) bootstrapStorage(storage, { voters: founders, learners: [] });
//   const node = new RawNode({ id, storage, prng, heartbeatTicks, electionTicks, appliedIndex });
//   every tickIntervalMs:        node.tick(); drain();
//   on bytes from the network:   const m = decodeMessage(bytes); if (m.ok) node.step(m.message); drain();
//   drain(): while (node.hasReady()) {
//     const ready = node.ready();
//     persistReady(storage, ready);                        // write + fsync first
//     for (const m of ready.messages) send(m.to, encodeMessage(m));
//     for (const e of ready.committedEntries) apply(e);    // then the state machine
//     if (ready.snapshot) install(ready.snapshot.data);
//     node.advance(ready);
//   }

export { RawNode, type Ready, type SoftState, type BasicStatus, type Status, type PeerStatus } from "./rawnode.ts";
export type { Role, ProposeResult, ProposeError, ConfChangeProposeResult, ConfChangeProposeError, TransferResult, TransferError } from "./raft.ts";
export { type RaftOptions, type TickTiming, ticksFromTiming } from "./options.ts";
export { type RaftStorage, type RaftStorageReader, persistReady, bootstrapStorage } from "./storage.ts";
export { MemoryStorage } from "./memory-storage.ts";
export type { Message, MessageType, AppendRequest, AppendResponse, HeartbeatRequest, HeartbeatResponse, VoteRequest, VoteResponse, SnapshotRequest, TimeoutNow } from "./messages.ts";
export { encodeMessage, decodeMessage, validateMessage, messageBytesMax, type DecodeResult } from "./codec.ts";
export { type ConfChange, type ConfChangeError, applyConfChange, decodeConfState, encodeConfState, isMember } from "./membership.ts";
export {
  type NodeId,
  type Entry,
  type EntryKind,
  type HardState,
  type ConfState,
  type Snapshot,
  type SnapshotMeta,
  noNode,
  emptyHardState,
  emptySnapshot,
  emptyConfState,
  votersMax,
  learnersMax,
  entryBytesMax,
  entriesPerMessageMax,
  snapshotBytesMax,
  nodeIdLengthMax,
} from "./types.ts";
export { type RecoverResult, recoverAsSoleVoter, latestConf } from "./recover.ts";
