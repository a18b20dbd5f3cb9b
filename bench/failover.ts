// Lease failover benchmark: the time from kill -9 of the lease holder to a
// new holder acting on each lease, in two parts, each printed with its
// settings:
//
// 1. Simulator (virtual time, independent of this machine): three voters
//    with the agent's Raft settings for the lan profile
//    (bench/support/sim-failover.ts) and the lan lease timing run the
//    agent's lease manager; once both leases are held and the group ran
//    steadily for a random while, the holder crashes; recorded per lease is
//    the time until another node may act on it (the lease checker runs
//    after every event, so an overlap would stop the run).
// 2. Real agent processes on loopback (lan profile, --bootstrap-expect 3,
//    distinct priorities): rounds of kill -9 of the node acting on both
//    leases, polling the survivors' /api/v1/leases until one acts on both
//    in a later grant and until all agree, then a restart and a wait for the
//    cluster to be steady (leadership back on the preferred node).
//
// Targets from the lease design: p99 under 4 s and p50 under 2.5 s.
//
//   npx bun bench/failover.ts [--parts sim,real] [--sim-seeds 300] [--rounds 15] [--poll-ms 10]

import { cpus, loadavg } from "node:os";
import { profiles } from "../src/config/profiles.ts";
import type { LeasesView } from "../src/api/lease-api.ts";
import { type LeaseName, leaseNames } from "../src/lease/table.ts";
import { type AgentProcess, getJson } from "../test/support/agent-process.ts";
import { LeaseRun, randomLeasePlan } from "../test/sim/lease/lease-run.ts";
import { flag, summarise, tableRow, tableRule, triple } from "./support/figures.ts";
import { raftLeaderTarget } from "./support/raft-role.ts";
import { type FailoverTarget, measureRealFailover } from "./support/real-failover.ts";
import { agentRaftKnobs, describeKnobs } from "./support/sim-failover.ts";

const parts = flag("parts", "sim,real").split(",");
const lan = profiles.lan;
const targets = { p50Ms: 2500, p99Ms: 4000 };

function settingsLine(): string {
  const { heartbeatIntervalMs, electionTimeoutMs } = lan.raft;
  const { ttlMs, renewIntervalMs, clockDriftMax } = lan.lease;
  return (
    `lan profile: Raft heartbeat ${heartbeatIntervalMs} ms, election timeout ${electionTimeoutMs} ms, pre-vote and check-quorum on; ` +
    `lease TTL ${ttlMs} ms, renewed every ${renewIntervalMs} ms, drift bound ${clockDriftMax} (a takeover waits ${Math.ceil(ttlMs * (1 + clockDriftMax))} ms after the last renewal it applied)`
  );
}

// ------------------------------------------------------------------ 1. simulator

function simulatorPart(): void {
  const seeds = Number(flag("sim-seeds", "300"));
  const knobs = agentRaftKnobs("lan", { minMs: 0.5, maxMs: 2 });
  console.log("## 1. Simulator (virtual time), 3 voters");
  console.log(
    `Settings: ${settingsLine()}; the agent's other Raft settings: ${describeKnobs(knobs)}; ` +
      `network delay 1-10 ms, no loss; clocks within ±100 ppm; fsync ${knobs.fsyncDelayMinMs}-${knobs.fsyncDelayMaxMs} ms; ${seeds} seeds.`,
  );
  const samples = new Map<LeaseName | "both", number[]>([...leaseNames.map((lease) => [lease, []] as [LeaseName, number[]]), ["both", []]]);
  let missed = 0;
  const startedMs = performance.now();
  for (let seed = 1; seed <= seeds; seed++) {
    // The random plan's knobs and lease timing are replaced, and its fault phase is never run: the one fault is the crash below.
    const base = randomLeasePlan(seed, { voters: 3, spares: 0, driftSpanPpm: 100, pauseShare: 0 });
    const run = new LeaseRun({ ...base, knobs, lease: { ...lan.lease }, leaseTickMs: knobs.tickIntervalMs });
    if (run.raft.runUntil(() => run.checker.allHeld(), 30_000) === undefined) throw new Error(`seed ${seed}: leases never held`);
    run.raft.run(1000 + run.raft.sim.prng.int(3000));
    const holder = run.liveNodes().find((node) => node.mayAct("lb_leader"));
    if (!holder) throw new Error(`seed ${seed}: no holder before the crash`);
    run.raft.nodes.find((node) => node.address === holder.address)!.crash();
    const crashedAt = run.raft.sim.nowMs;
    const took = new Map<LeaseName, number>();
    run.raft.runUntil(() => {
      for (const lease of leaseNames) {
        if (!took.has(lease) && run.liveNodes().some((node) => node.mayAct(lease))) took.set(lease, run.raft.sim.nowMs - crashedAt);
      }
      return took.size === leaseNames.length;
    }, 30_000);
    if (took.size < leaseNames.length) {
      missed++;
      continue;
    }
    for (const [lease, ms] of took) samples.get(lease)!.push(ms);
    samples.get("both")!.push(Math.max(...took.values()));
  }
  const widths = [12, 26, 8];
  console.log(tableRow(["lease", "ms p50 / p99 / max", "runs"], widths));
  console.log(tableRule(widths));
  for (const [lease, values] of samples) console.log(tableRow([lease, triple(summarise(values)), String(values.length)], widths));
  console.log(`${missed} run(s) without a new holder within 30 s; ${((performance.now() - startedMs) / 1000).toFixed(1)} s of wall time.\n`);
}

