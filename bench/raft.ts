// Raft benchmark, in three parts, each printed with the settings it used:
//
// 1. Failover on the simulator: the time from a leader crash to a new leader
//    (elected; acknowledged by a quorum, i.e. its first entry committed;
//    known to every survivor) with the agent's Raft settings for the lan
//    profile (bench/support/sim-failover.ts), over many seeds, for 3 and 5
//    voters. Virtual time: independent of this machine.
// 2. Failover between real agent processes on loopback (lan profile,
//    --bootstrap-expect N): rounds of kill -9 of the leader, polling the
//    survivors' /api/v1/raft/status until one reports itself leader in a
//    later term and until all agree, then a restart of the killed agent and a
//    wait for the cluster to be steady again. Compared with the target of a
//    failover p99 under 1.5 s.
// 3. Commit latency and throughput of small entries with fsync on this
//    machine: a 3-node group in this process on SqliteRaftStorage and
//    RaftTcpTransport over loopback (bench/support/raft-group.ts), with one
//    proposal outstanding (latency) and with many (throughput); the same
//    group on MemoryStorage and one bare storage step (append + fsync) are
//    the baselines measured in the same run.
//
//   npx bun bench/raft.ts [--parts sim,real,commit]
//     [--sim-seeds 1000] [--sim-delay-ms 0.1-0.5] [--sim-fsync-ms 0.5-2] [--sim-drift-ppm 100]
//     [--sizes 3,5] [--rounds 20] [--profile lan] [--priorities equal|distinct] [--poll-ms 10]
//     [--commit-seconds 3] [--entry-bytes 100] [--outstanding 1,16,256] [--dir /tmp]
//
// The machine may be shared: real-process and commit figures move with
// whatever else runs; the printed load average says how busy it was.

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteRaftStorage } from "../src/adapters/raft-sqlite.ts";
import { profiles } from "../src/config/profiles.ts";
import type { ProfileName } from "../src/config/schema.ts";
import { Prng } from "../src/lib/prng.ts";
import { ticksFromTiming } from "../src/raft/index.ts";
import { flag, rangeFlag, summarise, tableRow, tableRule, triple } from "./support/figures.ts";
import { type GroupStorageKind, LoopbackRaftGroup, type ProposalDrain, closedLoop } from "./support/raft-group.ts";
import { raftLeaderTarget } from "./support/raft-role.ts";
import { measureRealFailover } from "./support/real-failover.ts";
import { agentRaftKnobs, describeKnobs, simulateFailover } from "./support/sim-failover.ts";

const parts = flag("parts", "sim,real,commit").split(",");
const lanTiming = ticksFromTiming(profiles.lan.raft);
/** The failover target the real-process figures are compared with. */
const failoverTargetP99Ms = 1500;

function describeTiming(profile: ProfileName): string {
  const { heartbeatIntervalMs, electionTimeoutMs } = profiles[profile].raft;
  const { tickIntervalMs, electionTicks } = ticksFromTiming(profiles[profile].raft);
  return (
    `${profile} profile: heartbeat ${heartbeatIntervalMs} ms (one tick), election timeout ${electionTimeoutMs} ms ` +
    `(${electionTicks} ticks; each wait drawn from [${electionTicks * tickIntervalMs}, ${2 * electionTicks * tickIntervalMs}) ms), pre-vote and check-quorum on`
  );
}

// ------------------------------------------------------------------ 1. simulator

function simulatorPart(): void {
  const seeds = Number(flag("sim-seeds", "1000"));
  const delay = rangeFlag("sim-delay-ms", "0.1-0.5");
  const fsync = rangeFlag("sim-fsync-ms", "0.5-2");
  const driftSpanPpm = Number(flag("sim-drift-ppm", "100"));
  const knobs = agentRaftKnobs("lan", { minMs: fsync.low, maxMs: fsync.high });
  console.log("## 1. Failover on the simulator (virtual time)");
  console.log(`Settings: ${describeTiming("lan")};`);
  console.log(`the agent's other Raft settings: ${describeKnobs(knobs)};`);
  console.log(`network one-way delay ${delay.low}-${delay.high} ms, no loss; fsync ${fsync.low}-${fsync.high} ms; clock drift up to +-${driftSpanPpm} ppm;`);
  console.log("nodes start at random tick phases;");
  console.log(`the leader crashes 1-3 s after the first leader committed its first entry; seeds 1-${seeds} per size.`);
  console.log("Times from the crash: elected = a survivor is leader in a higher term; acknowledged = that leader's");
  console.log("commit index reached an entry of its own term (a quorum stored it: proposals can commit);");
  console.log("known = every survivor names that leader in that term. 'Extra elections' = runs whose new term is");
  console.log("more than one above the crashed leader's (a split vote or a lost race).");
  const widths = [6, 5, 19, 24, 17, 15, 6];
  console.log(tableRow(["voters", "runs", "elected p50/p99/max", "acknowledged p50/p99/max", "known p50/p99/max", "extra elections", "wall s"], widths));
  console.log(tableRule(widths));
  for (const voters of [3, 5]) {
    const startedMs = performance.now();
    const elected: number[] = [];
    const acknowledged: number[] = [];
    const known: number[] = [];
    let extraElections = 0;
    let missed = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const run = simulateFailover(seed, {
        voters,
        knobs,
        network: { lossRate: 0, duplicateRate: 0, delayMinMs: delay.low, delayMaxMs: delay.high },
        driftSpanPpm,
        steadyMinMs: 1000,
        steadyMaxMs: 3000,
        limitMs: 30_000,
      });
      if (run.electedMs === undefined || run.committedMs === undefined || run.knownMs === undefined) {
        missed++;
        console.log(`  seed ${seed}: no acknowledged leader known to all within 30 s`);
        continue;
      }
      elected.push(run.electedMs);
      acknowledged.push(run.committedMs);
      known.push(run.knownMs);
      if (run.termsAdvanced > 1) extraElections++;
    }
    const wallS = ((performance.now() - startedMs) / 1000).toFixed(1);
    console.log(
      tableRow(
        [String(voters), String(seeds - missed), triple(summarise(elected)), triple(summarise(acknowledged)), triple(summarise(known)), String(extraElections), wallS],
        widths,
      ),
    );
  }
  console.log("");
}

