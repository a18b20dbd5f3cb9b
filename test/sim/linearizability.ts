// A linearizability checker for histories recorded in the simulator, after
// Porcupine (Athalye) and the Wing–Gong–Lowe search. A history is a list of
// operations, each with the real times at which its client called it and saw
// it return; it is linearizable when some order of the operations respects
// real time (an operation that returned before another was called comes
// first) and is accepted, step by step, by a sequential model of the system.
//
// The search walks a doubly linked list of call and return events in time
// order. At each point it tries to linearize an operation whose call comes
// before the first outstanding return: if the model accepts it, the
// operation's two events are lifted out of the list and the search goes on;
// when a return event is reached first, its operation should have been
// linearized already, so the search backtracks. Pairs (set of linearized
// operations, model state) already explored are remembered and not explored
// again, which is what makes the search practical. Operations on independent
// parts of the state (the keys of a store) can be checked partition by
// partition.
//
// An operation that never returned (its client timed out, or the node it
// waited on crashed) has returnMs = Infinity and an unknown output: it may or
// may not have taken effect. The model must accept such an operation in any
// state, so that it can always be placed after everything else, which is the
// same as not having taken effect. Histories with many of them are where
// Porcupine's search blows up (it tries ever more subsets of them), so four
// things are added, none of which changes a verdict: such an operation is
// tried after those that returned; it is not placed where it would leave
// the state unchanged, nor right after another one whose effect it
// overwrites; a configuration is skipped when one with the same state and
// fewer of them placed failed already; and the search first allows none of
// them to take effect, then 1, 2, 4, ... before allowing any number.
//
// The search is exponential in the worst case, so it runs on a step budget
// and reports an exhausted budget as "unknown", never as a verdict. It is
// pure and deterministic: no clock, no randomness, sorted iteration.

import { assert } from "../../src/lib/assert.ts";

/** The output of an operation whose result nobody saw. */
export const unknownOutput: unique symbol = Symbol("unknown output");
export type UnknownOutput = typeof unknownOutput;

export interface Operation<I, O> {
  /** Who called it; a client has at most one operation outstanding at a time. */
  readonly client: string;
  readonly input: I;
  /** unknownOutput exactly when returnMs is Infinity. */
  readonly output: O | UnknownOutput;
  /** Real time of the call and of the return (Infinity if it never returned). */
  readonly callMs: number;
  readonly returnMs: number;
}

/** A sequential specification of the system under test. */
export interface Model<S, I, O> {
  init(): S;
  /**
   * Apply `input` to `state` as the system would; ok is false when the system
   * could not have answered `output` in `state`. With an unknown output, ok
   * must be true in every state. Must not modify `state`.
   */
  step(state: S, input: I, output: O | UnknownOutput): { ok: boolean; state: S };
  /** A string equal for equal states (JSON.stringify by default); may collide if `equal` is given. */
  hash?(state: S): string;
  /** Exact equality of states, when `hash` alone does not decide it. */
  equal?(a: S, b: S): boolean;
  /**
   * Operations on different partitions never affect each other (the keys of
   * a store), so each partition is checked alone, from init().
   */
  partitionKey?(input: I): string;
  describe?(input: I, output: O | UnknownOutput): string;
  describeState?(state: S): string;
}

export interface CheckOptions {
  /** The search's budget of steps (each tries one operation), over all partitions. */
  stepsMax?: number;
}

export const defaultStepsMax = 2_000_000;
/** Operations in one history; the search keeps a bitset and a few arrays of this size. */
export const operationsMax = 1 << 20;
/**
 * Configurations remembered per (returned operations, state): each differs in
 * the pending operations placed. Beyond this, new ones are not remembered,
 * which costs repeated work, never a wrong verdict.
 */
export const configurationsPerStateMax = 64;
/** Operations listed in an explanation, at most, in each of its sections. */
const explanationOperationsMax = 12;

export interface Linearization {
  readonly partition: string;
  /** Indices into the history, in the order the operations took effect; pending ones left out did not. */
  readonly order: readonly number[];
}

export interface Unplaced<I, O> {
  readonly operation: Operation<I, O>;
  readonly index: number;
  /** The model refused it in the state reached (otherwise it was accepted, but nothing could follow it). */
  readonly refused: boolean;
}

