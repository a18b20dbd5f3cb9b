// A tiny in-process network of Raft nodes for scripted interaction tests:
// no clocks and no kernel, just explicit ticks and a FIFO of messages that
// the test delivers (or drops) step by step. Each node handles its Ready in
// the documented order over a MemoryStorage and keeps the entries it applied.

import { Prng } from "../../../src/lib/prng.ts";
import { assert } from "../../../src/lib/assert.ts";
import {
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type RaftOptions,
  type Ready,
  type Snapshot,
  MemoryStorage,
  RawNode,
  bootstrapStorage,
  persistReady,
} from "../../../src/raft/index.ts";

export interface ScriptedMember {
  readonly id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  /** Normal entries applied, as strings, by index. */
  applied: Map<number, string>;
  appliedIndex: number;
  installedSnapshot: Snapshot | undefined;
  readies: Ready[];
}

export type NodeOptions = Partial<Omit<RaftOptions, "id" | "storage" | "prng">>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const text = (value: string): Uint8Array => encoder.encode(value);

export class ScriptedCluster {
  readonly members = new Map<NodeId, ScriptedMember>();
  /** Messages sent and not yet delivered, oldest first. */
  queue: Message[] = [];
  /** Directed links that drop everything ("a>b"). */
  readonly cut = new Set<string>();
  /** When set, only messages it accepts are delivered; the rest are dropped. */
  filter: ((message: Message) => boolean) | undefined;
  constructor(
    ids: readonly NodeId[],
    private readonly defaults: NodeOptions = {},
    initial: ConfState = { voters: [...ids].sort(), learners: [] },
    /** Seed of the first node's Prng; each further node takes the next one. */
    private seed = 1,
  ) {
    for (const id of ids) this.add(id, initial.voters.includes(id) || initial.learners.includes(id) ? initial : undefined);
  }

  /** Add a node; with `bootstrap` it founds the group with that membership, else it starts empty. */
  add(id: NodeId, bootstrap: ConfState | undefined, options: NodeOptions = {}): ScriptedMember {
    const storage = new MemoryStorage();
    if (bootstrap) assert(bootstrapStorage(storage, bootstrap), `bootstrap of ${id} failed`);
    const member: ScriptedMember = { id, storage, node: this.newNode(id, storage, options), applied: new Map(), appliedIndex: 0, installedSnapshot: undefined, readies: [] };
    this.members.set(id, member);
    this.handleReady(member);
    return member;
  }

  private newNode(id: NodeId, storage: MemoryStorage, options: NodeOptions): RawNode {
    return new RawNode({ electionTicks: 10, heartbeatTicks: 1, ...this.defaults, ...options, id, storage, prng: new Prng(this.seed++) });
  }

  member(id: NodeId): ScriptedMember {
    const member = this.members.get(id);
    assert(member, `no member ${id}`);
    return member;
  }

  node(id: NodeId): RawNode {
    return this.member(id).node;
  }

  /** Restart `id` from what its storage holds (MemoryStorage loses nothing). */
  restart(id: NodeId, options: NodeOptions = {}): void {
    const member = this.member(id);
    member.node = this.newNode(id, member.storage, { appliedIndex: member.appliedIndex, ...options });
    this.handleReady(member);
  }

  /** Run every pending Ready of `member` in the documented order. */
  handleReady(member: ScriptedMember): void {
    for (let round = 0; round < 100 && member.node.hasReady(); round++) {
      const ready = member.node.ready();
      member.readies.push(ready);
      persistReady(member.storage, ready);
      this.queue.push(...ready.messages);
      for (const entry of ready.committedEntries) this.apply(member, entry);
      if (ready.snapshot) {
        member.installedSnapshot = ready.snapshot;
        member.appliedIndex = ready.snapshot.meta.index;
        member.applied = new Map(JSON.parse(decoder.decode(ready.snapshot.data)) as [number, string][]);
      }
      member.node.advance(ready);
    }
  }

  private apply(member: ScriptedMember, entry: Entry): void {
    assert(entry.index === member.appliedIndex + 1, `${member.id} applied ${entry.index} after ${member.appliedIndex}`);
    member.appliedIndex = entry.index;
    if (entry.kind === "normal") member.applied.set(entry.index, decoder.decode(entry.data));
  }

  /** Snapshot `id`'s applied state and compact its log, keeping `keepEntries` behind the snapshot. */
  snapshot(id: NodeId, keepEntries = 0): Snapshot {
    const member = this.member(id);
    const data = encoder.encode(JSON.stringify([...member.applied]));
    const snapshot = member.storage.createSnapshot(member.appliedIndex, member.node.status().conf, data);
    member.storage.compact(Math.max(member.storage.firstIndex() - 1, member.appliedIndex - keepEntries));
    return snapshot;
  }

  tick(id: NodeId, times = 1): void {
    const member = this.member(id);
    for (let i = 0; i < times; i++) {
      member.node.tick();
      this.handleReady(member);
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const id of [...this.members.keys()].sort()) this.tick(id);
  }

  campaign(id: NodeId): void {
    const member = this.member(id);
    member.node.campaign();
    this.handleReady(member);
  }

  propose(id: NodeId, ...values: string[]): ReturnType<RawNode["propose"]> {
    const member = this.member(id);
    const result = member.node.propose(values.map(text));
    this.handleReady(member);
    return result;
  }

  /** Call `action` on a node's RawNode, then run its Ready. */
  act<T>(id: NodeId, action: (node: RawNode) => T): T {
    const member = this.member(id);
    const result = action(member.node);
    this.handleReady(member);
    return result;
  }

  /** Take all queued messages (for inspection); they will not be delivered. */
  take(): Message[] {
    const taken = this.queue;
    this.queue = [];
    return taken;
  }

  deliver(message: Message): void {
    const target = this.members.get(message.to);
    if (!target || this.cut.has(`${message.from}>${message.to}`)) return;
    if (this.filter && !this.filter(message)) return;
    target.node.step(message);
    this.handleReady(target);
  }

  /** Deliver messages until none is left (bounded, so a livelock fails the test). */
  stabilize(messagesMax = 10_000): number {
    let delivered = 0;
    while (this.queue.length > 0) {
      assert(delivered < messagesMax, `still busy after ${messagesMax} messages`);
      this.deliver(this.queue.shift()!);
      delivered++;
    }
    return delivered;
  }

  isolate(id: NodeId): void {
    for (const other of this.members.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
    this.filter = undefined;
  }

  /** Elect `id`: it campaigns and every message is delivered. */
  elect(id: NodeId): void {
    this.campaign(id);
    this.stabilize();
    assert(this.node(id).status().role === "leader", `${id} did not win: ${JSON.stringify(this.node(id).status())}`);
  }

  values(id: NodeId): string[] {
    const applied = this.member(id).applied;
    return [...applied.keys()].sort((a, b) => a - b).map((index) => applied.get(index)!);
  }
}
