// How state entries travel: one entry per gossip user message (so the
// broadcast queue can coalesce per key and fill packets), and the whole
// store in push/pull. A two-byte header marks our messages, so user data
// from other memberlist applications is told apart and counted, not parsed.
// JSON keeps entries readable in captures; push/pull streams are compressed.

import type { Entry } from "./store.ts";

const magic = 0xc5;
const formatVersion = 1;
const kindDelta = 1;
const kindFullState = 2;
const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Largest encoded single entry; bigger ones from peers are refused. */
export const entryBytesMax = 8 * 1024;
/** Largest full state accepted in one push/pull. */
export const fullStateBytesMax = 16 * 1024 * 1024;
/** Most entries in one full state. */
export const fullStateEntriesMax = 200_000;

type WireEntry = { k: string; e: number; c: number; o: string; v?: unknown };

function toWire(entry: Omit<Entry, "storedAtMs">): WireEntry {
  const wire: WireEntry = { k: entry.key, o: entry.owner, e: entry.version.epoch, c: entry.version.counter };
  if (entry.value !== undefined) wire.v = entry.value;
  return wire;
}

function fromWire(raw: unknown): Omit<Entry, "storedAtMs"> | string {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return "entry is not an object";
  const wire = raw as Partial<WireEntry>;
  if (typeof wire.k !== "string" || typeof wire.o !== "string") return "entry lacks its key or owner";
  if (!Number.isSafeInteger(wire.e) || !Number.isSafeInteger(wire.c) || wire.e! < 0 || wire.c! < 0) return "entry version is not two non-negative integers";
  return { key: wire.k, owner: wire.o, version: { epoch: wire.e!, counter: wire.c! }, value: wire.v as Entry["value"] };
}

function frame(kind: number, body: string): Uint8Array {
  const json = encoder.encode(body);
  const out = new Uint8Array(3 + json.length);
  out[0] = magic;
  out[1] = formatVersion;
  out[2] = kind;
  out.set(json, 3);
  return out;
}

export function encodeDelta(entry: Omit<Entry, "storedAtMs">): Uint8Array {
  return frame(kindDelta, JSON.stringify(toWire(entry)));
}

export function encodeFullState(entries: readonly Entry[]): Uint8Array {
  return frame(kindFullState, JSON.stringify(entries.map(toWire)));
}

export type Decoded =
  | { kind: "delta"; entry: Omit<Entry, "storedAtMs"> }
  | { kind: "full"; entries: Array<Omit<Entry, "storedAtMs">>; malformed: number }
  | { kind: "foreign" }
  | { kind: "error"; error: string };

export function decodeStateMessage(bytes: Uint8Array): Decoded {
  if (bytes.length < 3 || bytes[0] !== magic) return { kind: "foreign" };
  if (bytes[1] !== formatVersion) return { kind: "error", error: `state format version ${bytes[1]} is not supported` };
  const kind = bytes[2];
  const limit = kind === kindDelta ? entryBytesMax : fullStateBytesMax;
  if (bytes.length - 3 > limit) return { kind: "error", error: `state message of ${bytes.length} bytes is over the limit of ${limit}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes.subarray(3)));
  } catch (error) {
    return { kind: "error", error: `state message is not valid JSON: ${(error as Error).message}` };
  }
  if (kind === kindDelta) {
    const entry = fromWire(parsed);
    return typeof entry === "string" ? { kind: "error", error: entry } : { kind: "delta", entry };
  }
  if (kind !== kindFullState) return { kind: "error", error: `unknown state message kind ${kind}` };
  if (!Array.isArray(parsed)) return { kind: "error", error: "full state is not a list" };
  if (parsed.length > fullStateEntriesMax) return { kind: "error", error: `full state has ${parsed.length} entries; at most ${fullStateEntriesMax}` };
  const entries: Array<Omit<Entry, "storedAtMs">> = [];
  let malformed = 0;
  for (const raw of parsed) {
    const entry = fromWire(raw);
    if (typeof entry === "string") malformed++;
    else entries.push(entry);
  }
  return { kind: "full", entries, malformed };
}
