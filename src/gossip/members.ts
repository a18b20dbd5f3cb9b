// The member table of the SWIM core: every known member with its state and
// incarnation, the shuffled round-robin probe order, random selection of
// gossip targets, and tombstones that remember members removed after death
// (their incarnation, so an old "alive" message cannot resurrect them, and
// their address, so that a failed member can be contacted again after a
// partition heals, as Serf's reconnect does).

import { assert } from "../lib/assert.ts";
import type { Prng } from "../lib/prng.ts";
import { formatHostPort } from "../lib/ip.ts";
import type { NodeState } from "./messages.ts";
import type { MemberView } from "./types.ts";

export interface Member {
  name: string;
  host: string;
  port: number;
  /** 4 or 16 bytes, as gossiped in alive messages. */
  addrBytes: Uint8Array;
  meta: Uint8Array;
  incarnation: number;
  state: NodeState;
  /** Local time of the last state change. */
  stateChangeMs: number;
  vsn: Uint8Array;
}

export function addressOf(member: Pick<Member, "host" | "port">): string {
  return formatHostPort(member.host, member.port);
}

export function viewOf(member: Member): MemberView {
  return {
    name: member.name,
    address: addressOf(member),
    host: member.host,
    port: member.port,
    state: member.state,
    incarnation: member.incarnation,
    meta: member.meta.slice(),
    vsn: Array.from(member.vsn),
  };
}

/** Highest protocol version the member advertises (PMax). */
export function protocolMaxOf(member: Member): number {
  return member.vsn[1] ?? 1;
}

interface Tombstone {
  /** The member as it was when removed: dead or left, with its last incarnation and address. */
  member: Member;
  removedAtMs: number;
}

function isLive(state: NodeState): boolean {
  return state === "alive" || state === "suspect";
}

/**
 * Members change state only through setState, so that the live count stays
 * exact: it is read on every packet (the retransmit limit), and counting
 * thousands of members each time would dominate a large cluster.
 */
export class MemberTable {
  private readonly members = new Map<string, Member>();
  private readonly tombstones = new Map<string, Tombstone>();
  /** Members neither dead nor left, this node included. */
  private live = 0;
  private probeOrder: string[] = [];
  private probeIndex = 0;

  constructor(
    readonly selfName: string,
    private readonly prng: Prng,
    private readonly membersMax: number,
    private readonly tombstoneMs: number,
  ) {}

  get size(): number {
    return this.members.size;
  }

  get(name: string): Member | undefined {
    return this.members.get(name);
  }

  self(): Member {
    const self = this.members.get(this.selfName);
    assert(self, "the local member is always in the table");
    return self;
  }

  all(): Member[] {
    return [...this.members.values()];
  }

  /** False when the table is full: the caller drops the news and counts it. */
  add(member: Member): boolean {
    if (!this.insert(member)) return false;
    this.tombstones.delete(member.name);
    return true;
  }

  private insert(member: Member): boolean {
    assert(!this.members.has(member.name), `member ${member.name} already present`);
    if (this.members.size >= this.membersMax) return false;
    this.members.set(member.name, member);
    if (isLive(member.state)) this.live++;
    // memberlist puts new members at a random place in the probe order so
    // that a newcomer is probed within one round by everyone, but not by all
    // at once: it appends the newcomer and swaps it with a random member
    // (O(1); inserting in the middle would cost the whole order, per member,
    // while thousands join).
    const order = this.probeOrder;
    const position = this.prng.int(order.length + 1);
    order.push(member.name);
    order[order.length - 1] = order[position]!;
    order[position] = member.name;
    return true;
  }

  /** Members that are neither dead nor left, this node included: the n of every formula. */
  liveCount(): number {
    assert(this.live >= 0 && this.live <= this.members.size, `live count ${this.live} out of range`);
    return this.live;
  }

  /** Change a member's state, as of `nowMs`. */
  setState(member: Member, state: NodeState, nowMs: number): void {
    assert(this.members.get(member.name) === member, `member ${member.name} is not in the table`);
    this.live += (isLive(state) ? 1 : 0) - (isLive(member.state) ? 1 : 0);
    // Back among the living: a later death starts a new tombstone time.
    if (isLive(state)) this.tombstones.delete(member.name);
    member.state = state;
    member.stateChangeMs = nowMs;
  }

