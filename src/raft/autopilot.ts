// Raft membership without an operator: decides, from what gossip says about
// the members and what Raft says about itself, the one membership action to
// take next. Pure: the shell feeds it a snapshot and carries out the action.
//
// - Bootstrap (like Consul's bootstrap_expect): a node that has no Raft state
//   and sees no existing cluster waits until it sees `bootstrapExpect` live
//   Raft-capable members, including itself, and until that set has stayed
//   the same for `bootstrapStableMs`; the founders are then the first
//   `bootstrapExpect` of them by name, so every node that sees the same
//   members picks the same set. A node not among the founders waits to be
//   added. The founders' set also names the cluster (see clusterIdOf), so
//   nodes of two clusters that formed apart never exchange Raft messages.
// - Growth (leader only): live Raft-capable members join as learners, one
//   change at a time, and a learner that has caught up is promoted while the
//   voters are fewer than the target: the largest odd number not above
//   `maxVoters` or the number of eligible members.
// - Repair (leader only): a voter or learner that gossip has held dead for
//   `deadRemoveMs`, or that left, is removed, provided the voters that remain
//   alive still form a majority of the new configuration.
// - Preference (leader only): leadership goes to a live, caught-up,
//   non-cordoned voter whose priority is lower (better) than the leader's;
//   equal priorities never move it, and a transfer is not retried sooner
//   than `transferHoldMs`, so leadership cannot flap.

import type { NodeId } from "./types.ts";

export interface AutopilotMember {
  name: NodeId;
  raftCapable: boolean;
  state: "alive" | "suspect" | "dead" | "left";
  /** Local time of the member's last state change. */
  stateChangeMs: number;
  priority: number;
  cordoned: boolean;
  /** The cluster id a member advertises once it belongs to a Raft cluster. */
  clusterId?: string;
}

export interface AutopilotRaft {
  isLeader: boolean;
  voters: readonly NodeId[];
  learners: readonly NodeId[];
  /** Highest index known replicated on each peer (leader only). */
  match: Readonly<Record<NodeId, number>>;
  lastIndex: number;
  /** A membership change is appended but not yet committed: no new change may start. */
  changePending: boolean;
}

export interface AutopilotConfig {
  bootstrapExpect: number;
  maxVoters: number;
  deadRemoveMs: number;
  bootstrapStableMs: number;
  /** A learner this close to the leader's last index counts as caught up. */
  catchUpLagMax: number;
  transferHoldMs: number;
}

export const autopilotDefaults: Omit<AutopilotConfig, "bootstrapExpect" | "maxVoters"> = {
  deadRemoveMs: 30_000,
  bootstrapStableMs: 3_000,
  catchUpLagMax: 16,
  transferHoldMs: 10_000,
};

export type AutopilotAction =
  | { kind: "bootstrap"; voters: NodeId[]; clusterId: string }
  | { kind: "add-learner"; id: NodeId }
  | { kind: "promote"; id: NodeId }
  | { kind: "remove"; id: NodeId; reason: string }
  | { kind: "transfer"; to: NodeId; reason: string };

export interface AutopilotInput {
  nowMs: number;
  self: NodeId;
  /** Raft state of this node; undefined when it has never been part of a cluster. */
  raft: AutopilotRaft | undefined;
  members: readonly AutopilotMember[];
  config: AutopilotConfig;
}

/** A stable name for a cluster formed from `founders`. */
export function clusterIdOf(founders: readonly NodeId[]): string {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (const char of [...founders].sort().join("\n")) {
    const c = char.charCodeAt(0);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
  }
  return `${a.toString(16).padStart(8, "0")}${b.toString(16).padStart(8, "0")}`;
}

function live(member: AutopilotMember): boolean {
  return member.state === "alive" || member.state === "suspect";
}

/** Remembers how long the would-be founder set has stayed the same, across calls. */
export class Autopilot {
  private candidate: { key: string; sinceMs: number } | undefined;
  private lastTransferMs = Number.NEGATIVE_INFINITY;

  decide(input: AutopilotInput): AutopilotAction | undefined {
    if (!input.raft) return this.bootstrap(input);
    this.candidate = undefined;
    if (!input.raft.isLeader || input.raft.changePending) return undefined;
    return this.repair(input) ?? this.grow(input) ?? this.prefer(input);
  }

  /** Transfers must be reported, so the hold time starts when one is made. */
  noteTransfer(nowMs: number): void {
    this.lastTransferMs = nowMs;
  }

