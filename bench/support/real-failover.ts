// Failover of a cluster role (the Raft leader, a lease holder) between real
// agent processes on loopback, measured from outside the way an operator
// would see it. The runner starts `size` agents that found one cluster
// (--bootstrap-expect size, each joining the others), waits until they are
// steady, then repeats rounds:
//
//   1. wait a random moment, ask the holder for its epoch, kill -9 it;
//   2. poll every survivor every pollIntervalMs, noting when the first
//      survivor reports that it holds the role itself in a later epoch
//      ("first") and when every survivor names that holder in that epoch
//      ("agreed"), each at the moment the answer arrived;
//   3. restart the killed agent on its data directory and ports, and wait
//      until the cluster is steady again: every agent names the same holder
//      in the same epoch and the target's own check passes (for Raft: all
//      voters back and caught up, and the leader the one priorities prefer,
//      since a leadership transfer may move it back to the restarted node).
//
// What a role is comes from a FailoverTarget: a probe that asks one agent
// who holds the role and in which epoch (Raft term, lease fencing token),
// and a steadiness check. Times are wall-clock milliseconds on a shared
// machine; the runner only collects them. The agents do not watch the
// machine's Docker engine (their socket path points into their own temporary
// directory, where there is none), so containers that others run on the
// machine cannot add work to a measurement.

import type { ProfileName } from "../../src/config/schema.ts";
import { assert } from "../../src/lib/assert.ts";
import { type AgentProcess, AgentProcesses } from "../../test/support/agent-process.ts";

/** One agent's answer to "who holds the role now". */
export interface RoleView {
  /** The holder's node name; "" while this agent knows of none. */
  holder: string;
  /** Grows with every change of holder: the Raft term, a lease's fencing token. */
  epoch: number;
}

export interface FailoverTarget {
  /** What is measured, for messages ("raft leader"). */
  role: string;
  /**
   * Asks one agent; undefined when it cannot answer (starting, unreachable,
   * no such role yet). It must bound its own wait (about a second), since
   * the runner polls every pollIntervalMs and waits for every answer.
   */
  probe(agent: AgentProcess): Promise<RoleView | undefined>;
  /**
   * Whether the cluster is back in its steady state, checked once every
   * agent names `holder` in the same epoch: for example every voter caught
   * up, and the holder the one the agents' priorities prefer.
   */
  steady(agents: readonly AgentProcess[], holder: string): Promise<boolean>;
}

export interface RealFailoverOptions {
  size: number;
  rounds: number;
  profile: ProfileName;
  /** "equal": every agent has the default priority; "distinct": agent i has priority 10 x (i + 1). */
  priorities: "equal" | "distinct";
  pollIntervalMs: number;
  /** Flags and environment added for every agent. */
  args?: string[];
  env?: Record<string, string>;
  /** The kill comes this long after the cluster is steady, drawn uniformly, so it lands at any phase of the agents' timers. */
  killDelayMinMs?: number;
  killDelayMaxMs?: number;
  /** Bounds on each wait; a failover that takes longer is recorded as not reached, a missed steady state ends the run. */
  formLimitMs?: number;
  failoverLimitMs?: number;
  steadyLimitMs?: number;
  /** One line per round, while it runs. */
  progress?: (line: string) => void;
}

export interface RealFailoverRound {
  killed: string;
  killedEpoch: number;
  successor: string | undefined;
  successorEpoch: number | undefined;
  /** Kill until a survivor reported holding the role itself in a later epoch; undefined when not within the limit. */
  firstMs: number | undefined;
  /** Kill until every survivor named that holder in that epoch. */
  agreedMs: number | undefined;
  /** Restart of the killed agent until the cluster was steady again (process start included). */
  steadyAgainMs: number;
}

export interface RealFailoverResult {
  size: number;
  /** Start of the first agent until the cluster was first steady. */
  formedMs: number;
  rounds: RealFailoverRound[];
}

/** The default priority of an agent (config: priority), used for "equal". */
const defaultPriority = 100;
/** Pause between steadiness checks; they are not timed, so they need not be frequent. */
const steadyPollMs = 100;
/** Times a round starts over because the holder changed between the steady check and the kill. */
const killAttemptsMax = 10;

interface TimedView extends RoleView {
  agent: string;
  /** performance.now() when the answer arrived. */
  atMs: number;
}

async function timedProbe(target: FailoverTarget, agent: AgentProcess): Promise<TimedView | undefined> {
  const view = await target.probe(agent).catch(() => undefined);
  return view ? { ...view, agent: agent.name, atMs: performance.now() } : undefined;
}

/** The holder and epoch every agent names, or undefined when they do not all agree on one. */
function agreement(views: readonly (TimedView | undefined)[]): TimedView | undefined {
  const first = views[0];
  if (!first || first.holder === "") return undefined;
  return views.every((view) => view !== undefined && view.holder === first.holder && view.epoch === first.epoch) ? first : undefined;
}

async function waitSteady(target: FailoverTarget, agents: readonly AgentProcess[], limitMs: number): Promise<TimedView> {
  const deadline = performance.now() + limitMs;
  let last = "no answer yet";
  while (performance.now() < deadline) {
    const views = await Promise.all(agents.map((agent) => timedProbe(target, agent)));
    const agreed = agreement(views);
    if (agreed && (await target.steady(agents, agreed.holder).catch(() => false))) return agreed;
    last = views.map((view, i) => `${agents[i]!.name}: ${view ? `${view.holder || "none"}@${view.epoch}` : "no answer"}`).join(", ");
    await Bun.sleep(steadyPollMs);
  }
  throw new Error(`the cluster of ${agents.length} was not steady within ${limitMs} ms (${target.role}: ${last})`);
}

