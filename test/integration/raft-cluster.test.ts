// Raft in real agent processes on loopback, managed by nobody: a lone agent
// leads its own one-node cluster; three agents started in random order form
// exactly one cluster; a fourth joins as a learner; the node with the best
// priority ends up leading; after kill -9 of the leader a new one is elected,
// the dead voter is removed and the learner promoted; and `raft recover`
// rebuilds a cluster from one stopped node after quorum is lost for good.
// The tests share one cluster and run in order. Times are printed, never
// asserted.

import { afterAll, describe, expect, test } from "bun:test";
import { type AgentProcess as Agent, AgentProcesses, embeddedDefaultEnv, getJson, mainScript as main } from "../support/agent-process.ts";
import { waitFor } from "../support/wait.ts";
import type { RaftPeersView, RaftStatusView } from "../../src/api/raft-api.ts";
import type { LeasesView } from "../../src/api/lease-api.ts";

const agents = new AgentProcesses("constellation-raft-");
afterAll(() => agents.close());
const makeAgent = (name: string, priority: number) => agents.make(name, priority);
const start = (agent: Agent, extra: string[] = [], env: Record<string, string> = {}) => agents.start(agent, extra, env);
const kill = (agent: Agent, signal: "SIGKILL" | "SIGTERM") => agents.kill(agent, signal);
const cli = (args: string[]) => agents.cli(args);
const raftStatus = (agent: Agent) => getJson<RaftStatusView>(agent, "/api/v1/raft/status");

/** Waits until every agent's status satisfies `check`, and returns the statuses. */
async function allSatisfy(what: string, agents: Agent[], check: (status: RaftStatusView, agent: Agent) => boolean, timeoutMs = 15_000) {
  return await waitFor(
    what,
    async () => {
      const statuses = await Promise.all(agents.map(raftStatus));
      return statuses.every((status, i) => check(status, agents[i]!)) ? statuses : undefined;
    },
    timeoutMs,
  );
}

// Dead voters are removed 2 s after gossip declares them dead, to keep the file short.
const clusterEnv = { CONSTELLATION_RAFT_DEAD_VOTER_REMOVE_MS: "2000" };
const cluster: Agent[] = [];
let firstClusterId = "";

