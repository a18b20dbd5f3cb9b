// Clients of the replicated key-value store (kv-machine.ts) on the simulated
// Raft group, and the small server each node runs for them. A client has at
// most one operation outstanding: it sends it to the node it believes leads,
// follows a refusal's leader hint, and after a timeout retries on another
// node under the same request number, so the store applies it at most once.
// After a bounded number of timeouts it gives up and moves on; the abandoned
// operation is recorded as never having returned, since it may still take
// effect. Every call and return is recorded in real (virtual) time, for the
// linearizability checker.
//
// The server proposes each request as a log entry (reads too: the core has
// no read index, so a read is linearized by its place in the log) and
// answers once its node applies the client's command; a node that restarts
// forgets what it was waiting for. Requests and answers cross the simulated
// network's current loss, duplication and delay, though not its partitions:
// clients stand outside the cluster. A deliberately broken server that
// answers reads from its own state, without the log, proves that the check
// can fail.

import { assert, assertNever } from "../../../src/lib/assert.ts";
import { Prng } from "../../../src/lib/prng.ts";
import type { SimEvent } from "../kernel.ts";
import { type Operation, unknownOutput } from "../linearizability.ts";
import type { RaftRun, RaftRunClient } from "./harness.ts";
import { type KvApplyOutcome, type KvCommand, type KvInput, KvMachine, type KvOutput, encodeKvCommand, kvClientsMax, kvKeysMax } from "./kv-machine.ts";

export interface KvWorkloadKnobs {
  clients: number;
  keys: number;
  /** Shares of reads and of puts among new operations; the rest are compare-and-sets. */
  getShare: number;
  putShare: number;
  /** A client waits uniformly 1..thinkMsMax between the return of one operation and the call of the next. */
  thinkMsMax: number;
  /** How long a client waits for an answer to one attempt before trying another node. */
  attemptTimeoutMs: number;
  /** Timeouts after which a client abandons an operation. */
  timeoutsMax: number;
  /** Wait before following a refusal (not the leader, transfer in progress). */
  retryBackoffMs: number;
  /** A deliberately broken server: reads are answered from the node's own state, not through the log. */
  localReads: boolean;
}

/** Attempts (sends) of one operation, at most; refusals during an election are retried, but not forever. */
export const attemptsMax = 200;
/** Operations a run records at most. */
export const historyOperationsMax = 200_000;

/** The workload one seed runs; a pure function of the seed. */
export function randomWorkloadKnobs(seed: number, overrides: Partial<KvWorkloadKnobs> = {}): KvWorkloadKnobs {
  const prng = new Prng(seed * 104_729 + 3);
  const getShare = prng.pick([0.2, 0.4, 0.6]);
  return {
    clients: prng.intBetween(2, 6),
    keys: prng.intBetween(1, 3),
    getShare,
    putShare: (1 - getShare) * prng.pick([0.3, 0.5, 0.8]),
    thinkMsMax: prng.pick([1, 10, 40]),
    // Long enough for a round trip over the slowest links the faults make (800 ms each way).
    attemptTimeoutMs: prng.pick([1000, 2000, 3000]),
    timeoutsMax: prng.intBetween(2, 6),
    retryBackoffMs: prng.pick([5, 20, 50]),
    localReads: false,
    ...overrides,
  };
}

type ToClient =
  | { readonly kind: "result"; readonly request: number; readonly output: KvOutput; readonly from: string }
  | { readonly kind: "refused"; readonly request: number; readonly attempt: number; readonly leader: string };

interface Outstanding {
  readonly request: number;
  readonly input: KvInput;
  readonly callMs: number;
  attempts: number;
  timeouts: number;
  /** The attempt whose answer or timeout counts; 0 while a retry waits out its backoff. */
  attempt: number;
  target: string;
  timer: SimEvent | undefined;
}

interface Client {
  readonly name: string;
  lastRequest: number;
  outstanding: Outstanding | undefined;
  /** The node this client believes leads: the last to answer, or the one a refusal named. */
  leader: string;
  /** The last value this client saw for each key, for the compare-and-sets it sends. */
  readonly seen: Map<string, string | null>;
}

export class KvWorkload implements RaftRunClient {
  private run: RaftRun | undefined;
  private readonly prng: Prng;
  private readonly clients: Client[];
  private sending = false;
  private readonly finished: Operation<KvInput, KvOutput>[] = [];
  /** The state machine each node runs in its current process lifetime. */
  private readonly machines = new Map<string, KvMachine>();
  /** Per node: client -> the request it waits to see applied for that client. */
  private readonly waiting = new Map<string, Map<string, number>>();
  private attemptCount = 0;
  /** What the run exercised; duplicates and stale commands are counted on every node that applies them. */
  readonly counts = { completed: 0, abandoned: 0, timeouts: 0, refusals: 0, localReads: 0, swapped: 0, duplicates: 0, stale: 0 };

