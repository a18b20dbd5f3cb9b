// The shell that runs one Raft node inside the simulator: it ticks the core
// from the node's drifting clock, feeds it datagrams (JSON-encoded messages),
// and handles each Ready in the documented order: write, fsync (which takes
// simulated time, during which the node may crash), send, apply, install,
// advance. It also takes snapshots of its state machine and compacts the log,
// and reports what it does to an observer that checks the invariants.

import { assert } from "../../../src/lib/assert.ts";
import {
  type ConfState,
  type Entry,
  type ProposeResult,
  type Ready,
  type Snapshot,
  RawNode,
  bootstrapStorage,
  decodeMessage,
  encodeMessage,
} from "../../../src/raft/index.ts";
import type { NodeContext, SimProcess } from "../cluster.ts";
import type { SimStreamEnd } from "../network.ts";
import { ChainMachine } from "./chain-machine.ts";
import { SimDiskStorage } from "./disk-storage.ts";

export interface ShellKnobs {
  tickIntervalMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  inflightMessagesMax: number;
  appendBytesMax: number;
  learnerCatchUpEntriesMax: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  snapshotEveryEntries: number;
  /** Entries kept in the log behind a new snapshot, for followers that lag a little. */
  keepEntriesAfterSnapshot: number;
  fsyncDelayMinMs: number;
  fsyncDelayMaxMs: number;
  /** A deliberately broken shell that sends before its writes are durable, to prove the checker. */
  sendBeforeSync: boolean;
}

export interface ShellObserver {
  started(shell: RaftShell): void;
  /** A Ready was taken, before any of it is written. */
  readyTaken(shell: RaftShell, ready: Ready): void;
  /** A Ready's writes are durable; nothing of it was sent before (unless the shell is the broken kind). */
  persisted(shell: RaftShell, ready: Ready): void;
  applied(shell: RaftShell, entry: Entry): void;
  installed(shell: RaftShell, snapshot: Snapshot): void;
  /** A client's proposal was applied at its (index, term): the client is told it succeeded. */
  acknowledged(shell: RaftShell, index: number, payload: string): void;
}

