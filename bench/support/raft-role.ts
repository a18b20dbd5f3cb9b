// The Raft leader as a FailoverTarget for real agents: the probe reads
// /api/v1/raft/status (an agent that leads names itself; a follower names
// the leader it knows; the epoch is the term), and the cluster is steady
// when every agent runs Raft in the same cluster with all of them voters and
// no learners, the leader's view of every follower is replicating and caught
// up to its commit index, and the leader is the agent the priorities prefer
// (the Autopilot hands leadership to a caught-up voter with a better
// priority, so after a restart it may move back to the restarted agent).

import type { RaftStatusView } from "../../src/api/raft-api.ts";
import { type AgentProcess, getJson } from "../../test/support/agent-process.ts";
import type { FailoverTarget, RoleView } from "./real-failover.ts";

/** Bound on one status request; a busy agent that takes longer counts as not answering this poll. */
const statusTimeoutMs = 1000;

export function raftStatus(agent: AgentProcess): Promise<RaftStatusView> {
  return getJson<RaftStatusView>(agent, "/api/v1/raft/status", statusTimeoutMs);
}

/** The agent a leader would hand leadership to: the best (lowest) priority, then the first name. */
export function preferredLeader(agents: readonly AgentProcess[]): string {
  const sorted = [...agents].sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : 1));
  const best = sorted[0]!;
  // With equal priorities nobody is preferred: whoever leads stays.
  return sorted.filter((agent) => agent.priority === best.priority).length === 1 ? best.name : "";
}

export const raftLeaderTarget: FailoverTarget = {
  role: "raft leader",
  async probe(agent: AgentProcess): Promise<RoleView | undefined> {
    const status = await raftStatus(agent);
    if (status.state !== "running") return undefined;
    return { holder: status.is_leader ? status.node : status.leader, epoch: status.term };
  },
  async steady(agents: readonly AgentProcess[], holder: string): Promise<boolean> {
    const preferred = preferredLeader(agents);
    if (preferred !== "" && holder !== preferred) return false;
    const statuses = await Promise.all(agents.map(raftStatus));
    const names = agents.map((agent) => agent.name).sort().join();
    const leader = statuses.find((status) => status.node === holder);
    if (!leader?.is_leader) return false;
    const membersOk = statuses.every(
      (status) => status.state === "running" && status.cluster_id === leader.cluster_id && [...status.voters].sort().join() === names && status.learners.length === 0,
    );
    const followersOk = agents.every((agent) => {
      if (agent.name === holder) return true;
      const peer = leader.peers[agent.name];
      return peer !== undefined && peer.state === "replicate" && peer.recent_active && peer.match >= leader.commit_index;
    });
    return membersOk && followersOk;
  },
};
