// How the agent's Raft node sees the gossip members, as pure functions: a
// member's Raft address, cluster and preferences from its metadata; the
// autopilot's view of the members (members of another cluster do not count,
// and voters that gossip has forgotten still count as dead); which messages
// pass between clusters; and when an operator's remove-peer is refused.
//
// Cluster ids are what keep two clusters apart. A node that belongs to a
// cluster takes Raft messages only from members that advertise the same
// cluster, or that advertise none yet but are in its configuration (a node
// being added, or a founder whose metadata has not spread yet). A node that
// belongs to no cluster takes messages only from members that advertise one,
// and by taking the first it joins that cluster.

import type { AutopilotMember } from "../raft/autopilot.ts";
import type { ConfState, NodeId } from "../raft/index.ts";
import type { NodeState } from "../gossip/messages.ts";
import { decodeMemberMeta } from "../state/member-meta.ts";
import { formatHostPort } from "../lib/ip.ts";

/** What the Raft node needs to know of one gossip member. */
export interface RaftMember {
  name: string;
  state: NodeState;
  stateChangeMs: number;
  /** "ip:port" of its Raft listener; undefined when it takes no part in Raft or is not one of ours. */
  raftAddress: string | undefined;
  /** "http://ip:port" of its control API, when it advertises one. */
  apiUrl: string | undefined;
  priority: number;
  cordoned: boolean;
  clusterId: string | undefined;
}

/** The gossip fields describeMember reads. */
export interface GossipMemberFields {
  name: string;
  host: string;
  state: NodeState;
  stateChangeMs: number;
  meta: Uint8Array;
}

/** Priority given to members whose metadata is not ours: never preferred. */
export const unknownPriority = Number.MAX_SAFE_INTEGER;

export function describeMember(member: GossipMemberFields): RaftMember {
  const meta = decodeMemberMeta(member.meta);
  const host = member.host;
  return {
    name: member.name,
    state: member.state,
    stateChangeMs: member.stateChangeMs,
    raftAddress: meta && meta.raft_port > 0 ? formatHostPort(host, meta.raft_port) : undefined,
    apiUrl: meta ? `http://${formatHostPort(host, meta.api_port)}` : undefined,
    priority: meta?.priority ?? unknownPriority,
    cordoned: meta?.cordoned ?? false,
    clusterId: meta?.raft_cluster,
  };
}

export function isLive(state: NodeState): boolean {
  return state === "alive" || state === "suspect";
}

/**
 * Remembers, for each voter and learner, when gossip last showed it dead or
 * left, so that one gossip has forgotten (it drops dead members after a
 * while) still counts as dead since then, and one it never knew (this node
 * restarted) counts as dead since it was first missed. Holds only members of
 * the configuration, so it is bounded by the configuration's size.
 */
export class GoneMembers {
  private readonly lastSeen = new Map<NodeId, { state: NodeState; stateChangeMs: number; priority: number }>();

  /** Stand-ins for the configuration's members that gossip does not list. */
  standIns(present: readonly RaftMember[], tracked: readonly NodeId[], self: NodeId, nowMs: number): AutopilotMember[] {
    const byName = new Map(present.map((member) => [member.name, member]));
    const standIns: AutopilotMember[] = [];
    for (const name of tracked) {
      if (name === self) continue;
      const member = byName.get(name);
      if (member) {
        this.lastSeen.set(name, { state: member.state, stateChangeMs: member.stateChangeMs, priority: member.priority });
        continue;
      }
      let seen = this.lastSeen.get(name);
      if (!seen || isLive(seen.state)) {
        seen = { state: "dead", stateChangeMs: nowMs, priority: seen?.priority ?? unknownPriority };
        this.lastSeen.set(name, seen);
      }
      // Dead, also when it had left: see autopilotMembers.
      standIns.push({ name, raftCapable: true, state: "dead", stateChangeMs: seen.stateChangeMs, priority: seen.priority, cordoned: false });
    }
    for (const name of [...this.lastSeen.keys()]) if (!tracked.includes(name)) this.lastSeen.delete(name);
    return standIns;
  }
}

