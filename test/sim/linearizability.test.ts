// Unit tests of the linearizability checker: hand-made histories of a
// register and a small key-value store whose verdicts are known (stale
// reads, lost writes, values never written, concurrency that allows either
// order, pending operations that did or did not take effect), random small
// histories compared with an exhaustive search over every order, and
// histories recorded from a tiny replicated register, correct and broken.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../src/lib/prng.ts";
import { Simulation } from "./kernel.ts";
import { type Model, type Operation, type UnknownOutput, checkLinearizability, unknownOutput } from "./linearizability.ts";

type KvInput = { kind: "put"; key: string; value: number } | { kind: "get"; key: string } | { kind: "cas"; key: string; expected: number; value: number };
type KvOutput = { kind: "put" } | { kind: "get"; value: number } | { kind: "cas"; swapped: boolean };
/** Key -> value; an absent key reads as 0. */
type KvState = Readonly<Record<string, number>>;

function kvStep(state: KvState, input: KvInput): { state: KvState; output: KvOutput } {
  const current = state[input.key] ?? 0;
  switch (input.kind) {
    case "put":
      return { state: { ...state, [input.key]: input.value }, output: { kind: "put" } };
    case "get":
      return { state, output: { kind: "get", value: current } };
    case "cas":
      if (current !== input.expected) return { state, output: { kind: "cas", swapped: false } };
      return { state: { ...state, [input.key]: input.value }, output: { kind: "cas", swapped: true } };
  }
}

function sameOutput(a: KvOutput, b: KvOutput): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The store without partitioning: every key in one state. */
const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => ({}),
  step(state, input, output) {
    const next = kvStep(state, input);
    return { ok: output === unknownOutput || sameOutput(next.output, output), state: next.state };
  },
  hash: (state) => JSON.stringify(Object.entries(state).sort(([a], [b]) => (a < b ? -1 : 1))),
  describe(input, output) {
    const result = output === unknownOutput ? "?" : output.kind === "get" ? String(output.value) : output.kind === "cas" ? String(output.swapped) : "ok";
    const args = input.kind === "put" ? `${input.key}, ${input.value}` : input.kind === "get" ? input.key : `${input.key}, ${input.expected}, ${input.value}`;
    return `${input.kind}(${args}) -> ${result}`;
  },
  describeState: (state) => JSON.stringify(state),
};

/** The same store, checked key by key. */
const partitionedKvModel: Model<KvState, KvInput, KvOutput> = { ...kvModel, partitionKey: (input) => input.key };

const put = (key: string, value: number): KvInput => ({ kind: "put", key, value });
const get = (key: string): KvInput => ({ kind: "get", key });
const cas = (key: string, expected: number, value: number): KvInput => ({ kind: "cas", key, expected, value });
const ok: KvOutput = { kind: "put" };
const read = (value: number): KvOutput => ({ kind: "get", value });
const swapped = (done: boolean): KvOutput => ({ kind: "cas", swapped: done });

function op(client: string, input: KvInput, output: KvOutput | UnknownOutput, callMs: number, returnMs: number): Operation<KvInput, KvOutput> {
  return { client, input, output, callMs, returnMs };
}
const pending = (client: string, input: KvInput, callMs: number): Operation<KvInput, KvOutput> => op(client, input, unknownOutput, callMs, Infinity);