  constructor(
    seed: number,
    readonly knobs: KvWorkloadKnobs,
  ) {
    assert(knobs.clients >= 1 && knobs.clients <= kvClientsMax, `clients must be within [1, ${kvClientsMax}]`);
    assert(knobs.keys >= 1 && knobs.keys <= kvKeysMax, `keys must be within [1, ${kvKeysMax}]`);
    this.prng = new Prng(seed * 7_368_787 + 11);
    this.clients = Array.from({ length: knobs.clients }, (_, i) => ({ name: `c${i + 1}`, lastRequest: 0, outstanding: undefined, leader: "", seen: new Map() }));
  }

  /** The state machine factory for RaftRunOptions.machine. */
  readonly machineFor = (address: string): KvMachine => {
    const machine = new KvMachine((command, outcome) => this.applied(address, command, outcome));
    this.machines.set(address, machine);
    this.waiting.set(address, new Map());
    return machine;
  };

  start(run: RaftRun): void {
    this.run = run;
    this.sending = true;
    for (const client of this.clients) this.think(client);
  }

  stop(): void {
    this.sending = false;
  }

  /** No operation is outstanding. */
  get idle(): boolean {
    return this.clients.every((client) => client.outstanding === undefined);
  }

  /**
   * Everything recorded: operations that returned, and those abandoned or
   * still outstanding as never returned. A read nobody saw the answer of
   * constrains nothing, so those are left out.
   */
  history(): Operation<KvInput, KvOutput>[] {
    const operations = [...this.finished];
    for (const client of this.clients) {
      if (client.outstanding) operations.push(this.pending(client.name, client.outstanding));
    }
    return operations.filter((operation) => operation.returnMs !== Infinity || operation.input.kind !== "get");
  }

  private get active(): RaftRun {
    assert(this.run, "the workload has not started");
    return this.run;
  }

  private pending(client: string, outstanding: Outstanding): Operation<KvInput, KvOutput> {
    return { client, input: outstanding.input, output: unknownOutput, callMs: outstanding.callMs, returnMs: Infinity };
  }

  private record(operation: Operation<KvInput, KvOutput>): void {
    assert(this.finished.length < historyOperationsMax, `more than ${historyOperationsMax} operations recorded`);
    this.finished.push(operation);
  }

  private think(client: Client): void {
    this.active.sim.after(1 + this.prng.int(this.knobs.thinkMsMax), `kv ${client.name} think`, () => this.begin(client));
  }

  private begin(client: Client): void {
    if (!this.sending || client.outstanding) return;
    const key = `k${this.prng.int(this.knobs.keys) + 1}`;
    const request = ++client.lastRequest;
    const value = `${client.name}.${request}`;
    const roll = this.prng.float();
    const input: KvInput =
      roll < this.knobs.getShare
        ? { kind: "get", key }
        : roll < this.knobs.getShare + this.knobs.putShare
          ? { kind: "put", key, value }
          : { kind: "cas", key, expected: client.seen.get(key) ?? null, value };
    const target = client.leader !== "" ? client.leader : this.prng.pick(this.active.addresses);
    client.outstanding = { request, input, callMs: this.active.sim.nowMs, attempts: 0, timeouts: 0, attempt: 0, target, timer: undefined };
    this.send(client);
  }

  /** One attempt of the client's outstanding operation, to its current target. */
  private send(client: Client): void {
    const outstanding = client.outstanding;
    assert(outstanding, `${client.name} sends with nothing outstanding`);
    if (outstanding.attempts >= attemptsMax) return this.abandon(client);
    outstanding.attempts++;
    const attempt = ++this.attemptCount;
    outstanding.attempt = attempt;
    const sim = this.active.sim;
    outstanding.timer = sim.after(this.knobs.attemptTimeoutMs, `kv ${client.name} timeout`, () => this.timedOut(client, attempt));
    const { request, input, target } = outstanding;
    this.deliver(`kv ${client.name}->${target} #${request}`, () => this.serve(target, client, request, input, attempt));
  }

  /** Across the network's current loss, duplication and delay. */
  private deliver(label: string, arrive: () => void): void {
    const { lossRate, duplicateRate, delayMinMs, delayMaxMs } = this.active.network.faults;
    if (this.prng.chance(lossRate)) return;
    const copies = this.prng.chance(duplicateRate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      this.active.sim.after(delayMinMs + this.prng.float() * (delayMaxMs - delayMinMs), label, arrive);
    }
  }

