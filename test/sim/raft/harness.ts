// A Raft group on the simulator: N founding voters and some spare nodes that
// start empty and may join as learners, each on its own drifting clock and
// disk, talking JSON datagrams over the simulated network. A run has a fault
// phase (partitions, one-way partitions, loss, duplication, reordering,
// crashes and restarts, membership changes, leadership transfers, client
// proposals) and a healed phase in which a leader must be elected and a new
// entry applied by every voter within a bounded virtual time. The checker
// sees every Ready, every apply and every simulation event.
//
// Knobs are drawn per seed within legal bounds (election and heartbeat ticks,
// pre-vote, check-quorum, flow-control windows, message sizes, snapshot
// cadence, fsync latency), so a seed explores one configuration.

import { Prng } from "../../../src/lib/prng.ts";
import type { ConfChange } from "../../../src/raft/index.ts";
import { type NodeContext, SimNode } from "../cluster.ts";
import { Simulation } from "../kernel.ts";
import { type NetworkFaults, SimNetwork } from "../network.ts";
import type { ChainMachine } from "./chain-machine.ts";
import { RaftChecker } from "./checker.ts";
import { RaftShell, type ShellKnobs } from "./shell.ts";

export interface RaftRunPlan {
  seed: number;
  /** Founding voters (bootstrapped with the same membership). */
  voters: number;
  /** Nodes that start empty and can be added as learners, then promoted. */
  spares: number;
  knobs: ShellKnobs;
  /** Clock rates differ by up to this many ppm either way. */
  driftSpanPpm: number;
  faultPhaseMs: number;
  /** Mean time between fault actions. */
  faultIntervalMs: number;
  crashes: boolean;
  /** Share of fault actions that are a crash or a restart rather than a random pick. */
  crashBias: number;
  membershipChanges: boolean;
  /** Mean time between client proposals. */
  proposalIntervalMs: number;
  /** Share of fault actions that pause a node (0 in the plain Raft runs). */
  pauseShare: number;
}

/** The configuration one seed explores; a pure function of the seed. */
export function randomPlan(seed: number, overrides: Partial<RaftRunPlan> = {}): RaftRunPlan {
  const prng = new Prng(seed * 7919 + 17);
  const voters = prng.pick([1, 3, 3, 5, 5]);
  const fsyncDelayMaxMs = prng.pick([0, 0.5, 2, 8]);
  const knobs: ShellKnobs = {
    tickIntervalMs: prng.pick([20, 50, 50]),
    electionTicks: prng.intBetween(6, 15),
    heartbeatTicks: prng.pick([1, 1, 2]),
    preVote: prng.chance(0.8),
    checkQuorum: prng.chance(0.8),
    inflightMessagesMax: prng.pick([1, 4, 64]),
    appendBytesMax: prng.pick([64, 512, 64 * 1024]),
    learnerCatchUpEntriesMax: prng.pick([0, 8, 64]),
    snapshotEveryEntries: prng.pick([8, 30, 200, 1_000_000]),
    keepEntriesAfterSnapshot: prng.pick([0, 4, 50]),
    fsyncDelayMinMs: fsyncDelayMaxMs / 4,
    fsyncDelayMaxMs,
    sendBeforeSync: false,
  };
  return {
    seed,
    voters,
    spares: voters === 1 ? prng.int(2) : prng.int(3),
    knobs,
    driftSpanPpm: prng.intBetween(200, 1000),
    faultPhaseMs: 15_000,
    faultIntervalMs: prng.intBetween(150, 600),
    crashes: true,
    crashBias: 0,
    membershipChanges: true,
    proposalIntervalMs: prng.intBetween(10, 80),
    pauseShare: 0,
    ...overrides,
  };
}

/** Parts of a run that a test may replace; without them a run is exactly the default one. */
export interface RaftRunOptions {
  /** Builds a node's state machine, once per process lifetime (the chain machine by default). */
  machine?: (address: string, context: NodeContext) => ChainMachine;
  /** Replaces the built-in client, which proposes opaque payloads to the leader. */
  client?: RaftRunClient;
  /** Extra checks after every event, beside the Raft checker's. */
  afterEvent?: () => void;
  /** Called on the leader just before a random leadership transfer. */
  beforeTransfer?: (address: string) => void;
  /** Nodes start at random moments within this many ms (independent tick phases, as real processes have); 0: all at once. */
  startSpreadMs?: number;
  /** The network's behaviour until faults change it (healedNetwork by default). */
  network?: NetworkFaults;
}

export interface RaftRunClient {
  /** The fault phase begins: start sending requests. */
  start(run: RaftRun): void;
  /** The faults end: send no new requests (those outstanding may still finish). */
  stop(): void;
}

export const healedNetwork: NetworkFaults = { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 10 };

export class RaftRun {
  readonly sim: Simulation;
  readonly network: SimNetwork;
  readonly checker: RaftChecker;
  readonly nodes: SimNode[];
  readonly addresses: string[];
  proposalsMade = 0;
  private clientActive = false;
  private markerCount = 0;