describe("linearizability checker: hand-made histories", () => {
  test.each<[string, Operation<KvInput, KvOutput>[], boolean]>([
    ["an empty history", [], true],
    ["a write then a read of it", [op("a", put("x", 1), ok, 0, 1), op("b", get("x"), read(1), 2, 3)], true],
    ["a read of the initial value before any write", [op("b", get("x"), read(0), 0, 1), op("a", put("x", 1), ok, 2, 3)], true],
    ["a stale read after a newer write returned", [op("a", put("x", 1), ok, 0, 1), op("a", put("x", 2), ok, 2, 3), op("b", get("x"), read(1), 4, 5)], false],
    ["a lost write: a read after it returned sees the initial value", [op("a", put("x", 1), ok, 0, 1), op("b", get("x"), read(0), 2, 3)], false],
    ["a read of a value never written", [op("a", put("x", 1), ok, 0, 1), op("b", get("x"), read(7), 2, 3)], false],
    ["a read concurrent with a write sees the old value", [op("a", put("x", 1), ok, 0, 10), op("b", get("x"), read(0), 1, 5)], true],
    ["a read concurrent with a write sees the new value", [op("a", put("x", 1), ok, 0, 10), op("b", get("x"), read(1), 1, 5)], true],
    ["two concurrent writes, later reads agree on either winner", [op("a", put("x", 1), ok, 0, 5), op("b", put("x", 2), ok, 1, 6), op("c", get("x"), read(1), 7, 8), op("c", get("x"), read(1), 9, 10)], true],
    ["two concurrent writes, later reads disagree", [op("a", put("x", 1), ok, 0, 5), op("b", put("x", 2), ok, 1, 6), op("c", get("x"), read(1), 7, 8), op("c", get("x"), read(2), 9, 10)], false],
    ["a new value seen, then the old one again, during one write", [op("a", put("x", 1), ok, 0, 10), op("b", get("x"), read(1), 1, 2), op("c", get("x"), read(0), 3, 4)], false],
    ["operations that only touch in time are concurrent", [op("a", put("x", 1), ok, 0, 2), op("b", get("x"), read(0), 2, 3)], true],
    ["a pending write that took effect", [pending("a", put("x", 1), 0), op("b", get("x"), read(1), 5, 6)], true],
    ["a pending write that did not take effect", [pending("a", put("x", 1), 0), op("b", get("x"), read(0), 5, 6)], true],
    ["a pending write seen, then unseen", [pending("a", put("x", 1), 0), op("b", get("x"), read(1), 5, 6), op("b", get("x"), read(0), 7, 8)], false],
    ["a pending write seen before it was called", [op("b", get("x"), read(1), 0, 1), pending("a", put("x", 1), 2)], false],
    ["a pending write overtaken by a later acknowledged one", [pending("a", put("x", 1), 0), op("b", put("x", 2), ok, 1, 2), op("c", get("x"), read(1), 3, 4)], true],
    ["compare-and-set: one of two racing swaps wins", [op("a", cas("x", 0, 1), swapped(true), 0, 5), op("b", cas("x", 0, 2), swapped(false), 1, 6), op("c", get("x"), read(1), 7, 8)], true],
    ["compare-and-set: both racing swaps claim to win", [op("a", cas("x", 0, 1), swapped(true), 0, 5), op("b", cas("x", 0, 2), swapped(true), 1, 6)], false],
    ["compare-and-set that failed although the value matched", [op("a", put("x", 3), ok, 0, 1), op("b", cas("x", 3, 4), swapped(false), 2, 3)], false],
    ["a pending compare-and-set that took effect", [op("a", put("x", 3), ok, 0, 1), pending("b", cas("x", 3, 4), 2), op("c", get("x"), read(4), 5, 6)], true],
  ])("%s", (_name, history, linearizable) => {
    for (const model of [kvModel, partitionedKvModel]) {
      const result = checkLinearizability(model, history);
      expect(result.verdict).toBe(linearizable ? "linearizable" : "not-linearizable");
    }
  });

  test("keys are checked alone, and a failure names its key and explains itself", () => {
    const history = [
      op("a", put("x", 1), ok, 0, 1),
      op("b", put("y", 5), ok, 0, 1),
      op("a", put("y", 6), ok, 2, 3),
      op("c", get("x"), read(1), 2, 3),
      op("c", get("y"), read(5), 4, 5),
    ];
    const result = checkLinearizability(partitionedKvModel, history);
    expect(result.verdict).toBe("not-linearizable");
    if (result.verdict !== "not-linearizable") return;
    expect(result.partition).toBe("y");
    expect(result.longestPrefix).toEqual([1, 2]);
    expect(result.overdue).toBe(4);
    expect(result.unplaced.map((unplaced) => [unplaced.index, unplaced.refused])).toEqual([[4, true]]);
    expect(result.explanation).toContain('(partition "y")');
    expect(result.explanation).toContain("c: get(y) -> 5 [4 .. 5 ms]: refused by the model");
    expect(result.explanation).toContain('reaching state {"y":6}');
  });

  test("a linearizable history comes with a witness order per partition", () => {
    const history = [op("a", put("x", 1), ok, 0, 10), op("b", get("x"), read(0), 1, 2), op("c", get("x"), read(1), 3, 4), pending("d", put("y", 2), 0)];
    const result = checkLinearizability(partitionedKvModel, history);
    expect(result.verdict).toBe("linearizable");
    if (result.verdict !== "linearizable") return;
    expect(result.linearizations).toEqual([{ partition: "x", order: [1, 0, 2] }, { partition: "y", order: [] }]);
  });

  test("an exhausted budget is reported as unknown, not as a verdict", () => {
    // Many concurrent writes and a read that none of them explains: proving it
    // wrong means trying every order.
    const history: Operation<KvInput, KvOutput>[] = [];
    for (let i = 1; i <= 10; i++) history.push(op(`w${i}`, put("x", i), ok, 0, 100));
    history.push(op("r", get("x"), read(99), 0, 100));
    const small = checkLinearizability(kvModel, history, { stepsMax: 50 });
    expect(small.verdict).toBe("unknown");
    expect(small.steps).toBe(50);
    if (small.verdict === "unknown") expect(small.explanation).toContain("budget of 50 steps exhausted");
    expect(checkLinearizability(kvModel, history).verdict).toBe("not-linearizable");
  });

  test("many writes that never returned do not blow up the search", () => {
    // Twenty writes of unknown outcome, concurrent with everything after
    // them, then forty acknowledged writes each read back, then two reads of
    // one of the unknown writes: only that one need have taken effect, last.
    const history: Operation<KvInput, KvOutput>[] = [];
    for (let i = 0; i < 20; i++) history.push(pending(`p${i}`, put("x", 1000 + i), i));
    for (let i = 0; i < 40; i++) {
      history.push(op("a", put("x", i), ok, 100 + 10 * i, 105 + 10 * i));
      history.push(op("b", get("x"), read(i), 106 + 10 * i, 108 + 10 * i));
    }
    history.push(op("b", get("x"), read(1017), 600, 601), op("b", get("x"), read(1017), 602, 603));
    expect(checkLinearizability(kvModel, history, { stepsMax: 20_000 }).verdict).toBe("linearizable");
    // One write cannot take effect twice: reading it again after another one is wrong.
    history.push(op("b", get("x"), read(1018), 604, 605), op("b", get("x"), read(1017), 606, 607));
    expect(checkLinearizability(kvModel, history).verdict).toBe("not-linearizable");
  });

  test("the verdict and its explanation are deterministic", () => {
    const history = [op("a", put("x", 1), ok, 0, 1), op("a", put("x", 2), ok, 2, 3), op("b", get("x"), read(1), 4, 5), pending("c", put("x", 3), 1)];
    const first = checkLinearizability(kvModel, history);
    expect(first.verdict).toBe("not-linearizable");
    expect(checkLinearizability(kvModel, history)).toEqual(first);
  });

  test("malformed histories are programmer errors", () => {
    expect(() => checkLinearizability(kvModel, [op("a", get("x"), read(0), 5, 4)])).toThrow("before its call");
    expect(() => checkLinearizability(kvModel, [op("a", get("x"), unknownOutput, 0, 4)])).toThrow("returned without an output");
    expect(() => checkLinearizability(kvModel, [op("a", get("x"), read(0), 0, Infinity)])).toThrow("never returned but has an output");
  });
});