/** Proposals a node remembers while waiting to acknowledge them. */
export const pendingProposalsMax = 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class RaftShell implements SimProcess {
  readonly node: RawNode;
  readonly storage: SimDiskStorage;
  decodeErrors = 0;
  private inFlight: Ready | undefined;
  private readonly pendingProposals = new Map<number, { term: number; payload: string }>();

  constructor(
    readonly context: NodeContext,
    private readonly knobs: ShellKnobs,
    private readonly observer: ShellObserver,
    bootstrap: ConfState | undefined,
    /** A fresh state machine for this process lifetime: the chain machine, or one built on it. */
    readonly machine: ChainMachine = new ChainMachine(),
  ) {
    this.storage = SimDiskStorage.open(context.disk);
    if (bootstrap) bootstrapStorage(this.storage, bootstrap);
    const snapshot = this.storage.snapshot();
    if (snapshot.meta.index > 0) this.machine.restore(snapshot.data, snapshot.meta.index, snapshot.meta.conf);
    this.node = new RawNode({
      id: context.address,
      storage: this.storage,
      prng: context.prng,
      electionTicks: knobs.electionTicks,
      heartbeatTicks: knobs.heartbeatTicks,
      preVote: knobs.preVote,
      checkQuorum: knobs.checkQuorum,
      inflightMessagesMax: knobs.inflightMessagesMax,
      appendBytesMax: knobs.appendBytesMax,
      learnerCatchUpEntriesMax: knobs.learnerCatchUpEntriesMax,
      appliedIndex: this.machine.index,
    });
    observer.started(this);
    this.scheduleTick();
    this.pump();
  }

  get address(): string {
    return this.context.address;
  }

  private scheduleTick(): void {
    this.context.setTimer(this.knobs.tickIntervalMs, "raft-tick", () => {
      this.node.tick();
      this.pump();
      this.scheduleTick();
    });
  }

  onDatagram(_from: string, bytes: Uint8Array): void {
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      this.decodeErrors++;
      return;
    }
    this.node.step(decoded.message);
    this.pump();
  }

  onStream(stream: SimStreamEnd): void {
    stream.close("raft uses datagrams");
  }

  /** Propose one client command; the client learns the outcome through the observer. */
  propose(payload: string): ProposeResult {
    const result = this.node.propose([encoder.encode(payload)]);
    if (result.ok && this.pendingProposals.size < pendingProposalsMax) {
      this.pendingProposals.set(result.firstIndex, { term: result.term, payload });
    }
    this.pump();
    return result;
  }

  /** Run a local request against the node (membership change, transfer), then its Ready. */
  act<T>(action: (node: RawNode) => T): T {
    const result = action(this.node);
    this.pump();
    return result;
  }

  /** Take the next Ready, if any and if none is still being fsynced, and write it. */
  private pump(): void {
    if (this.inFlight || !this.node.hasReady()) return;
    const ready = this.node.ready();
    this.inFlight = ready;
    this.observer.readyTaken(this, ready);
    if (ready.softState) this.context.trace(`${ready.softState.role} (leader ${ready.softState.lead || "none"})`);
    if (ready.hardState) this.context.trace(`hard state term ${ready.hardState.term} vote ${ready.hardState.vote || "none"} commit ${ready.hardState.commit}`);
    if (ready.snapshot) this.storage.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) this.storage.append(ready.entries);
    if (ready.hardState) this.storage.setHardState(ready.hardState);
    if (this.knobs.sendBeforeSync) this.send(ready);
    const { fsyncDelayMinMs, fsyncDelayMaxMs } = this.knobs;
    const delayMs = fsyncDelayMinMs + this.context.prng.float() * (fsyncDelayMaxMs - fsyncDelayMinMs);
    if (delayMs <= 0) this.finish(ready);
    else this.context.setTimer(delayMs, "fsync", () => this.finish(ready));
  }

  /** The fsync completed: now send, apply, install, advance, then look for more work. */
  private finish(ready: Ready): void {
    assert(this.inFlight === ready, "finished a Ready that is not in flight");
    // A commit-index-only change need not be durable: a node that forgets it
    // relearns the commit index from the leader.
    if (ready.mustSync || ready.snapshot) this.storage.sync();
    this.observer.persisted(this, ready);
    if (!this.knobs.sendBeforeSync) this.send(ready);
    for (const entry of ready.committedEntries) this.apply(entry);
    if (ready.snapshot) {
      this.machine.restore(ready.snapshot.data, ready.snapshot.meta.index, ready.snapshot.meta.conf);
      this.pendingProposals.clear();
      this.observer.installed(this, ready.snapshot);
    }
    this.node.advance(ready);
    this.inFlight = undefined;
    this.maybeSnapshot();
    this.pump();
  }

  private send(ready: Ready): void {
    for (const message of ready.messages) this.context.sendDatagram(message.to, encodeMessage(message));
  }

  private apply(entry: Entry): void {
    this.machine.apply(entry);
    this.observer.applied(this, entry);
    const pending = this.pendingProposals.get(entry.index);
    if (!pending) return;
    this.pendingProposals.delete(entry.index);
    if (entry.kind === "normal" && entry.term === pending.term && decoder.decode(entry.data) === pending.payload) {
      this.observer.acknowledged(this, entry.index, pending.payload);
    }
  }

  private maybeSnapshot(): void {
    const last = this.storage.snapshot().meta.index;
    if (this.machine.index - last < this.knobs.snapshotEveryEntries) return;
    this.storage.createSnapshot(this.machine.index, this.machine.conf, this.machine.snapshotData());
    this.storage.compact(Math.max(this.storage.firstIndex() - 1, this.machine.index - this.knobs.keepEntriesAfterSnapshot));
    this.storage.sync();
    this.context.trace(`snapshot at ${this.machine.index}`);
  }
}