  constructor(
    readonly plan: RaftRunPlan,
    private readonly options: RaftRunOptions = {},
  ) {
    this.sim = new Simulation(plan.seed);
    this.network = new SimNetwork(this.sim, options.network ?? healedNetwork);
    this.checker = new RaftChecker(this.sim);
    const founders = Array.from({ length: plan.voters }, (_, i) => `n${i + 1}`);
    const spares = Array.from({ length: plan.spares }, (_, i) => `s${i + 1}`);
    this.addresses = [...founders, ...spares];
    const founding = { voters: founders, learners: [] };
    const observer = this.checker;
    this.nodes = this.addresses.map((address) => {
      const bootstrap = founders.includes(address) ? founding : undefined;
      return new SimNode(this.sim, this.network, address, (context) => new RaftShell(context, plan.knobs, observer, bootstrap, options.machine?.(address, context)), {
        offsetMs: this.sim.prng.int(100_000),
        driftPpm: this.sim.prng.intBetween(-plan.driftSpanPpm, plan.driftSpanPpm),
      });
    });
    const spreadMs = options.startSpreadMs ?? 0;
    if (spreadMs === 0) for (const node of this.nodes) node.start();
    else for (const node of this.nodes) this.sim.after(this.sim.prng.float() * spreadMs, `start ${node.address}`, () => node.start());
  }

  shell(address: string): RaftShell | undefined {
    return this.nodes.find((node) => node.address === address)?.current<RaftShell>();
  }

  upShells(): RaftShell[] {
    const shells: RaftShell[] = [];
    for (const node of this.nodes) {
      const shell = node.current<RaftShell>();
      if (shell) shells.push(shell);
    }
    return shells;
  }

  /** The up node that believes it leads the highest term, if any. */
  leader(): RaftShell | undefined {
    let best: RaftShell | undefined;
    let bestTerm = -1;
    for (const shell of this.upShells()) {
      const status = shell.node.basicStatus();
      if (status.role === "leader" && status.term > bestTerm) {
        best = shell;
        bestTerm = status.term;
      }
    }
    return best;
  }

  /** Run for `durationMs` of real time, checking the invariants after every event. */
  run(durationMs: number): void {
    this.sim.runUntilCondition(() => {
      this.checker.afterEvent(this.upShells());
      this.options.afterEvent?.();
      return false;
    }, durationMs);
  }

  /** Run until `condition` holds (checked, with the invariants, after every event); the time taken or undefined. */
  runUntil(condition: () => boolean, limitMs: number): number | undefined {
    return this.sim.runUntilCondition(() => {
      this.checker.afterEvent(this.upShells());
      this.options.afterEvent?.();
      return condition();
    }, limitMs);
  }

  private scheduleClient(): void {
    const delayMs = 1 + this.sim.prng.int(2 * this.plan.proposalIntervalMs);
    this.sim.after(delayMs, "client", () => {
      if (!this.clientActive) return;
      const leader = this.leader();
      if (leader) {
        const result = leader.propose(`p${++this.proposalsMade}`);
        this.sim.trace.record(`client p${this.proposalsMade} at ${leader.address}: ${result.ok ? result.firstIndex : result.error}`);
      }
      this.scheduleClient();
    });
  }

  /** The fault phase: random faults every faultIntervalMs on average, with clients proposing throughout. */
  faultPhase(): void {
    if (this.options.client) this.options.client.start(this);
    else {
      this.clientActive = true;
      this.scheduleClient();
    }
    const end = this.sim.nowMs + this.plan.faultPhaseMs;
    while (this.sim.nowMs < end) {
      this.run(Math.min(end - this.sim.nowMs, 1 + this.sim.prng.int(2 * this.plan.faultIntervalMs)));
      if (this.sim.nowMs < end) this.injectFault();
    }
  }

  private injectFault(): void {
    const prng = this.sim.prng;
    if (this.plan.pauseShare > 0 && prng.chance(this.plan.pauseShare)) return this.pauseOne();
    if (prng.chance(this.plan.crashBias)) {
      if (prng.chance(0.5)) this.crashOne();
      else this.restartOne();
      return;
    }
    const roll = prng.int(100);
    if (roll < 12) this.partitionRandomly();
    else if (roll < 20) this.partitionOneWay();
    else if (roll < 27) this.isolateLeader();
    else if (roll < 40) this.network.heal();
    else if (roll < 51) this.crashOne();
    else if (roll < 64) this.restartOne();
    else if (roll < 72) this.network.faults = this.randomFaults();
    else if (roll < 90) this.changeMembership();
    else this.transferLeadership();
  }

  private randomFaults(): NetworkFaults {
    const prng = this.sim.prng;
    // The longest delays exceed an election timeout, so messages of old terms arrive late.
    return { lossRate: prng.pick([0, 0.05, 0.2, 0.4]), duplicateRate: prng.pick([0, 0.05, 0.2]), delayMinMs: 1, delayMaxMs: prng.pick([2, 15, 60, 60, 800]) };
  }