/** Polls the survivors on a fixed schedule until they agree on a successor, or the limit passes. */
async function watchFailover(
  target: FailoverTarget,
  survivors: readonly AgentProcess[],
  killedEpoch: number,
  killedAtMs: number,
  options: RealFailoverOptions,
): Promise<Pick<RealFailoverRound, "successor" | "successorEpoch" | "firstMs" | "agreedMs">> {
  const limitMs = options.failoverLimitMs ?? 30_000;
  let first: TimedView | undefined;
  for (let poll = 1; ; poll++) {
    const views = await Promise.all(survivors.map((agent) => timedProbe(target, agent)));
    for (const view of views) {
      if (view && view.holder === view.agent && view.epoch > killedEpoch && (!first || view.atMs < first.atMs)) first = view;
    }
    const agreed = agreement(views);
    if (first && agreed && agreed.epoch > killedEpoch) {
      const agreedAtMs = Math.max(...views.map((view) => view!.atMs));
      return { successor: agreed.holder, successorEpoch: agreed.epoch, firstMs: first.atMs - killedAtMs, agreedMs: agreedAtMs - killedAtMs };
    }
    const now = performance.now();
    if (now - killedAtMs > limitMs) {
      return { successor: first?.holder, successorEpoch: first?.epoch, firstMs: first ? first.atMs - killedAtMs : undefined, agreedMs: undefined };
    }
    await Bun.sleep(Math.max(0, killedAtMs + poll * options.pollIntervalMs - now));
  }
}

async function round(
  agents: AgentProcesses,
  members: readonly AgentProcess[],
  target: FailoverTarget,
  startAgent: (agent: AgentProcess) => void,
  options: RealFailoverOptions,
): Promise<RealFailoverRound> {
  const steadyLimitMs = options.steadyLimitMs ?? 60_000;
  for (let attempt = 1; attempt <= killAttemptsMax; attempt++) {
    const steady = await waitSteady(target, members, steadyLimitMs);
    const delayMinMs = options.killDelayMinMs ?? 0;
    await Bun.sleep(delayMinMs + Math.random() * ((options.killDelayMaxMs ?? 500) - delayMinMs));
    const victim = members.find((agent) => agent.name === steady.holder);
    assert(victim !== undefined, `${target.role} ${steady.holder} is not one of the agents`);
    // Its own word just before the kill: the epoch the successor must exceed.
    const own = await timedProbe(target, victim);
    if (!own || own.holder !== victim.name) continue;
    const killedAtMs = performance.now();
    const exited = agents.kill(victim, "SIGKILL");
    const survivors = members.filter((agent) => agent !== victim);
    const failover = await watchFailover(target, survivors, own.epoch, killedAtMs, options);
    await exited;
    const restartedAtMs = performance.now();
    startAgent(victim);
    await waitSteady(target, members, steadyLimitMs);
    return { killed: victim.name, killedEpoch: own.epoch, ...failover, steadyAgainMs: performance.now() - restartedAtMs };
  }
  throw new Error(`the ${target.role} kept changing between the steady check and the kill (${killAttemptsMax} attempts)`);
}

/** Starts a cluster of `options.size` agents, measures `options.rounds` failovers of `target`, stops the agents. */
export async function measureRealFailover(target: FailoverTarget, options: RealFailoverOptions): Promise<RealFailoverResult> {
  assert(options.size >= 3, "a failover needs at least three agents");
  assert(options.rounds >= 1 && options.pollIntervalMs > 0, "rounds and poll interval must be positive");
  const agents = new AgentProcesses(`constellation-bench-failover-${options.size}-`);
  try {
    const members: AgentProcess[] = [];
    for (let i = 0; i < options.size; i++) {
      members.push(await agents.make(`node${i + 1}`, options.priorities === "equal" ? defaultPriority : 10 * (i + 1)));
    }
    const env = options.env ?? {};
    const startAgent = (agent: AgentProcess) => {
      const seeds = members.filter((other) => other !== agent).map((other) => `127.0.0.1:${other.gossip}`).join(",");
      agents.start(agent, ["--bootstrap-expect", String(options.size), "--join", seeds, ...(options.args ?? [])], env, options.profile);
    };
    const startedMs = performance.now();
    for (const agent of members) startAgent(agent);
    await waitSteady(target, members, options.formLimitMs ?? 90_000);
    const formedMs = performance.now() - startedMs;
    options.progress?.(`${options.size} agents formed a cluster in ${Math.round(formedMs)} ms`);
    const rounds: RealFailoverRound[] = [];
    for (let i = 1; i <= options.rounds; i++) {
      const result = await round(agents, members, target, startAgent, options);
      rounds.push(result);
      const ms = (value: number | undefined) => (value === undefined ? "not reached" : `${Math.round(value)} ms`);
      options.progress?.(
        `  round ${i}/${options.rounds}: killed ${result.killed} (epoch ${result.killedEpoch}); ` +
          `${result.successor ?? "nobody"} holds it (epoch ${result.successorEpoch ?? "-"}) after ${ms(result.firstMs)}, ` +
          `all agree after ${ms(result.agreedMs)}; steady ${Math.round(result.steadyAgainMs)} ms after the restart`,
      );
    }
    return { size: options.size, formedMs, rounds };
  } finally {
    await agents.close();
  }
}