  private bootstrap(input: AutopilotInput): AutopilotAction | undefined {
    const { config, members, self, nowMs } = input;
    // An existing cluster means we wait to be added, whatever we count.
    if (members.some((m) => live(m) && m.clusterId !== undefined)) return undefined;
    const eligible = members.filter((m) => m.raftCapable && m.state === "alive").map((m) => m.name).sort();
    if (!eligible.includes(self) || eligible.length < config.bootstrapExpect) {
      this.candidate = undefined;
      return undefined;
    }
    const founders = eligible.slice(0, config.bootstrapExpect);
    const key = founders.join(",");
    if (this.candidate?.key !== key) {
      this.candidate = { key, sinceMs: nowMs };
      if (config.bootstrapExpect > 1) return undefined;
    }
    if (nowMs - this.candidate.sinceMs < (config.bootstrapExpect > 1 ? config.bootstrapStableMs : 0)) return undefined;
    if (!founders.includes(self)) return undefined;
    return { kind: "bootstrap", voters: founders, clusterId: clusterIdOf(founders) };
  }

  private repair(input: AutopilotInput): AutopilotAction | undefined {
    const raft = input.raft!;
    const byName = new Map(input.members.map((m) => [m.name, m]));
    const gone = (id: NodeId): string | undefined => {
      if (id === input.self) return undefined;
      const member = byName.get(id);
      if (!member) return undefined;
      if (member.state === "left") return "left the cluster";
      if (member.state === "dead" && input.nowMs - member.stateChangeMs >= input.config.deadRemoveMs) {
        return `dead for ${Math.round((input.nowMs - member.stateChangeMs) / 1000)} s`;
      }
      return undefined;
    };
    for (const id of [...raft.learners].sort()) {
      const reason = gone(id);
      if (reason) return { kind: "remove", id, reason: `learner ${reason}` };
    }
    for (const id of [...raft.voters].sort()) {
      const reason = gone(id);
      if (!reason) continue;
      const remaining = raft.voters.filter((v) => v !== id);
      const liveRemaining = remaining.filter((v) => v === input.self || (byName.get(v) && live(byName.get(v)!))).length;
      if (remaining.length > 0 && liveRemaining > remaining.length / 2) return { kind: "remove", id, reason: `voter ${reason}` };
    }
    return undefined;
  }

  private grow(input: AutopilotInput): AutopilotAction | undefined {
    const raft = input.raft!;
    const inCluster = new Set([...raft.voters, ...raft.learners]);
    const newcomer = input.members
      .filter((m) => m.raftCapable && m.state === "alive" && !inCluster.has(m.name))
      .map((m) => m.name)
      .sort()[0];
    if (newcomer !== undefined) return { kind: "add-learner", id: newcomer };
    const eligible = raft.voters.length + raft.learners.filter((id) => this.isLive(input, id)).length;
    const target = largestOddAtMost(Math.min(input.config.maxVoters, eligible));
    if (raft.voters.length >= target) return undefined;
    const ready = raft.learners
      .filter((id) => this.isLive(input, id) && (raft.match[id] ?? 0) + input.config.catchUpLagMax >= raft.lastIndex)
      .sort(this.byPreference(input))[0];
    return ready === undefined ? undefined : { kind: "promote", id: ready };
  }

  private prefer(input: AutopilotInput): AutopilotAction | undefined {
    if (input.nowMs - this.lastTransferMs < input.config.transferHoldMs) return undefined;
    const raft = input.raft!;
    const self = input.members.find((m) => m.name === input.self);
    if (!self) return undefined;
    const best = raft.voters
      .filter((id) => id !== input.self && this.isLive(input, id) && (raft.match[id] ?? 0) >= raft.lastIndex)
      .map((id) => input.members.find((m) => m.name === id)!)
      .filter((m) => m !== undefined && !m.cordoned)
      .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1))[0];
    if (!best) return undefined;
    if (self.cordoned) return { kind: "transfer", to: best.name, reason: "this node is cordoned" };
    if (best.priority < self.priority) {
      return { kind: "transfer", to: best.name, reason: `priority ${best.priority} is better than ${self.priority}` };
    }
    return undefined;
  }

  private isLive(input: AutopilotInput, id: NodeId): boolean {
    const member = input.members.find((m) => m.name === id);
    return member !== undefined && member.state === "alive";
  }

  private byPreference(input: AutopilotInput) {
    return (a: NodeId, b: NodeId) => {
      const pa = input.members.find((m) => m.name === a)?.priority ?? Number.MAX_SAFE_INTEGER;
      const pb = input.members.find((m) => m.name === b)?.priority ?? Number.MAX_SAFE_INTEGER;
      return pa - pb || (a < b ? -1 : 1);
    };
  }
}

function largestOddAtMost(n: number): number {
  if (n <= 1) return 1;
  return n % 2 === 1 ? n : n - 1;
}