// ------------------------------------------------------------------ 2. real processes

/** Both leases as one role: an agent acting on both names itself; otherwise the holder its table names for both. */
const bothLeasesTarget: FailoverTarget = {
  role: "lease holder",
  async probe(agent: AgentProcess) {
    const view = await getJson<LeasesView>(agent, "/api/v1/leases", 1000);
    const rows = view.leases;
    const epoch = Math.max(...rows.map((row) => row.token));
    if (rows.every((row) => row.acting)) return { holder: agent.name, epoch };
    const holders = new Set(rows.map((row) => row.holder));
    return { holder: holders.size === 1 ? rows[0]!.holder : "", epoch };
  },
  async steady(agents, holder) {
    return await raftLeaderTarget.steady(agents, holder);
  },
};

async function realPart(): Promise<void> {
  const rounds = Number(flag("rounds", "15"));
  const pollIntervalMs = Number(flag("poll-ms", "10"));
  console.log("## 2. Real agent processes on loopback, 3 agents");
  console.log(`Settings: ${settingsLine()}; priorities 10/20/30; the survivors' /api/v1/leases polled every ${pollIntervalMs} ms; ${rounds} rounds.`);
  const startedMs = performance.now();
  const result = await measureRealFailover(bothLeasesTarget, {
    size: 3,
    rounds,
    profile: "lan",
    priorities: "distinct",
    pollIntervalMs,
    progress: (line) => console.log(line),
  });
  const first = result.rounds.flatMap((round) => (round.firstMs === undefined ? [] : [round.firstMs]));
  const agreed = result.rounds.flatMap((round) => (round.agreedMs === undefined ? [] : [round.agreedMs]));
  const widths = [44, 26, 8];
  console.log(tableRow(["from kill -9 of the holder until", "ms p50 / p99 / max", "rounds"], widths));
  console.log(tableRule(widths));
  console.log(tableRow(["a survivor acts on both leases", triple(summarise(first)), String(first.length)], widths));
  console.log(tableRow(["every survivor names it, same grant", triple(summarise(agreed)), String(agreed.length)], widths));
  const p = summarise(first);
  console.log(
    `Targets p50 < ${targets.p50Ms} ms, p99 < ${targets.p99Ms} ms: measured p50 ${p.p50.toFixed(0)} ms, p99 ${p.p99.toFixed(0)} ms ` +
      `(${first.length} samples; with fewer than 100 the p99 is the maximum). ${((performance.now() - startedMs) / 1000).toFixed(1)} s of wall time.\n`,
  );
}

console.log(`# Lease failover (${cpus().length} cores, load average ${loadavg().map((v) => v.toFixed(1)).join(" ")} at start)\n`);
if (parts.includes("sim")) simulatorPart();
if (parts.includes("real")) await realPart();