  /** Move a member to a new gossip address. */
  setAddress(member: Member, host: string, port: number, addrBytes: Uint8Array): void {
    assert(this.members.get(member.name) === member, `member ${member.name} is not in the table`);
    member.host = host;
    member.port = port;
    member.addrBytes = addrBytes;
  }

  /** The last record of `name` (dead or left), when it was removed from the table. */
  tombstone(name: string, nowMs: number): Readonly<Member> | undefined {
    const stone = this.tombstones.get(name);
    if (!stone) return undefined;
    if (nowMs - stone.removedAtMs > this.tombstoneMs) {
      this.tombstones.delete(name);
      return undefined;
    }
    return stone.member;
  }

  /**
   * Put a removed member back into the table in the state it had, as of
   * `nowMs`, so that it is gossiped to and listed again; undefined when
   * the table is full or there is no such tombstone.
   */
  restore(name: string, nowMs: number): Member | undefined {
    const stone = this.tombstone(name, nowMs);
    if (!stone || this.members.has(name)) return undefined;
    const member: Member = { ...stone, stateChangeMs: nowMs };
    // The tombstone stays, so that its time keeps counting from the first
    // removal: restoring and removing again must not keep a member that never
    // comes back on the reconnect list forever.
    return this.insert(member) ? member : undefined;
  }

  /**
   * Names of failed members, dead (not left) and not this node: those in the
   * table and those removed within the tombstone time. Sorted, so a random
   * pick from it is reproducible.
   */
  failedNames(nowMs: number): string[] {
    const names: string[] = [];
    for (const member of this.members.values()) {
      if (member.state === "dead" && member.name !== this.selfName) names.push(member.name);
    }
    for (const [name, stone] of this.tombstones) {
      if (nowMs - stone.removedAtMs > this.tombstoneMs) continue;
      if (stone.member.state === "dead" && !this.members.has(name)) names.push(name);
    }
    return names.sort();
  }

  /** The next member to probe, skipping this node and members that are dead or left. */
  nextProbeTarget(nowMs: number, removeAfterMs: number): Member | undefined {
    for (let checked = 0; checked <= this.probeOrder.length; checked++) {
      if (this.probeIndex >= this.probeOrder.length) this.resetProbeRound(nowMs, removeAfterMs);
      const name = this.probeOrder[this.probeIndex++];
      if (name === undefined) return undefined;
      const member = this.members.get(name);
      if (!member || name === this.selfName) continue;
      if (member.state === "alive" || member.state === "suspect") return member;
    }
    return undefined;
  }

  /**
   * End of a probe round: forget members dead or left for longer than
   * `removeAfterMs` (keeping a tombstone), and shuffle the order anew.
   */
  resetProbeRound(nowMs: number, removeAfterMs: number): void {
    for (const member of [...this.members.values()]) {
      const gone = member.state === "dead" || member.state === "left";
      if (gone && member.name !== this.selfName && nowMs - member.stateChangeMs > removeAfterMs) {
        this.members.delete(member.name);
        this.rememberTombstone(member, nowMs);
      }
    }
    this.probeOrder = this.prng.shuffle([...this.members.keys()].sort());
    this.probeIndex = 0;
  }

  private rememberTombstone(member: Member, nowMs: number): void {
    const earlier = this.tombstones.get(member.name);
    if (!earlier && this.tombstones.size >= this.membersMax) {
      const oldest = this.tombstones.keys().next().value;
      if (oldest !== undefined) this.tombstones.delete(oldest);
    }
    this.tombstones.set(member.name, { member: { ...member }, removedAtMs: earlier?.removedAtMs ?? nowMs });
  }

  /**
   * Up to k distinct random members accepted by `eligible`, never this node.
   * Like memberlist's kRandomNodes it samples at most 3n random positions
   * instead of filtering the whole table, so a gossip round costs O(k) in
   * the common case even with thousands of members.
   */
  randomMembers(k: number, eligible: (member: Member) => boolean): Member[] {
    const names = this.probeOrder;
    if (names.length === 0) return [];
    const chosen: Member[] = [];
    const attemptsMax = 3 * names.length;
    for (let attempt = 0; attempt < attemptsMax && chosen.length < k; attempt++) {
      const name = names[this.prng.int(names.length)]!;
      if (name === this.selfName || chosen.some((m) => m.name === name)) continue;
      const member = this.members.get(name);
      if (member && eligible(member)) chosen.push(member);
    }
    return chosen;
  }
}
