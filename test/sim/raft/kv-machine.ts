// A key-value store replicated by the simulated Raft group, so that client
// histories of put, get and compare-and-set can be checked for
// linearizability. Commands travel in normal log entries as text; every
// command carries its client's name and a request number, and the store
// remembers each client's latest request and its result, so that a command
// retried on another node (or delivered twice) takes effect at most once and
// the retry is answered with the first result. Entries that are not store
// commands (the harness's markers) are left alone.
//
// The store is built on the chain machine: the running hash over every entry
// still lets the safety checker compare nodes index by index. Snapshots carry
// the values and the client table too, so a node restored from one answers
// retries as the others do. Also here: the sequential specification of the
// store, as a model for the linearizability checker.

import { assert, assertNever } from "../../../src/lib/assert.ts";
import type { ConfState, Entry } from "../../../src/raft/index.ts";
import { type Model, unknownOutput } from "../linearizability.ts";
import { ChainMachine } from "./chain-machine.ts";

export type KvInput =
  | { readonly kind: "put"; readonly key: string; readonly value: string }
  | { readonly kind: "get"; readonly key: string }
  /** Set `value` if the current value is `expected` (null: the key is absent). */
  | { readonly kind: "cas"; readonly key: string; readonly expected: string | null; readonly value: string };

export type KvOutput =
  | { readonly kind: "put" }
  | { readonly kind: "get"; readonly value: string | null }
  | { readonly kind: "cas"; readonly swapped: boolean };

export interface KvCommand {
  readonly client: string;
  /** Increases with every new operation of the client; a retry reuses it. */
  readonly request: number;
  readonly input: KvInput;
}

/** Keys the store holds at most. */
export const kvKeysMax = 256;
/** Clients the store remembers at most. */
export const kvClientsMax = 256;
const commandPrefix = "kv ";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The text of the entry that carries `command`. */
export function encodeKvCommand(command: KvCommand): string {
  return commandPrefix + JSON.stringify(command);
}

/** The command an entry carries, or undefined for any other entry. */
export function decodeKvCommand(entry: Entry): KvCommand | undefined {
  if (entry.kind !== "normal") return undefined;
  const text = decoder.decode(entry.data);
  if (!text.startsWith(commandPrefix)) return undefined;
  return JSON.parse(text.slice(commandPrefix.length)) as KvCommand;
}

/**
 * What applying a store command did: it took effect; it repeated the
 * client's latest request, which is answered with the first result; or it
 * is older than the client's latest request and is ignored.
 */
export type KvApplyOutcome =
  | { readonly kind: "executed"; readonly output: KvOutput }
  | { readonly kind: "duplicate"; readonly output: KvOutput }
  | { readonly kind: "stale" };

export type KvAppliedListener = (command: KvCommand, outcome: KvApplyOutcome) => void;

interface KvImage {
  index: number;
  hash: string;
  values: [string, string][];
  latestRequests: [string, { request: number; output: KvOutput }][];
}

export class KvMachine extends ChainMachine {
  private values = new Map<string, string>();
  /** Per client: the latest request applied and its result, to answer a retry of it. */
  private latestRequests = new Map<string, { request: number; output: KvOutput }>();

  constructor(private readonly listener: KvAppliedListener = () => {}) {
    super();
  }

  /** The value held here now, without asking anyone: correct only as of this node's last applied entry. */
  localValue(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  override apply(entry: Entry): void {
    super.apply(entry);
    const command = decodeKvCommand(entry);
    if (!command) return;
    const last = this.latestRequests.get(command.client);
    if (last && command.request < last.request) return this.listener(command, { kind: "stale" });
    if (last && command.request === last.request) return this.listener(command, { kind: "duplicate", output: last.output });
    const output = this.execute(command.input);
    assert(this.latestRequests.has(command.client) || this.latestRequests.size < kvClientsMax, `more than ${kvClientsMax} clients`);
    this.latestRequests.set(command.client, { request: command.request, output });
    this.listener(command, { kind: "executed", output });
  }

  private execute(input: KvInput): KvOutput {
    const current = this.values.get(input.key) ?? null;
    switch (input.kind) {
      case "get":
        return { kind: "get", value: current };
      case "put":
        this.store(input.key, input.value);
        return { kind: "put" };
      case "cas":
        if (current !== input.expected) return { kind: "cas", swapped: false };
        this.store(input.key, input.value);
        return { kind: "cas", swapped: true };
      default:
        return assertNever(input, "store command");
    }
  }

  private store(key: string, value: string): void {
    assert(this.values.has(key) || this.values.size < kvKeysMax, `more than ${kvKeysMax} keys`);
    this.values.set(key, value);
  }

  override snapshotData(): Uint8Array {
    const byKey = <T>(entries: Iterable<[string, T]>): [string, T][] => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const image: KvImage = { index: this.index, hash: this.hash, values: byKey(this.values), latestRequests: byKey(this.latestRequests) };
    return encoder.encode(JSON.stringify(image));
  }

  override restore(data: Uint8Array, index: number, conf: ConfState): void {
    super.restore(data, index, conf);
    const image = JSON.parse(decoder.decode(data)) as KvImage;
    assert(Array.isArray(image.values) && Array.isArray(image.latestRequests), `snapshot at ${index} holds no store`);
    this.values = new Map(image.values);
    this.latestRequests = new Map(image.latestRequests);
  }
}

/** What the store holds, as the model sees it: key -> value, absent keys left out. */
export type KvState = Readonly<Record<string, string>>;

function describeInput(input: KvInput): string {
  switch (input.kind) {
    case "get":
      return `get(${input.key})`;
    case "put":
      return `put(${input.key}, ${input.value})`;
    case "cas":
      return `cas(${input.key}, ${input.expected ?? "absent"} -> ${input.value})`;
    default:
      return assertNever(input, "store command");
  }
}

function describeOutput(output: KvOutput): string {
  switch (output.kind) {
    case "get":
      return output.value ?? "absent";
    case "put":
      return "ok";
    case "cas":
      return output.swapped ? "swapped" : "unchanged";
    default:
      return assertNever(output, "store result");
  }
}

function sameOutput(a: KvOutput, b: KvOutput): boolean {
  switch (a.kind) {
    case "get":
      return b.kind === "get" && a.value === b.value;
    case "put":
      return b.kind === "put";
    case "cas":
      return b.kind === "cas" && a.swapped === b.swapped;
    default:
      return assertNever(a, "store result");
  }
}

/**
 * The store's sequential specification, written apart from KvMachine so the
 * two are independent statements of the same semantics. Keys never affect
 * each other, so histories are checked key by key.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => ({}),
  step(state, input, output) {
    const current = state[input.key] ?? null;
    const accepts = (expected: KvOutput): boolean => output === unknownOutput || sameOutput(output, expected);
    if (input.kind === "get") return { ok: accepts({ kind: "get", value: current }), state };
    if (input.kind === "put") return { ok: accepts({ kind: "put" }), state: { ...state, [input.key]: input.value } };
    const swapped = current === input.expected;
    return { ok: accepts({ kind: "cas", swapped }), state: swapped ? { ...state, [input.key]: input.value } : state };
  },
  hash: (state) => JSON.stringify(Object.keys(state).sort().map((key) => [key, state[key]])),
  partitionKey: (input) => input.key,
  describe: (input, output) => `${describeInput(input)} -> ${output === unknownOutput ? "?" : describeOutput(output)}`,
  describeState: (state) => (Object.keys(state).length === 0 ? "{} (nothing stored)" : JSON.stringify(state)),
};