export type CheckResult<I, O> =
  | { readonly verdict: "linearizable"; readonly steps: number; readonly linearizations: readonly Linearization[] }
  | {
      readonly verdict: "not-linearizable";
      readonly steps: number;
      readonly partition: string;
      /** The longest order of operations found that respects real time and the model, as history indices. */
      readonly longestPrefix: readonly number[];
      /** The operations that could be placed next, none of which led to a full order. */
      readonly unplaced: readonly Unplaced<I, O>[];
      /** The operation whose return came before any order could place it. */
      readonly overdue: number;
      readonly explanation: string;
    }
  | { readonly verdict: "unknown"; readonly steps: number; readonly partition: string; readonly explanation: string };

/** Checks `history` against `model`. */
export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  assert(history.length <= operationsMax, `history of ${history.length} operations, more than ${operationsMax}`);
  history.forEach(checkOperation);
  const partitions = partitionHistory(model, history);
  let budget = options.stepsMax ?? defaultStepsMax;
  let steps = 0;
  let exhausted: { partition: string; explanation: string } | undefined;
  const linearizations: Linearization[] = [];
  for (const [partition, indices] of partitions) {
    const outcome = searchDeepening(model, history, indices, budget);
    steps += outcome.steps;
    budget -= outcome.steps;
    switch (outcome.kind) {
      case "linearizable":
        linearizations.push({ partition, order: outcome.order });
        break;
      case "not-linearizable": {
        const explanation = explainFailure(model, history, partition, outcome);
        return { verdict: "not-linearizable", steps, partition, ...outcome.best, explanation };
      }
      case "budget-exhausted":
        // The partitions after it run on what is left (if anything): one of
        // them may still prove the history wrong, which is a verdict.
        exhausted ??= { partition, explanation: `budget of ${options.stepsMax ?? defaultStepsMax} steps exhausted on partition "${partition}" (${indices.length} operations)` };
        break;
    }
  }
  if (exhausted) return { verdict: "unknown", steps, ...exhausted };
  return { verdict: "linearizable", steps, linearizations };
}

function checkOperation<I, O>(operation: Operation<I, O>, index: number): void {
  assert(Number.isFinite(operation.callMs), `operation ${index}: call time ${operation.callMs} is not finite`);
  assert(operation.returnMs >= operation.callMs, `operation ${index}: returns at ${operation.returnMs} before its call at ${operation.callMs}`);
  const pending = operation.returnMs === Infinity;
  assert(pending === (operation.output === unknownOutput), `operation ${index}: ${pending ? "never returned but has an output" : "returned without an output"}`);
}

