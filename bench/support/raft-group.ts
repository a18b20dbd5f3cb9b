// A Raft group of several nodes inside one process, for measuring commit
// latency and throughput on this machine: each node has its own storage
// (SqliteRaftStorage in a directory of the caller's, or MemoryStorage as the
// no-disk baseline) and its own RaftTcpTransport listening on a free loopback
// port, and is driven the way the agent's RaftService drives its RawNode: a
// tick timer, and after every tick, message or proposal a drain loop that
// persists and fsyncs each Ready, then sends its messages, then applies its
// committed entries, then advances (at most readiesPerDrainMax Readies per
// turn of the event loop). RaftService itself needs a running gossip service
// to find its peers, so this driver repeats its drive loop around a RawNode
// and proposes straight to the leader's RawNode, in one of two ways: drain
// after every proposal, as RaftService.propose does (each proposal is a Ready
// and an fsync of its own), or drain once on a microtask, so that proposals
// made in the same turn of the event loop share one Ready and one fsync.
//
// All nodes share one event loop and one thread, so the followers' fsyncs
// and the leader's run one after another rather than on separate machines.

import { join } from "node:path";
import { SqliteRaftStorage } from "../../src/adapters/raft-sqlite.ts";
import { RaftTcpTransport } from "../../src/adapters/raft-tcp.ts";
import { SystemClock } from "../../src/adapters/system-clock.ts";
import { assert } from "../../src/lib/assert.ts";
import { Logger } from "../../src/lib/log.ts";
import { Prng } from "../../src/lib/prng.ts";
import {
  type Entry,
  MemoryStorage,
  type RaftStorage,
  RawNode,
  type TickTiming,
  bootstrapStorage,
  decodeMessage,
  encodeMessage,
  persistReady,
} from "../../src/raft/index.ts";

/** As in RaftService: Readies handled in one go before yielding to timers and sockets. */
const readiesPerDrainMax = 64;
/** Proposals awaiting their commit at once; a caller that wants more is refused. */
export const pendingProposalsMax = 65_536;

export type GroupStorageKind = "sqlite" | "memory";
/** When a proposal's Ready is taken: at once ("each"), or once per turn of the event loop ("batched"). */
export type ProposalDrain = "each" | "batched";

export interface RaftGroupOptions {
  size: number;
  storage: GroupStorageKind;
  /** Where SQLite files go (one per node); unused for memory. */
  dir: string;
  timing: TickTiming;
  seed: number;
}

/** Called at the leader once the proposal's entry is committed and applied there; NaN when another entry took its place. */
export type Committed = (latencyMs: number) => void;

class GroupNode {
  readonly node: RawNode;
  readonly transport: RaftTcpTransport;
  /** Readies that had to be fsynced, and entries written: fsync batching at the leader. */
  syncedReadies = 0;
  entriesWritten = 0;
  private readonly tickTimer: ReturnType<typeof setInterval>;
  private drainScheduled = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pending = new Map<number, { term: number; startedMs: number; done: Committed }>();
  private completed: { done: Committed; latencyMs: number }[] = [];

  constructor(
    readonly id: string,
    private readonly storage: RaftStorage & { close?(): void },
    private readonly addressOf: (id: string) => string | undefined,
    private readonly idOf: (address: string) => string | undefined,
    timing: TickTiming,
    prng: Prng,
    log: Logger,
  ) {
    this.transport = RaftTcpTransport.listen({ nodeId: id, bindAddr: "127.0.0.1", port: 0, security: undefined, log });
    this.node = new RawNode({
      id,
      storage,
      prng,
      electionTicks: timing.electionTicks,
      heartbeatTicks: timing.heartbeatTicks,
      appliedIndex: storage.snapshot().meta.index,
    });
    this.transport.setHandlers({
      onMessage: (from, bytes) => {
        const decoded = decodeMessage(bytes);
        if (!decoded.ok || decoded.message.from !== from.nodeId) return;
        this.node.step(decoded.message);
        this.drain();
      },
      onUnreachable: (address) => {
        const peer = this.idOf(address);
        if (peer !== undefined) this.node.reportUnreachable(peer);
        this.drain();
      },
    });
    this.tickTimer = setInterval(() => {
      this.node.tick();
      this.drain();
    }, timing.tickIntervalMs);
  }