describe("raft in real agents", () => {
  test("(a) the embedded default leads a one-node cluster by itself", async () => {
    const lone = await makeAgent("lone", 100);
    const startedMs = performance.now();
    // No profile flag and no bootstrap flag: the defaults an operator gets.
    const child = Bun.spawn([process.execPath, main, "agent"], {
      env: embeddedDefaultEnv({ gossip: lone.gossip, raft: lone.raft, api: lone.apiPort, provider: lone.provider }, lone.dataDir, "lone"),
      stdout: "pipe",
      stderr: "inherit",
    });
    try {
      const status = await waitFor("lone leads", async () => {
        const s = await raftStatus(lone);
        return s.is_leader ? s : undefined;
      }, 20_000, 10);
      const leaderAfterMs = performance.now() - startedMs;
      expect(status.voters).toEqual(["lone"]);
      expect(status.cluster_id).toMatch(/^[0-9a-f]{16}$/);
      expect(status.leader).toBe("lone");
      const leader = (await (await fetch(`${lone.api}/api/v1/raft/leader`)).json()) as { leader: string };
      expect(leader.leader).toBe("lone");
      const components = JSON.parse(cli(["status", "--json", "--api", lone.api]).out).components;
      expect(components.raft).toContain("leader");
      // The leader holds both leases; the CLI shows them.
      const leases = await waitFor("both leases held", async () => {
        const view = await getJson<LeasesView>(lone, "/api/v1/leases");
        return view.leases.every((lease) => lease.acting && lease.holder === "lone" && lease.token > 0) ? view : undefined;
      }, 10_000);
      expect(leases.leases.map((lease) => lease.lease)).toEqual(["lb_leader", "dns_writer"]);
      expect(cli(["leases", "--api", lone.api]).out).toMatch(/lb_leader\s+lone\s+\d+\s+[\d.]+ s\s+yes/);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(0);
      const lines = (await new Response(child.stdout).text()).trim().split("\n").map((line) => JSON.parse(line));
      const startedAt = Date.parse(lines.find((l) => l.msg === "starting agent").ts);
      const ledAt = Date.parse(lines.find((l) => l.msg === "raft role changed" && l.role === "leader").ts);
      // A graceful stop releases the leases before Raft stops.
      expect(lines.some((l) => l.msg === "leases released")).toBe(true);
      console.log(`embedded default: leader ${ledAt - startedAt} ms after "starting agent", ${Math.round(leaderAfterMs)} ms after spawn (incl. process start and polling)`);
    } finally {
      child.kill("SIGKILL");
    }
  }, 30_000);

  test("(b) three agents with bootstrap-expect 3 form one cluster whatever the start order", async () => {
    for (const [name, priority] of [["alpha", 10], ["bravo", 20], ["charlie", 30]] as const) cluster.push(await makeAgent(name, priority));
    const order = [...cluster].sort(() => Math.random() - 0.5);
    for (const agent of order) {
      const seeds = cluster.filter((other) => other !== agent).map((other) => `127.0.0.1:${other.gossip}`).join(",");
      // alpha, the best priority, waits ten times longer before campaigning,
      // so it is (almost) never elected first: leadership reaches it by transfer.
      const slow: Record<string, string> = agent.name === "alpha" ? { CONSTELLATION_RAFT_ELECTION_TIMEOUT_MS: "3000" } : {};
      start(agent, ["--bootstrap-expect", "3", "--join", seeds], { ...clusterEnv, ...slow });
      await Bun.sleep(Math.floor(Math.random() * 600));
    }
    console.log(`start order: ${order.map((a) => a.name).join(", ")}`);
    const statuses = await allSatisfy("one cluster of three", cluster, (s) => s.cluster_id !== null && s.voters.length === 3 && s.leader !== "", 30_000);
    expect(new Set(statuses.map((s) => s.cluster_id)).size).toBe(1);
    expect(statuses.filter((s) => s.is_leader)).toHaveLength(1);
    expect(new Set(statuses.map((s) => s.leader)).size).toBe(1);
    for (const s of statuses) expect(s.voters).toEqual(["alpha", "bravo", "charlie"]);
    firstClusterId = statuses[0]!.cluster_id!;
    console.log(`first leader: ${statuses[0]!.leader}`);
  }, 40_000);

  test("(e) the node with the best priority ends up leader", async () => {
    const statuses = await allSatisfy("alpha leads", cluster, (s) => s.leader === "alpha");
    expect(statuses.filter((s) => s.is_leader).map((s) => s.node)).toEqual(["alpha"]);
    const transfers = statuses.reduce((sum, s) => sum + (s.counters.leadershipTransfers ?? 0), 0);
    console.log(`leadership transfers so far: ${transfers}`);
  }, 20_000);

  test("(c) a fourth agent joins as a learner; with four members the voters stay three (odd)", async () => {
    const delta = await makeAgent("delta", 40);
    cluster.push(delta);
    start(delta, ["--bootstrap-expect", "3", "--join", `127.0.0.1:${cluster[1]!.gossip}`], clusterEnv);
    const statuses = await allSatisfy("delta is a caught-up learner", cluster, (s) =>
      s.cluster_id === firstClusterId && s.learners.join() === "delta" && s.voters.join() === "alpha,bravo,charlie" &&
      s.applied_index === s.commit_index && (!s.is_leader || s.peers.delta?.match === s.last_index),
    );
    const leader = statuses.find((s) => s.is_leader)!;
    expect(leader.peers.delta?.is_learner).toBe(true);

    const peers = JSON.parse(cli(["raft", "peers", "--json", "--api", delta.api]).out) as RaftPeersView;
    expect(peers.peers.map((p) => `${p.id}:${p.suffrage}`)).toEqual(["alpha:voter", "bravo:voter", "charlie:voter", "delta:learner"]);
    expect(cli(["raft", "peers", "--api", cluster[0]!.api]).out).toMatch(/alpha \(self\)\s+voter \(leader\)\s+alive/);
    // Asked on a follower, the removal goes to the leader, which refuses a live node.
    const refused = cli(["raft", "remove-peer", "charlie", "--api", delta.api]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("alpha is the leader");
    expect(refused.err).toContain("alive according to gossip");
  }, 20_000);

  test("(d) kill -9 of the leader: a new leader, the dead voter removed, the learner promoted", async () => {
    const [alpha, ...survivors] = cluster as [Agent, ...Agent[]];
    const before = await raftStatus(alpha);
    expect(before.is_leader).toBe(true);
    const killedMs = performance.now();
    await kill(alpha, "SIGKILL");
    const elected = await waitFor("a new leader", async () => {
      const statuses = await Promise.all(survivors.map((agent) => raftStatus(agent).catch(() => undefined)));
      return statuses.find((s) => s?.is_leader && s.term > before.term);
    }, 10_000, 10);
    console.log(`failover after kill -9 of the leader (3 voters): ${elected.node} leads after ${Math.round(performance.now() - killedMs)} ms`);
    const statuses = await allSatisfy("alpha removed, delta promoted", survivors, (s) => s.voters.join() === "bravo,charlie,delta" && s.learners.length === 0, 30_000);
    console.log(`dead voter removed and learner promoted ${Math.round(performance.now() - killedMs)} ms after the kill`);
    expect(new Set(statuses.map((s) => s.cluster_id))).toEqual(new Set([firstClusterId]));
    // Among the living, bravo has the best priority.
    await allSatisfy("bravo leads", survivors, (s) => s.leader === "bravo");
  }, 45_000);

  test("(f) raft recover rebuilds a cluster from one stopped node after quorum is lost", async () => {
    const [, bravo, charlie, delta] = cluster as [Agent, Agent, Agent, Agent];
    await kill(charlie, "SIGKILL");
    await kill(delta, "SIGKILL");
    const lost = await waitFor("bravo loses its quorum", async () => {
      const s = await raftStatus(bravo);
      return !s.is_leader ? s : undefined;
    });
    const recoverArgs = ["raft", "recover", "--data-dir", bravo.dataDir, "--node-name", "bravo"];
    const locked = cli([...recoverArgs, "--yes"]);
    expect(locked.code).toBe(1);
    expect(locked.err).toContain("is locked");
    expect(locked.err).toContain("Stop the agent");

    await kill(bravo, "SIGTERM");
    const dry = cli(recoverArgs);
    expect(dry.code).toBe(1);
    expect(dry.err).toContain("WARNING");
    expect(dry.err).toContain("Nothing was changed");
    const recovered = cli([...recoverArgs, "--yes"]);
    expect(recovered.code).toBe(0);
    expect(recovered.out).toContain("bravo is the single voter of cluster");

    // The log belongs to bravo: run under another name, the agent refuses to start.
    const renamed = Bun.spawnSync([process.execPath, main, "agent", "--profile", "local", "--node-name", "imposter", "--data-dir", bravo.dataDir,
      "--gossip-port", String(bravo.gossip), "--raft-port", String(bravo.raft), "--api-port", String(bravo.apiPort), "--provider-port", String(bravo.provider)],
      { stdout: "ignore", stderr: "pipe", timeout: 20_000 });
    expect(renamed.exitCode).toBe(1);
    expect(renamed.stderr.toString()).toContain('holds the Raft state of node "bravo", not "imposter"');

    start(bravo, ["--bootstrap-expect", "3"], clusterEnv);
    const status = await waitFor("bravo leads alone", async () => {
      const s = await raftStatus(bravo);
      return s.is_leader ? s : undefined;
    });
    expect(status.voters).toEqual(["bravo"]);
    expect(status.cluster_id).not.toBe(firstClusterId);
    expect(status.commit_index).toBeGreaterThan(lost.commit_index);
  }, 30_000);
});