// ------------------------------------------------------------------ 2. real processes

async function realPart(): Promise<void> {
  const sizes = flag("sizes", "3,5").split(",").map(Number);
  const rounds = Number(flag("rounds", "20"));
  const profile = flag("profile", "lan") as ProfileName;
  const priorities = flag("priorities", "equal") as "equal" | "distinct";
  const pollIntervalMs = Number(flag("poll-ms", "10"));
  if (!(profile in profiles)) throw new Error(`--profile ${profile}: expected lan, wan or local`);
  if (priorities !== "equal" && priorities !== "distinct") throw new Error(`--priorities ${priorities}: expected equal or distinct`);
  console.log("## 2. Failover between real agent processes on loopback (wall time)");
  console.log(`Settings: ${describeTiming(profile)}; agents run from source with --bootstrap-expect N;`);
  console.log(
    priorities === "equal"
      ? "every agent has the default priority (100), so no leadership transfer follows a restart;"
      : "priorities 10, 20, ...: after a restart the leader hands leadership back to the best one, and the round waits for that;",
  );
  console.log(`kill -9 of the leader 0-500 ms after the cluster is steady; survivors polled every ${pollIntervalMs} ms`);
  console.log(`(GET /api/v1/raft/status); ${rounds} rounds per size. first = a survivor reports itself leader in a later term;`);
  console.log("all agree = every survivor names it in that term; each at the moment the answer arrived. steady again = restart");
  console.log("of the killed agent until all voters are back and caught up (process start included). With fewer than 100");
  console.log("rounds the nearest-rank p99 is the maximum; the simulator above gives the well-sampled tail.");
  const results = [];
  for (const size of sizes) {
    const startedMs = performance.now();
    const result = await measureRealFailover(raftLeaderTarget, {
      size,
      rounds,
      profile,
      priorities,
      pollIntervalMs,
      progress: (line) => console.log(line),
    });
    results.push({ result, wallS: (performance.now() - startedMs) / 1000 });
  }
  const widths = [6, 6, 22, 22, 11, 16, 19, 6];
  console.log("");
  console.log(tableRow(["agents", "rounds", "first p50/p99/max", "all agree p50/p99/max", "not reached", "steady again p50", `p99 < ${failoverTargetP99Ms} ms target`, "wall s"], widths));
  console.log(tableRule(widths));
  for (const { result, wallS } of results) {
    const first = summarise(result.rounds.flatMap((round) => (round.firstMs === undefined ? [] : [round.firstMs])));
    const agreed = summarise(result.rounds.flatMap((round) => (round.agreedMs === undefined ? [] : [round.agreedMs])));
    const notReached = result.rounds.filter((round) => round.agreedMs === undefined).length;
    const steadyAgain = summarise(result.rounds.map((round) => round.steadyAgainMs));
    const verdict = notReached > 0 ? "missed" : first.p99 < failoverTargetP99Ms ? "met" : "missed";
    console.log(
      tableRow(
        [String(result.size), String(result.rounds.length), triple(first), triple(agreed), String(notReached), steadyAgain.p50.toFixed(0), verdict, wallS.toFixed(0)],
        widths,
      ),
    );
  }
  console.log("");
}

// ------------------------------------------------------------------ 3. commit latency and throughput

/** One durable storage step at a time (append one entry, hard state, sync): the floor under every commit. */
function storageStep(dir: string, seconds: number, payload: Uint8Array): { latenciesMs: number[]; elapsedMs: number } {
  const opened = SqliteRaftStorage.open(join(dir, "step.db"));
  if (!opened.ok) throw new Error(opened.error.message);
  const storage = opened.storage;
  const latenciesMs: number[] = [];
  const startedMs = performance.now();
  try {
    const deadline = startedMs + seconds * 1000;
    for (let index = 1; performance.now() < deadline; index++) {
      const startedMs = performance.now();
      storage.append([{ index, term: 1, kind: "normal", data: payload }]);
      storage.setHardState({ term: 1, vote: "n1", commit: index });
      storage.sync();
      latenciesMs.push(performance.now() - startedMs);
    }
  } finally {
    storage.close();
  }
  return { latenciesMs, elapsedMs: performance.now() - startedMs };
}