/**
 * The members as the autopilot should see them. Once this node belongs to a
 * cluster, members of another cluster are not Raft-capable here: adding them
 * would only make learners that never catch up, since no message passes.
 *
 * A member that left gracefully counts as dead since it left. An agent leaves
 * gossip whenever it stops, including for a restart or an upgrade, and taking
 * it out of the configuration at once would make every rolling restart remove
 * and re-add voters, with the quorum smaller in between; like a crashed node,
 * it is removed only if it stays away for the dead-member delay.
 */
export function autopilotMembers(
  members: readonly RaftMember[],
  selfCluster: string | undefined,
  standIns: readonly AutopilotMember[],
): AutopilotMember[] {
  const mapped = members.map((member): AutopilotMember => {
    const foreign = selfCluster !== undefined && member.clusterId !== undefined && member.clusterId !== selfCluster;
    return {
      name: member.name,
      raftCapable: member.raftAddress !== undefined && !foreign,
      state: member.state === "left" ? "dead" : member.state,
      stateChangeMs: member.stateChangeMs,
      priority: member.priority,
      cordoned: member.cordoned,
      ...(member.clusterId === undefined ? {} : { clusterId: member.clusterId }),
    };
  });
  return [...mapped, ...standIns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The founders this node would pick from its view, exactly as the Autopilot
 * picks them (the first `expected` live Raft-capable members by name), when
 * it is one of them.
 */
export function foundersInView(members: readonly RaftMember[], expected: number, self: NodeId): NodeId[] | undefined {
  const eligible = members
    .filter((member) => member.raftAddress !== undefined && member.state === "alive")
    .map((member) => member.name)
    .sort();
  const founders = eligible.slice(0, expected);
  return founders.length === expected && founders.includes(self) ? founders : undefined;
}

export type Admission = { accept: true; adopt: string | undefined } | { accept: false; reason: string };

/** Whether a message from `sender` (undefined: gossip does not know it) may reach this node's Raft. */
export function admitMessage(selfCluster: string | undefined, conf: ConfState, sender: RaftMember | undefined): Admission {
  if (!sender) return { accept: false, reason: "sender unknown to gossip" };
  if (selfCluster === undefined) {
    if (sender.clusterId === undefined) return { accept: false, reason: "neither node belongs to a cluster yet" };
    return { accept: true, adopt: sender.clusterId };
  }
  if (sender.clusterId === selfCluster) return { accept: true, adopt: undefined };
  if (sender.clusterId !== undefined) return { accept: false, reason: `sender belongs to cluster ${sender.clusterId}, this node to ${selfCluster}` };
  if (conf.voters.includes(sender.name) || conf.learners.includes(sender.name)) return { accept: true, adopt: undefined };
  return { accept: false, reason: "sender advertises no cluster and is not in this node's configuration" };
}

/** Whether this node may send to `peer`: never into another cluster. */
export function sendAllowed(selfCluster: string | undefined, peer: RaftMember): boolean {
  return peer.clusterId === undefined || selfCluster === undefined || peer.clusterId === selfCluster;
}

export type RemovePeerRefusal = { status: 404 | 409; error: string } | undefined;

/**
 * Why an operator's removal of `id` is refused, if it is: not a member, the
 * last voter, or a node that is still alive (it would be added back as a
 * learner at once; stop it first) unless forced.
 */
export function removePeerRefusal(conf: ConfState, id: NodeId, self: NodeId, state: NodeState | undefined, force: boolean): RemovePeerRefusal {
  const isVoter = conf.voters.includes(id);
  if (!isVoter && !conf.learners.includes(id)) return { status: 404, error: `${id} is neither a voter nor a learner of this cluster` };
  if (isVoter && conf.voters.length === 1) return { status: 409, error: `${id} is the last voter; removing it would leave the cluster without any voter` };
  if (force) return undefined;
  if (id === self) return { status: 409, error: `${id} is this node, the leader; pass force to remove it anyway` };
  if (state !== undefined && isLive(state)) {
    return { status: 409, error: `${id} is ${state} according to gossip; stop it first (autopilot would add it back as a learner) or pass force` };
  }
  return undefined;
}