  private timedOut(client: Client, attempt: number): void {
    const outstanding = client.outstanding;
    if (!outstanding || outstanding.attempt !== attempt) return;
    this.counts.timeouts++;
    outstanding.timer = undefined;
    outstanding.timeouts++;
    if (outstanding.timeouts >= this.knobs.timeoutsMax) return this.abandon(client);
    const others = this.active.addresses.filter((address) => address !== outstanding.target);
    if (others.length > 0) outstanding.target = this.prng.pick(others);
    client.leader = outstanding.target;
    this.send(client);
  }

  /** Give up: the operation may still take effect, so it is recorded as never returned. */
  private abandon(client: Client): void {
    const outstanding = client.outstanding;
    assert(outstanding, `${client.name} abandons nothing`);
    if (outstanding.timer) this.active.sim.cancel(outstanding.timer);
    this.counts.abandoned++;
    this.record(this.pending(client.name, outstanding));
    client.outstanding = undefined;
    this.think(client);
  }

  private receive(client: Client, message: ToClient): void {
    const outstanding = client.outstanding;
    if (!outstanding || outstanding.request !== message.request) return;
    switch (message.kind) {
      case "result":
        client.leader = message.from;
        return this.complete(client, outstanding, message.output);
      case "refused": {
        if (outstanding.attempt !== message.attempt) return;
        this.counts.refusals++;
        if (outstanding.timer) this.active.sim.cancel(outstanding.timer);
        outstanding.timer = undefined;
        outstanding.attempt = 0;
        const others = this.active.addresses.filter((address) => address !== outstanding.target);
        outstanding.target = message.leader !== "" ? message.leader : others.length > 0 ? this.prng.pick(others) : outstanding.target;
        client.leader = outstanding.target;
        this.active.sim.after(this.knobs.retryBackoffMs, `kv ${client.name} retry`, () => {
          if (client.outstanding === outstanding) this.send(client);
        });
        return;
      }
      default:
        return assertNever(message, "message to a client");
    }
  }

  private complete(client: Client, outstanding: Outstanding, output: KvOutput): void {
    if (outstanding.timer) this.active.sim.cancel(outstanding.timer);
    const { input } = outstanding;
    assert(output.kind === input.kind, `${client.name} asked ${input.kind} and was answered ${output.kind}`);
    this.record({ client: client.name, input, output, callMs: outstanding.callMs, returnMs: this.active.sim.nowMs });
    this.counts.completed++;
    if (output.kind === "get") client.seen.set(input.key, output.value);
    if (input.kind === "put") client.seen.set(input.key, input.value);
    if (input.kind === "cas" && output.kind === "cas" && output.swapped) {
      this.counts.swapped++;
      client.seen.set(input.key, input.value);
    }
    client.outstanding = undefined;
    this.think(client);
  }

  private reply(address: string, client: Client, message: ToClient): void {
    this.deliver(`kv ${address}->${client.name} ${message.kind} #${message.request}`, () => this.receive(client, message));
  }

  /** A request reached `address`: propose it, or refuse with the leader's name. */
  private serve(address: string, client: Client, request: number, input: KvInput, attempt: number): void {
    const shell = this.active.shell(address);
    if (!shell) return; // the node is down: the request is lost
    const waiting = this.waiting.get(address)!;
    if (this.knobs.localReads && input.kind === "get") {
      this.counts.localReads++;
      const value = this.machines.get(address)!.localValue(input.key);
      return this.reply(address, client, { kind: "result", request, output: { kind: "get", value }, from: address });
    }
    // Registered first: a node that commits on its own applies the entry inside propose().
    waiting.set(client.name, request);
    const result = shell.propose(encodeKvCommand({ client: client.name, request, input }));
    if (result.ok) return;
    if (waiting.get(client.name) === request) waiting.delete(client.name);
    this.reply(address, client, { kind: "refused", request, attempt, leader: result.leader });
  }

  /** A node applied a store command: answer the client if this node was asked for it. */
  private applied(address: string, command: KvCommand, outcome: KvApplyOutcome): void {
    if (outcome.kind === "stale") {
      this.counts.stale++;
      return;
    }
    if (outcome.kind === "duplicate") this.counts.duplicates++;
    const waiting = this.waiting.get(address);
    if (!waiting || waiting.get(command.client) !== command.request) return;
    waiting.delete(command.client);
    const client = this.clients.find((candidate) => candidate.name === command.client);
    assert(client, `a command of unknown client ${command.client}`);
    this.reply(address, client, { kind: "result", request: command.request, output: outcome.output, from: address });
  }
}