/** History indices grouped by partition key, keys sorted. */
function partitionHistory<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): [string, number[]][] {
  const groups = new Map<string, number[]>();
  history.forEach((operation, index) => {
    const key = model.partitionKey ? model.partitionKey(operation.input) : "";
    const group = groups.get(key);
    if (group) group.push(index);
    else groups.set(key, [index]);
  });
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

interface Deepest {
  /** Local operation numbers linearized, in order. */
  prefix: number[];
  /** The operation whose return event stopped the search. */
  overdue: number;
  /** Not-yet-linearized operations whose calls came before that return. */
  candidates: number[];
}

type SearchOutcome<I, O> =
  | { kind: "linearizable"; steps: number; order: number[] }
  | {
      kind: "not-linearizable";
      steps: number;
      best: { longestPrefix: number[]; unplaced: Unplaced<I, O>[]; overdue: number };
      stateAfterPrefix: string;
      /** Some branch was cut because it placed more pending operations than allowed. */
      limited: boolean;
    }
  | { kind: "budget-exhausted"; steps: number };

const none = -1;
const head = 0;
/** Event numbers: 0 is the list head; operation k has its call at 1 + 2k and its return at 2 + 2k. */
const callOf = (k: number): number => 1 + 2 * k;
const returnOf = (k: number): number => 2 + 2 * k;
const isCall = (event: number): boolean => event % 2 === 1;
const operationOf = (event: number): number => (event - 1) >> 1;

/** A 32-bit mix of an operation number, for an incremental (XOR) hash of a set of operations. */
function mix32(value: number, salt: number): number {
  let x = Math.imul(value ^ salt, 0x9e3779b1) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

interface Configuration<S> {
  readonly returned: Uint32Array;
  readonly pending: Uint32Array;
  readonly state: S;
  /** Explored to the end without success (not an ancestor of the current point). */
  done: boolean;
}

/**
 * The configurations the search has reached: which operations are
 * linearized (those that returned and those that never did, as two
 * bitsets) and the model state. Porcupine's memoisation skips a
 * configuration reached before. Here a configuration is also skipped when
 * one with the same returned operations and state, and a subset of its
 * pending operations, was explored without success: having used more
 * pending operations only leaves fewer choices. Without this, every subset
 * of the pending operations that nothing observed would be explored again.
 */
class Configurations<S> {
  private readonly returned: Uint32Array;
  private readonly pending: Uint32Array;
  private hashA = 0;
  private hashB = 0;
  private readonly seen = new Map<string, Configuration<S>[]>();

  constructor(
    count: number,
    private readonly isPending: (k: number) => boolean,
    private readonly stateKey: (state: S) => string,
    private readonly equal: ((a: S, b: S) => boolean) | undefined,
  ) {
    this.returned = new Uint32Array(Math.ceil(count / 32) + 1);
    this.pending = new Uint32Array(Math.ceil(count / 32) + 1);
  }

  /** Add operation k to the linearized set, or take it out. */
  toggle(k: number): void {
    const bit = 1 << (k & 31);
    if (this.isPending(k)) {
      this.pending[k >>> 5]! ^= bit;
      return;
    }
    this.returned[k >>> 5]! ^= bit;
    this.hashA ^= mix32(k, 0x2545f491);
    this.hashB ^= mix32(k, 0x6c8e9cf5);
  }

  /** Record the current set with `state`; undefined if an equal or a dominating configuration was reached before. */
  visit(state: S): Configuration<S> | undefined {
    const key = `${this.hashA.toString(36)}.${this.hashB.toString(36)}|${this.stateKey(state)}`;
    const bucket = this.seen.get(key);
    if (bucket?.some((known) => this.covers(known, state))) return undefined;
    const configuration = { returned: this.returned.slice(), pending: this.pending.slice(), state, done: false };
    if (!bucket) this.seen.set(key, [configuration]);
    else if (bucket.length < configurationsPerStateMax) bucket.push(configuration);
    return configuration;
  }

  private covers(known: Configuration<S>, state: S): boolean {
    if (this.equal && !this.equal(known.state, state)) return false;
    for (let i = 0; i < this.returned.length; i++) if (known.returned[i] !== this.returned[i]) return false;
    let same = true;
    for (let i = 0; i < this.pending.length; i++) {
      const mine = this.pending[i]!;
      const theirs = known.pending[i]!;
      if ((theirs & ~mine) !== 0) return false;
      if (theirs !== mine) same = false;
    }
    return same || known.done;
  }
}

/**
 * The call and return events of a partition's operations, doubly linked in
 * time order (calls first at equal times, so operations that merely touch
 * are concurrent). Linearizing an operation lifts its two events out;
 * backtracking puts them back, last lifted first.
 */
class EventList {
  private readonly next: Int32Array;
  private readonly previous: Int32Array;

  constructor(operations: readonly Operation<unknown, unknown>[]) {
    const events: number[] = [];
    for (let k = 0; k < operations.length; k++) events.push(callOf(k), returnOf(k));
    const timeOf = (event: number): number => (isCall(event) ? operations[operationOf(event)]!.callMs : operations[operationOf(event)]!.returnMs);
    const rank = (event: number): number => (isCall(event) ? 0 : 1);
    events.sort((a, b) => {
      const ta = timeOf(a);
      const tb = timeOf(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      return rank(a) - rank(b) || a - b;
    });
    this.next = new Int32Array(events.length + 1).fill(none);
    this.previous = new Int32Array(events.length + 1).fill(none);
    let last = head;
    for (const event of events) {
      this.next[last] = event;
      this.previous[event] = last;
      last = event;
    }
  }

  first(): number {
    return this.next[head]!;
  }

  after(event: number): number {
    return this.next[event]!;
  }

  lift(k: number): void {
    const { next, previous } = this;
    for (const event of [callOf(k), returnOf(k)]) {
      next[previous[event]!] = next[event]!;
      if (next[event]! !== none) previous[next[event]!] = previous[event]!;
    }
  }

  /** Undo lift(k): the lifted events kept their pointers, which are valid again once later lifts are undone. */
  unlift(k: number): void {
    const { next, previous } = this;
    for (const event of [returnOf(k), callOf(k)]) {
      next[previous[event]!] = event;
      if (next[event]! !== none) previous[next[event]!] = event;
    }
  }

  /** Operations whose calls come before `stop`. */
  callsBefore(stop: number): number[] {
    const calls: number[] = [];
    for (let event = this.first(); event !== stop && event !== none; event = this.after(event)) {
      if (isCall(event)) calls.push(operationOf(event));
    }
    return calls;
  }
}

/**
 * The search, first allowing no pending operation to take effect, then 1,
 * 2, 4, ... and finally any number. Most pending operations took no effect
 * anyone saw, and a search that may place any of them explores ever more
 * subsets of them when it backtracks; a search that may place only a few
 * finds a linearizable history's order quickly. A search that fails without
 * having cut a branch for the limit gives the final verdict.
 */
function searchDeepening<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[], indices: readonly number[], budget: number): SearchOutcome<I, O> {
  const pendingCount = indices.filter((index) => history[index]!.returnMs === Infinity).length;
  let steps = 0;
  // Bounded: the limit doubles until it admits every pending operation.
  for (let pendingMax = 0; ; pendingMax = Math.max(1, 2 * pendingMax)) {
    const outcome = searchPartition(model, history, indices, budget - steps, pendingMax >= pendingCount ? Infinity : pendingMax);
    steps += outcome.steps;
    if (outcome.kind !== "not-linearizable" || !outcome.limited) return { ...outcome, steps };
  }
}

/**
 * The Wing–Gong–Lowe search with Porcupine's memoisation, on one partition,
 * placing at most `pendingMax` operations that never returned. `indices` are
 * the history indices of the partition's operations.
 */
function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  indices: readonly number[],
  budget: number,
  pendingMax: number,
): SearchOutcome<I, O> {
  const operations = indices.map((index) => history[index]!);
  const isPending = (k: number): boolean => operations[k]!.returnMs === Infinity;
  const stateKey = (state: S): string => (model.hash ? model.hash(state) : JSON.stringify(state));
  const events = new EventList(operations);
  const configurations = new Configurations<S>(operations.length, isPending, stateKey, model.equal?.bind(model));
  const stack: { operation: number; stateBefore: S; reached: Configuration<S> }[] = [];
  let finiteLeft = operations.filter((operation) => operation.returnMs !== Infinity).length;
  let state = model.init();
  let deepest: (Deepest & { state: S }) | undefined;
  let steps = 0;
  const sameState = (a: S, b: S): boolean => stateKey(a) === stateKey(b) && (!model.equal || model.equal(a, b));
  /**
   * Placing pending operation k, reaching `after`, gains nothing when it
   * leaves the state as it was (it can as well not have taken effect), or
   * when it follows another pending operation whose effect it overwrites
   * (placing k alone, which the search also tries, reaches the same state
   * with fewer operations used).
   */
  const pendingRedundant = (k: number, after: S): boolean => {
    if (sameState(after, state)) return true;
    const top = stack[stack.length - 1];
    if (!top || !isPending(top.operation)) return false;
    const alone = model.step(top.stateBefore, operations[k]!.input, operations[k]!.output);
    return alone.ok && sameState(alone.state, after);
  };
  // Candidates are tried in two passes over the same stretch of the list:
  // first the operations that returned, then those that never did. A pending
  // operation is then placed only where nothing that returned can go. The
  // set of candidates, hence the verdict, is the same as in one pass.
  let pendingPass = false;
  let pendingPlaced = 0;
  let limited = false;
  let event = events.first();
  while (finiteLeft > 0) {
    if (steps >= budget) return { kind: "budget-exhausted", steps };
    steps++;
    // A return is always reached before the list ends while a finite operation is left.
    assert(event !== none, "linearizability search ran off the end of the event list");
    if (isCall(event)) {
      const k = operationOf(event);
      if (isPending(k) === pendingPass) {
        const result = model.step(state, operations[k]!.input, operations[k]!.output);
        let useful = result.ok && (!pendingPass || !pendingRedundant(k, result.state));
        if (useful && pendingPass && pendingPlaced >= pendingMax) {
          limited = true;
          useful = false;
        }
        configurations.toggle(k);
        const reached = useful ? configurations.visit(result.state) : undefined;
        if (reached) {
          stack.push({ operation: k, stateBefore: state, reached });
          state = result.state;
          events.lift(k);
          if (pendingPass) pendingPlaced++;
          else finiteLeft--;
          pendingPass = false;
          event = events.first();
          continue;
        }
        configurations.toggle(k);
      }
      event = events.after(event);
      continue;
    }
    if (!pendingPass) {
      pendingPass = true;
      event = events.first();
      continue;
    }
    // The return of an operation not yet linearized, and no candidate left: this branch is dead.
    if (!deepest || stack.length > deepest.prefix.length) {
      deepest = { prefix: stack.map((frame) => frame.operation), overdue: operationOf(event), candidates: events.callsBefore(event), state };
    }
    const frame = stack.pop();
    if (!frame) break;
    frame.reached.done = true;
    state = frame.stateBefore;
    configurations.toggle(frame.operation);
    events.unlift(frame.operation);
    pendingPass = isPending(frame.operation);
    if (pendingPass) pendingPlaced--;
    else finiteLeft++;
    event = events.after(callOf(frame.operation));
  }
  if (finiteLeft === 0) return { kind: "linearizable", steps, order: stack.map((frame) => indices[frame.operation]!) };
  assert(deepest, "a failed search recorded no dead end");
  return { kind: "not-linearizable", steps, limited, ...describeDeadEnd(model, history, indices, deepest, stateKey) };
}

/** The deepest dead end, in history indices, with each candidate marked refused or not. */
function describeDeadEnd<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  indices: readonly number[],
  deepest: Deepest & { state: S },
  stateKey: (state: S) => string,
): { best: { longestPrefix: number[]; unplaced: Unplaced<I, O>[]; overdue: number }; stateAfterPrefix: string } {
  const unplaced = deepest.candidates.map((k) => {
    const operation = history[indices[k]!]!;
    return { operation, index: indices[k]!, refused: !model.step(deepest.state, operation.input, operation.output).ok };
  });
  return {
    best: { longestPrefix: deepest.prefix.map((k) => indices[k]!), unplaced, overdue: indices[deepest.overdue]! },
    stateAfterPrefix: model.describeState ? model.describeState(deepest.state) : stateKey(deepest.state),
  };
}