  private partitionRandomly(): void {
    const shuffled = this.sim.prng.shuffle([...this.addresses]);
    const cut = 1 + this.sim.prng.int(Math.max(1, shuffled.length - 1));
    this.network.partition(shuffled.slice(0, cut), shuffled.slice(cut));
  }

  private partitionOneWay(): void {
    const from = this.sim.prng.pick(this.addresses);
    const to = this.addresses.filter((address) => address !== from && this.sim.prng.chance(0.6));
    if (to.length > 0) this.network.partition([from], to, this.sim.prng.chance(0.5));
  }

  private isolateLeader(): void {
    const leader = this.leader();
    if (leader) this.network.partition([leader.address], this.addresses.filter((address) => address !== leader.address));
  }

  private crashOne(): void {
    if (!this.plan.crashes) return;
    const up = this.nodes.filter((node) => node.up);
    if (up.length > 0) this.sim.prng.pick(up).crash();
  }

  /** Stall a node, the leader half of the time, for a while up to longer than an election and a lease. */
  private pauseOne(): void {
    const up = this.nodes.filter((node) => node.up && !node.paused);
    if (up.length === 0) return;
    const leader = this.leader();
    const leaderNode = leader ? up.find((node) => node.address === leader.address) : undefined;
    const target = leaderNode && this.sim.prng.chance(0.5) ? leaderNode : this.sim.prng.pick(up);
    target.pause(this.sim.prng.pick([50, 300, 1000, 3000, 8000]));
  }

  private restartOne(): void {
    const down = this.nodes.filter((node) => !node.up);
    if (down.length > 0) this.sim.prng.pick(down).restart();
  }

  /** One single-server change, chosen among what the leader's membership allows. */
  private changeMembership(): void {
    const leader = this.leader();
    if (!leader || !this.plan.membershipChanges) return;
    const conf = leader.node.status().conf;
    const choices: ConfChange[] = [];
    for (const address of this.addresses) {
      if (!conf.voters.includes(address) && !conf.learners.includes(address)) choices.push({ type: "add-learner", node: address });
    }
    for (const learner of conf.learners) choices.push({ type: "promote", node: learner }, { type: "remove", node: learner });
    // Without pre-vote a removed node that never hears of its removal keeps
    // starting elections in ever higher terms (thesis §4.2.3); removals are
    // exercised only where pre-vote is on to contain that.
    if (this.plan.knobs.preVote && conf.voters.length > 1) for (const voter of conf.voters) choices.push({ type: "remove", node: voter });
    if (choices.length === 0) return;
    const change = this.sim.prng.pick(choices);
    const result = leader.act((node) => node.proposeConfChange(change));
    this.sim.trace.record(`membership ${change.type} ${change.node} via ${leader.address}: ${result.ok ? `index ${result.index}` : result.error}`);
  }

  private transferLeadership(): void {
    const leader = this.leader();
    if (!leader) return;
    const others = leader.node.status().conf.voters.filter((voter) => voter !== leader.address);
    if (others.length === 0) return;
    const target = this.sim.prng.pick(others);
    this.options.beforeTransfer?.(leader.address);
    const result = leader.act((node) => node.transferLeadership(target));
    this.sim.trace.record(`transfer ${leader.address} -> ${target}: ${result.ok ? "started" : result.error}`);
  }

  /** End the faults: heal the network, make it reliable, restart every crashed node, stop the clients. */
  heal(): void {
    this.clientActive = false;
    this.options.client?.stop();
    this.network.heal();
    this.network.faults = { ...healedNetwork };
    for (const node of this.nodes) if (!node.up) node.restart();
  }

  /**
   * Wait until a leader has a new entry applied by every voter of its
   * membership; returns the virtual time it took, or undefined after `limitMs`.
   */
  converge(limitMs: number): number | undefined {
    let marker: { leader: string; term: number; index: number; payload: string } | undefined;
    return this.runUntil(() => {
      const leader = this.leader();
      if (!leader) return false;
      const status = leader.node.status();
      if (!marker || marker.leader !== leader.address || marker.term !== status.term) {
        const payload = `marker${++this.markerCount}`;
        const result = leader.propose(payload);
        marker = result.ok ? { leader: leader.address, term: result.term, index: result.firstIndex, payload } : undefined;
        return false;
      }
      const target = marker.index;
      return status.conf.voters.every((voter) => {
        const shell = this.shell(voter);
        return shell !== undefined && shell.machine.index >= target && this.checker.acknowledgedAt.get(target) === marker!.payload;
      });
    }, limitMs);
  }

  /** The time within which a healed group must converge: a generous number of election timeouts. */
  convergenceLimitMs(): number {
    const { electionTicks, tickIntervalMs } = this.plan.knobs;
    return 40 * electionTicks * tickIntervalMs;
  }
}