async function commitPart(): Promise<void> {
  const seconds = Number(flag("commit-seconds", "3"));
  const entryBytes = Number(flag("entry-bytes", "100"));
  const depths = flag("outstanding", "1,16,256").split(",").map(Number);
  const baseDir = flag("dir", tmpdir());
  const payload = new Prng(1).fill(new Uint8Array(entryBytes));
  console.log("## 3. Commit latency and throughput, 3 nodes in one process (wall time)");
  console.log(`Settings: ${entryBytes}-byte entries; SqliteRaftStorage (WAL, synchronous=FULL) in ${baseDir}; RaftTcpTransport on`);
  console.log(`127.0.0.1 without a keyring; ${describeTiming("lan")};`);
  console.log(`each row keeps N proposals outstanding at the leader for ${seconds} s; latency = propose until the entry is`);
  console.log("committed and applied at the leader. A commit needs the leader's fsync, then a follower's (the three nodes");
  console.log("share this process's one thread, so their fsyncs queue behind each other). No snapshots are taken.");
  console.log("drain 'batched': proposals made in one turn of the event loop share a Ready and an fsync; with N outstanding");
  console.log("they move in lockstep, so a leader fsync carries about N entries. drain 'each': every proposal is drained at");
  console.log("once, as RaftService.propose does, so every proposal costs the leader an fsync of its own. 'fsyncs per");
  console.log("entry, all' counts the fsynced Readies of all three nodes (MemoryStorage's sync does nothing). The storage");
  console.log("floor is measured first and last.");
  const widths = [39, 7, 11, 9, 8, 8, 24, 21];
  console.log(tableRow(["", "drain", "outstanding", "entries/s", "p50 ms", "p99 ms", "entries per leader fsync", "fsyncs per entry, all"], widths));
  console.log(tableRule(widths));
  const runs: { storage: GroupStorageKind; drain: ProposalDrain; depths: number[] }[] = [
    { storage: "memory", drain: "batched", depths },
    { storage: "sqlite", drain: "batched", depths },
    { storage: "sqlite", drain: "each", depths: depths.filter((depth) => depth > 1) },
  ];
  const dir = mkdtempSync(join(baseDir, "constellation-bench-raft-"));
  try {
    // The disk may be shared: the floor is measured before and after the groups, to show how much it moved.
    const floor = (when: string) => {
      const step = storageStep(dir, Math.min(seconds, 2), payload);
      const stepLatency = summarise(step.latenciesMs);
      const stepsPerSecond = ((step.latenciesMs.length * 1000) / step.elapsedMs).toFixed(0);
      const cells = [`baseline: storage append + fsync, ${when}`, "-", "1", stepsPerSecond, stepLatency.p50.toFixed(3), stepLatency.p99.toFixed(3), "1.0", "1.0"];
      console.log(tableRow(cells, widths));
    };
    floor("first");
    for (const [i, run] of runs.entries()) {
      const group = await LoopbackRaftGroup.start({ size: 3, storage: run.storage, dir: mkdtempSync(join(dir, `group-${i}-`)), timing: lanTiming, seed: 7 });
      try {
        for (const outstanding of run.depths) {
          const figures = await closedLoop(group, outstanding, run.drain, seconds * 1000, payload);
          const latency = summarise(figures.latenciesMs);
          const name = run.storage === "memory" ? "baseline: 3 nodes, MemoryStorage" : "3 nodes, SqliteRaftStorage";
          const perSecond = ((figures.proposals * 1000) / figures.elapsedMs).toFixed(0);
          const lost = figures.lost > 0 ? ` (${figures.lost} lost)` : "";
          const cells = [
            name,
            run.drain,
            String(outstanding),
            perSecond + lost,
            latency.p50.toFixed(3),
            latency.p99.toFixed(3),
            figures.entriesPerLeaderSync.toFixed(1),
            figures.groupSyncsPerEntry.toFixed(2),
          ];
          console.log(tableRow(cells, widths));
        }
      } finally {
        group.close();
      }
    }
    floor("last");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log("");
}

// ------------------------------------------------------------------ main

const startedMs = performance.now();
console.log(`Raft benchmark: ${cpus().length} cores, load average ${loadavg().map((load) => load.toFixed(2)).join(" ")} at start, Bun ${Bun.version}`);
console.log("");
if (parts.includes("sim")) simulatorPart();
if (parts.includes("real")) await realPart();
if (parts.includes("commit")) await commitPart();
console.log(`Load average at the end: ${loadavg().map((load) => load.toFixed(2)).join(" ")}; wall time ${((performance.now() - startedMs) / 1000).toFixed(0)} s`);