function formatMs(ms: number): string {
  return `${Number(ms.toFixed(3))}`;
}

export function describeOperation<S, I, O>(model: Model<S, I, O>, operation: Operation<I, O>): string {
  const what = model.describe
    ? model.describe(operation.input, operation.output)
    : `${JSON.stringify(operation.input)} -> ${operation.output === unknownOutput ? "?" : JSON.stringify(operation.output)}`;
  const interval = operation.returnMs === Infinity ? `${formatMs(operation.callMs)} ms .. never` : `${formatMs(operation.callMs)} .. ${formatMs(operation.returnMs)} ms`;
  return `${operation.client}: ${what} [${interval}]`;
}

function explainFailure<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  partition: string,
  outcome: Extract<SearchOutcome<I, O>, { kind: "not-linearizable" }>,
): string {
  const { longestPrefix, unplaced, overdue } = outcome.best;
  const describe = (index: number): string => describeOperation(model, history[index]!);
  const lines = [`not linearizable${partition === "" ? "" : ` (partition "${partition}")`}: the longest order found places ${longestPrefix.length} operations`];
  const shownFrom = Math.max(0, longestPrefix.length - explanationOperationsMax);
  if (shownFrom > 0) lines.push(`  ... ${shownFrom} earlier operations`);
  for (let i = shownFrom; i < longestPrefix.length; i++) lines.push(`  ${i + 1}. ${describe(longestPrefix[i]!)}`);
  lines.push(`reaching state ${outcome.stateAfterPrefix}, after which nothing could be placed before this returned: ${describe(overdue)}`);
  lines.push("the operations that could have come next:");
  for (const candidate of unplaced.slice(0, explanationOperationsMax)) {
    lines.push(`  ${describe(candidate.index)}: ${candidate.refused ? "refused by the model" : "accepted, but no order of the rest follows"}`);
  }
  if (unplaced.length > explanationOperationsMax) lines.push(`  ... and ${unplaced.length - explanationOperationsMax} more`);
  return lines.join("\n");
}