/**
 * The definition, searched exhaustively: some order of every operation that
 * returned and some of those that did not, in which an operation comes after
 * every operation that returned before it was called, accepted by the model.
 */
function bruteForceLinearizable(model: Model<KvState, KvInput, KvOutput>, history: readonly Operation<KvInput, KvOutput>[]): boolean {
  const used = new Array<boolean>(history.length).fill(false);
  const finite = history.filter((operation) => operation.returnMs !== Infinity).length;
  const extend = (state: KvState, placedFinite: number): boolean => {
    if (placedFinite === finite) return true;
    for (let i = 0; i < history.length; i++) {
      if (used[i]) continue;
      const candidate = history[i]!;
      const mustPrecede = history.some((other, j) => !used[j] && j !== i && other.returnMs < candidate.callMs);
      if (mustPrecede) continue;
      const step = model.step(state, candidate.input, candidate.output);
      if (!step.ok) continue;
      used[i] = true;
      const found = extend(step.state, placedFinite + (candidate.returnMs === Infinity ? 0 : 1));
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return extend(model.init(), 0);
}

/** A witness order of one partition must respect real time, be accepted by the model and place every operation that returned. */
function witnessHolds(history: readonly Operation<KvInput, KvOutput>[], members: readonly number[], order: readonly number[]): boolean {
  let state = kvModel.init();
  for (let position = 0; position < order.length; position++) {
    const operation = history[order[position]!]!;
    const step = kvModel.step(state, operation.input, operation.output);
    if (!step.ok) return false;
    state = step.state;
    if (order.slice(position + 1).some((index) => history[index]!.returnMs < operation.callMs)) return false;
  }
  return members.every((index) => history[index]!.returnMs === Infinity || order.includes(index));
}

/**
 * A small random history: each operation takes effect at a random instant
 * of its interval (some pending ones never do), outputs follow from that
 * order, and half the time one output is then falsified.
 */
function randomHistory(prng: Prng, keys: readonly string[], pendingChance: number): Operation<KvInput, KvOutput>[] {
  const count = prng.intBetween(2, 7);
  const planned = Array.from({ length: count }, (_, i) => {
    const key = prng.pick(keys);
    const roll = prng.int(3);
    const input = roll === 0 ? put(key, prng.intBetween(1, 3)) : roll === 1 ? get(key) : cas(key, prng.int(3), prng.intBetween(1, 3));
    const callMs = prng.int(20);
    const isPending = prng.chance(pendingChance);
    const returnMs = isPending ? Infinity : callMs + prng.int(8);
    const effectMs = isPending ? (prng.chance(0.5) ? Infinity : callMs + prng.int(10)) : callMs + prng.float() * (returnMs - callMs);
    return { client: `c${i}`, input, callMs, returnMs, effectMs };
  });
  const outputs = new Map<number, KvOutput>();
  let state: KvState = {};
  const byEffect = planned.map((_, i) => i).sort((a, b) => planned[a]!.effectMs - planned[b]!.effectMs || a - b);
  for (const i of byEffect) {
    if (planned[i]!.effectMs === Infinity) continue;
    const step = kvStep(state, planned[i]!.input);
    state = step.state;
    outputs.set(i, step.output);
  }
  const history = planned.map(({ client, input, callMs, returnMs }, i) =>
    op(client, input, returnMs === Infinity ? unknownOutput : outputs.get(i)!, callMs, returnMs),
  );
  const returned = history.map((_, i) => i).filter((i) => history[i]!.returnMs !== Infinity);
  if (returned.length > 0 && prng.chance(0.5)) {
    const victim = prng.pick(returned);
    const original = history[victim]!;
    const output: KvOutput =
      original.input.kind === "get" ? read(prng.int(4)) : original.input.kind === "cas" ? swapped(prng.chance(0.5)) : ok;
    history[victim] = { ...original, output };
  }
  return history;
}

describe("linearizability checker: random small histories against an exhaustive search", () => {
  test.each([
    ["one register", ["x"], kvModel, 0.15],
    ["one register, many operations that never returned", ["x"], kvModel, 0.5],
    ["two keys, partitioned", ["x", "y"], partitionedKvModel, 0.15],
    ["two keys, unpartitioned", ["x", "y"], kvModel, 0.15],
  ] as const)("%s", (_name, keys, model, pendingChance) => {
    const prng = new Prng(20_250 + keys.length + Math.round(pendingChance * 100));
    const verdicts = { linearizable: 0, "not-linearizable": 0 };
    for (let trial = 0; trial < 1500; trial++) {
      const history = randomHistory(prng, keys, pendingChance);
      const result = checkLinearizability(model, history);
      expect(result.verdict).not.toBe("unknown");
      const expected = bruteForceLinearizable(kvModel, history);
      if ((result.verdict === "linearizable") !== expected) {
        throw new Error(`trial ${trial}: checker says ${result.verdict}, exhaustive search ${expected}\n${JSON.stringify(history)}`);
      }
      if (result.verdict === "linearizable") {
        for (const { partition, order } of result.linearizations) {
          const members = history.map((_, index) => index).filter((index) => (model.partitionKey?.(history[index]!.input) ?? "") === partition);
          expect(witnessHolds(history, members, order)).toBe(true);
        }
      }
      if (result.verdict !== "unknown") verdicts[result.verdict]++;
    }
    // Both verdicts must be well represented, or the comparison proves little.
    expect(verdicts.linearizable).toBeGreaterThan(200);
    expect(verdicts["not-linearizable"]).toBeGreaterThan(200);
  });
});

/**
 * A register on a primary and two backups, over a network with random
 * delays. Writes are applied at the primary and copied to the backups
 * later; reads go to the primary, or (in the broken version) to any copy.
 */
function replicatedRegisterHistory(seed: number, readAnyCopy: boolean): Operation<KvInput, KvOutput>[] {
  const sim = new Simulation(seed);
  const copies = [0, 0, 0];
  const history: Operation<KvInput, KvOutput>[] = [];
  const delayMs = () => 1 + sim.prng.int(20);
  let nextValue = 1;
  const runClient = (client: string, operationsLeft: number): void => {
    if (operationsLeft === 0) return;
    const callMs = sim.nowMs;
    const input = sim.prng.chance(0.4) ? put("x", nextValue++) : get("x");
    sim.after(delayMs(), `${client} request`, () => {
      let output: KvOutput;
      if (input.kind === "put") {
        copies[0] = input.value;
        for (const backup of [1, 2]) sim.after(delayMs() * 5, "replicate", () => (copies[backup] = input.value));
        output = ok;
      } else {
        output = read(copies[readAnyCopy ? sim.prng.int(copies.length) : 0]!);
      }
      sim.after(delayMs(), `${client} response`, () => {
        history.push(op(client, input, output, callMs, sim.nowMs));
        sim.after(1 + sim.prng.int(5), `${client} think`, () => runClient(client, operationsLeft - 1));
      });
    });
  };
  for (const client of ["a", "b", "c"]) runClient(client, 40);
  sim.runUntil(60_000);
  return history;
}

describe("linearizability checker: histories of a tiny replicated register", () => {
  test("reads from the primary are linearizable on every seed", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const result = checkLinearizability(kvModel, replicatedRegisterHistory(seed, false));
      expect(result.verdict).toBe("linearizable");
    }
  });

  test("reads from any copy are caught as stale", () => {
    const verdicts: string[] = [];
    for (let seed = 1; seed <= 20; seed++) verdicts.push(checkLinearizability(kvModel, replicatedRegisterHistory(seed, true)).verdict);
    expect(verdicts).not.toContain("unknown");
    expect(verdicts.filter((verdict) => verdict === "not-linearizable").length).toBeGreaterThan(10);
  });
});
