// Leader failover on the simulator: one seed builds a fault-free Raft run of
// founding voters (test/sim/raft/harness.ts: nodes with drifting clocks and
// crash-prone disks, the Raft shell and the safety checker), waits for a
// first leader to commit an entry of its term, lets the group run steadily
// for a random while, crashes the leader, and records in virtual time when a
// successor reached each of three milestones:
//
//   elected    - a surviving node is leader in a term above the crashed one's;
//   committed  - that leader's commit index reaches an entry of its own term
//                (the entry it appends on election): a quorum stored it, so
//                the leadership is acknowledged and proposals can commit;
//   known      - every surviving node names that leader in that term.
//
// Nodes start at random moments within one tick interval, so their tick
// timers have independent phases as real processes' do. The figures are
// virtual time and do not depend on the machine the benchmark runs on.
//
// agentRaftKnobs gives the simulated Raft shell the settings the agent runs
// a profile with (the profile's timing and snapshot cadence, the Raft core's
// defaults for everything RaftService leaves unset, RaftService's snapshot
// compaction), for this file's runs and for the lease failover benchmark.

import { profiles } from "../../src/config/profiles.ts";
import type { ProfileName } from "../../src/config/schema.ts";
import { assert } from "../../src/lib/assert.ts";
import { Prng } from "../../src/lib/prng.ts";
import { entriesKeptAfterSnapshotMax } from "../../src/node/raft-machine.ts";
import { MemoryStorage, ticksFromTiming } from "../../src/raft/index.ts";
import { resolveOptions } from "../../src/raft/options.ts";
import type { NetworkFaults } from "../../test/sim/network.ts";
import { RaftRun, randomPlan } from "../../test/sim/raft/harness.ts";
import type { RaftShell, ShellKnobs } from "../../test/sim/raft/shell.ts";

/**
 * The agent's Raft settings for `profile`, as knobs of the simulated shell.
 * RaftService gives its RawNode only the profile's tick counts (besides id,
 * storage, prng and applied index), so the rest are the core's defaults,
 * read from resolveOptions itself; the shell leaves the options it has no
 * knob for to the same defaults. Snapshots follow RaftService's
 * snapshotIfDue: every snapshotEveryEntries applied entries, keeping half
 * that many (at most entriesKeptAfterSnapshotMax) behind it. Writes are
 * durable before the messages of a Ready are sent, as in RaftService. The
 * fsync latency is the simulated disk's, the caller's to choose.
 */
export function agentRaftKnobs(profile: ProfileName, fsync: { minMs: number; maxMs: number }): ShellKnobs {
  const raft = profiles[profile].raft;
  const timing = ticksFromTiming(raft);
  const core = resolveOptions({
    id: "n1",
    storage: new MemoryStorage(),
    prng: new Prng(1),
    electionTicks: timing.electionTicks,
    heartbeatTicks: timing.heartbeatTicks,
  });
  return {
    ...timing,
    preVote: core.preVote,
    checkQuorum: core.checkQuorum,
    inflightMessagesMax: core.inflightMessagesMax,
    appendBytesMax: core.appendBytesMax,
    learnerCatchUpEntriesMax: core.learnerCatchUpEntriesMax,
    snapshotEveryEntries: raft.snapshotEveryEntries,
    keepEntriesAfterSnapshot: Math.min(entriesKeptAfterSnapshotMax, Math.floor(raft.snapshotEveryEntries / 2)),
    fsyncDelayMinMs: fsync.minMs,
    fsyncDelayMaxMs: fsync.maxMs,
    sendBeforeSync: false,
  };
}

/** The knobs beyond timing, pre-vote and check-quorum, in words for a benchmark's settings line. */
export function describeKnobs(knobs: ShellKnobs): string {
  return (
    `up to ${knobs.inflightMessagesMax} appends in flight per follower of up to ${knobs.appendBytesMax / 1024} KiB each, ` +
    `a snapshot every ${knobs.snapshotEveryEntries} entries keeping ${knobs.keepEntriesAfterSnapshot}`
  );
}

export interface SimFailoverSettings {
  voters: number;
  knobs: ShellKnobs;
  network: NetworkFaults;
  /** Clock rates differ by up to this many ppm either way. */
  driftSpanPpm: number;
  /** Steady running before the crash is drawn from [steadyMinMs, steadyMaxMs). */
  steadyMinMs: number;
  steadyMaxMs: number;
  /** Virtual time allowed for the first election and for the failover, each. */
  limitMs: number;
}

export interface SimFailoverRun {
  seed: number;
  /** Virtual ms from the crash; undefined when the milestone was not reached within limitMs. */
  electedMs: number | undefined;
  committedMs: number | undefined;
  knownMs: number | undefined;
  /** Terms the successor's term is above the crashed leader's (1 = the first election won). */
  termsAdvanced: number;
}

/** The founding voters of a fault-free Raft run, started at independent tick phases. */
function failoverGroup(seed: number, settings: SimFailoverSettings): RaftRun {
  assert(settings.voters >= 3, "a failover needs at least three voters");
  const plan = randomPlan(seed, { voters: settings.voters, spares: 0, knobs: settings.knobs, driftSpanPpm: settings.driftSpanPpm, crashes: false, membershipChanges: false });
  return new RaftRun(plan, { startSpreadMs: settings.knobs.tickIntervalMs, network: settings.network });
}

/** A leader whose commit index reached an entry of its own term, above `aboveTerm`. */
function committedLeader(group: RaftRun, aboveTerm: number): RaftShell | undefined {
  const leader = group.leader();
  if (!leader) return undefined;
  const status = leader.node.basicStatus();
  return status.term > aboveTerm && leader.node.logTerm(status.commit) === status.term ? leader : undefined;
}

export function simulateFailover(seed: number, settings: SimFailoverSettings): SimFailoverRun {
  const group = failoverGroup(seed, settings);
  const ready = group.runUntil(() => committedLeader(group, 0) !== undefined, settings.limitMs);
  if (ready === undefined) throw new Error(`seed ${seed}: no first leader within ${settings.limitMs} ms`);
  const steadyMs = settings.steadyMinMs + group.sim.prng.float() * (settings.steadyMaxMs - settings.steadyMinMs);
  group.runUntil(() => false, steadyMs);
  const crashed = group.leader();
  assert(crashed !== undefined, `seed ${seed}: the leader was lost before the crash`);
  const crashedTerm = crashed.node.basicStatus().term;
  const crashedNode = group.nodes.find((node) => node.address === crashed.address)!;
  crashedNode.crash();

  const run: SimFailoverRun = { seed, electedMs: undefined, committedMs: undefined, knownMs: undefined, termsAdvanced: 0 };
  const crashedAtMs = group.sim.nowMs;
  const since = () => group.sim.nowMs - crashedAtMs;
  group.runUntil(() => {
    const leader = group.leader();
    if (!leader) return false;
    const term = leader.node.basicStatus().term;
    if (term <= crashedTerm) return false;
    run.electedMs ??= since();
    run.termsAdvanced = term - crashedTerm;
    if (run.committedMs === undefined && committedLeader(group, crashedTerm) === leader) run.committedMs = since();
    if (run.knownMs === undefined) {
      const known = group.upShells().every((shell) => {
        const status = shell.node.basicStatus();
        return status.lead === leader.address && status.term === term;
      });
      if (known) run.knownMs = since();
    }
    return run.committedMs !== undefined && run.knownMs !== undefined;
  }, settings.limitMs);
  return run;
}