  /** Appends one command (leader only); `done` runs when it is applied here. False when the node refuses it. */
  propose(data: Uint8Array, drain: ProposalDrain, done: Committed): boolean {
    assert(this.pending.size < pendingProposalsMax, `more than ${pendingProposalsMax} proposals pending`);
    const startedMs = performance.now();
    const result = this.node.propose([data]);
    if (!result.ok) return false;
    this.pending.set(result.firstIndex, { term: result.term, startedMs, done });
    if (drain === "each") this.drain();
    else if (!this.drainScheduled) {
      this.drainScheduled = true;
      queueMicrotask(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
    return true;
  }

  campaign(): void {
    this.node.campaign();
    this.drain();
  }

  /** Every Ready in the documented order: persist and fsync, send, apply, advance. */
  drain(): void {
    for (let handled = 0; this.node.hasReady(); handled++) {
      if (handled === readiesPerDrainMax) {
        this.drainTimer ??= setTimeout(() => {
          this.drainTimer = undefined;
          this.drain();
        }, 0);
        break;
      }
      const ready = this.node.ready();
      persistReady(this.storage, ready);
      if (ready.mustSync) this.syncedReadies++;
      this.entriesWritten += ready.entries.length;
      for (const message of ready.messages) {
        const address = this.addressOf(message.to);
        if (address !== undefined) this.transport.send(address, encodeMessage(message));
      }
      for (const entry of ready.committedEntries) this.apply(entry);
      this.node.advance(ready);
    }
    // Callers propose again from their callbacks: only once no Ready is outstanding.
    const completed = this.completed;
    this.completed = [];
    for (const { done, latencyMs } of completed) done(latencyMs);
  }

  private apply(entry: Entry): void {
    const pending = this.pending.get(entry.index);
    if (!pending) return;
    this.pending.delete(entry.index);
    // Another leader replaced the proposal: it was lost, which the caller counts.
    const latencyMs = entry.term === pending.term ? performance.now() - pending.startedMs : Number.NaN;
    this.completed.push({ done: pending.done, latencyMs });
  }

  close(): void {
    clearInterval(this.tickTimer);
    clearTimeout(this.drainTimer);
    this.transport.close();
    this.storage.close?.();
  }
}

export class LoopbackRaftGroup {
  private constructor(readonly nodes: readonly GroupNode[]) {}

  static async start(options: RaftGroupOptions): Promise<LoopbackRaftGroup> {
    const ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
    const addresses = new Map<string, string>();
    const idsByAddress = new Map<string, string>();
    const log = new Logger((line) => console.error(line), new SystemClock(), "warn");
    const prng = new Prng(options.seed);
    const nodes = ids.map((id) => {
      const storage = openStorage(options, id);
      assert(bootstrapStorage(storage, { voters: ids, learners: [] }), `${id}: storage not empty`);
      const node = new GroupNode(id, storage, (peer) => addresses.get(peer), (address) => idsByAddress.get(address), options.timing, prng.fork(), log);
      addresses.set(id, node.transport.localAddress);
      idsByAddress.set(node.transport.localAddress, id);
      return node;
    });
    const group = new LoopbackRaftGroup(nodes);
    nodes[0]!.campaign();
    const deadline = performance.now() + 10_000;
    while (!group.leader()) {
      if (performance.now() > deadline) {
        group.close();
        throw new Error("no leader with a committed entry of its term within 10 s");
      }
      await Bun.sleep(5);
    }
    return group;
  }

  /** The node leading with an entry of its own term committed, if any. */
  leader(): GroupNode | undefined {
    return this.nodes.find((member) => {
      const status = member.node.basicStatus();
      return status.role === "leader" && member.node.logTerm(status.commit) === status.term;
    });
  }

  close(): void {
    for (const node of this.nodes) node.close();
  }
}

function openStorage(options: RaftGroupOptions, id: string): RaftStorage & { close?(): void } {
  if (options.storage === "memory") return new MemoryStorage();
  const opened = SqliteRaftStorage.open(join(options.dir, `${id}.db`));
  if (!opened.ok) throw new Error(opened.error.message);
  return opened.storage;
}

export interface LoadFigures {
  outstanding: number;
  drain: ProposalDrain;
  proposals: number;
  elapsedMs: number;
  latenciesMs: number[];
  /** Proposals whose index another leader filled with a different entry. */
  lost: number;
  /** Entries the leader wrote per fsynced Ready, on average. */
  entriesPerLeaderSync: number;
  /** Fsynced Readies on all nodes together per committed proposal. */
  groupSyncsPerEntry: number;
}

/** Time allowed, after the measured period, for the last proposals to commit. */
const drainLimitMs = 10_000;

/**
 * Keeps `outstanding` proposals of `payload` in flight at the leader for
 * `durationMs` (each commit starts the next), then waits for the last ones.
 * Throws when the leader refuses a proposal or the last ones do not commit
 * within drainLimitMs (the leadership moved).
 */
export async function closedLoop(
  group: LoopbackRaftGroup,
  outstanding: number,
  drain: ProposalDrain,
  durationMs: number,
  payload: Uint8Array,
): Promise<LoadFigures> {
  const leader = group.leader();
  assert(leader !== undefined, "no leader to propose to");
  const latenciesMs: number[] = [];
  let lost = 0;
  const groupSyncs = () => group.nodes.reduce((sum, member) => sum + member.syncedReadies, 0);
  const groupSyncsBefore = groupSyncs();
  const syncsBefore = leader.syncedReadies;
  const writtenBefore = leader.entriesWritten;
  const startedMs = performance.now();
  let inFlight = 0;
  let refused = "";
  const { promise: finished, resolve } = Promise.withResolvers<void>();
  const proposeOne = (): void => {
    if (!leader.propose(payload, drain, onCommitted)) {
      refused = `proposal refused by ${leader.id}: ${leader.node.basicStatus().role}`;
      if (inFlight === 0) resolve();
      return;
    }
    inFlight++;
  };
  const onCommitted: Committed = (latencyMs) => {
    inFlight--;
    if (Number.isNaN(latencyMs)) lost++;
    else latenciesMs.push(latencyMs);
    if (refused === "" && performance.now() - startedMs < durationMs) proposeOne();
    else if (inFlight === 0) resolve();
  };
  for (let i = 0; i < outstanding; i++) proposeOne();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timed out">((settle) => (timer = setTimeout(() => settle("timed out"), durationMs + drainLimitMs)));
  const outcome = await Promise.race([finished, timedOut]);
  clearTimeout(timer);
  if (outcome === "timed out") throw new Error(`${inFlight} proposals still uncommitted ${drainLimitMs} ms after the run (leader now: ${group.leader()?.id ?? "none"})`);
  if (refused !== "") throw new Error(refused);
  const syncs = leader.syncedReadies - syncsBefore;
  return {
    outstanding,
    drain,
    proposals: latenciesMs.length,
    elapsedMs: performance.now() - startedMs,
    latenciesMs,
    lost,
    entriesPerLeaderSync: syncs === 0 ? 0 : (leader.entriesWritten - writtenBefore) / syncs,
    groupSyncsPerEntry: latenciesMs.length === 0 ? 0 : (groupSyncs() - groupSyncsBefore) / latenciesMs.length,
  };
}
