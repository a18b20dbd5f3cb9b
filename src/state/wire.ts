// How state entries travel: one entry per gossip user message (so the
// broadcast queue can coalesce per key and fill packets), and the whole
// store in push/pull. A header marks our messages, so user data from other
// memberlist applications is told apart and counted, not parsed. Entries are
// JSON, readable in captures, except the frequent health changes, which use
// a compact binary form (about 60 bytes instead of 350) because they make
// up nearly all steady-state traffic; push/pull streams are compressed.

import { assert } from "../lib/assert.ts";
import { isAscii, readUint32, writeUint32 } from "../lib/bytes.ts";
import type { Entry } from "./store.ts";
import type { ServiceState, ServiceStatus } from "./model.ts";

const statusCodes: readonly ServiceStatus[] = ["healthy", "unhealthy", "stopped"];
const flagTombstone = 1;
const flagLastSuccess = 2;
const flagLastFailure = 4;

const magic = 0xc5;
const formatVersion = 1;
const kindDelta = 1;
const kindFullState = 2;
const kindHealthDelta = 3;
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
  if (entry.key.startsWith("health/")) return encodeHealthDelta(entry);
  return frame(kindDelta, JSON.stringify(toWire(entry)));
}

/**
 * [header][u8 key length][key][u32 epoch][u32 counter][u8 flags]
 * then, unless a tombstone: [u8 status][u32 failures][f64 checked]
 * [f64 last success]? [f64 last failure]?  (big-endian; the owner is in the key)
 */
function encodeHealthDelta(entry: Omit<Entry, "storedAtMs">): Uint8Array {
  // An ASCII key (nearly always) is copied straight in; its UTF-8 bytes are its character codes.
  const keyBytes = isAscii(entry.key) ? undefined : encoder.encode(entry.key);
  const keyLength = keyBytes?.length ?? entry.key.length;
  const state = entry.value as ServiceState | undefined;
  let flags = state === undefined ? flagTombstone : 0;
  if (state?.last_success_ms !== undefined) flags |= flagLastSuccess;
  if (state?.last_failure_ms !== undefined) flags |= flagLastFailure;
  const size = 3 + 1 + keyLength + 9 + (state ? 13 + (flags & flagLastSuccess ? 8 : 0) + (flags & flagLastFailure ? 8 : 0) : 0);
  const out = new Uint8Array(size);
  out[0] = magic;
  out[1] = formatVersion;
  out[2] = kindHealthDelta;
  out[3] = keyLength;
  if (keyBytes !== undefined) out.set(keyBytes, 4);
  else for (let i = 0; i < keyLength; i++) out[4 + i] = entry.key.charCodeAt(i);
  let at = 4 + keyLength;
  writeUint32(out, at, entry.version.epoch);
  writeUint32(out, at + 4, entry.version.counter);
  out[at + 8] = flags;
  at += 9;
  if (!state) return out;
  out[at] = statusCodes.indexOf(state.status);
  writeUint32(out, at + 1, Math.min(state.consecutive_failures, 0xffffffff));
  writeFloat64(out, at + 5, state.checked_at_ms);
  at += 13;
  if (state.last_success_ms !== undefined) writeFloat64(out, at, state.last_success_ms), (at += 8);
  if (state.last_failure_ms !== undefined) writeFloat64(out, at, state.last_failure_ms);
  return out;
}

/**
 * Keys are nearly always ASCII, and every received health message decodes
 * one: reading the bytes as character codes avoids a typed-array view per
 * message (and the engine's work to back it with an ArrayBuffer). Returns
 * undefined when a byte is not ASCII, for the UTF-8 decoder to handle.
 */
const asciiCodes: number[][] = [];

function asciiText(bytes: Uint8Array, start: number, end: number): string | undefined {
  const length = end - start;
  assert(length >= 0 && length <= 255 && end <= bytes.length, "a key is a length-prefixed range of the message");
  let codes = asciiCodes[length];
  if (codes === undefined) {
    codes = new Array<number>(length).fill(0);
    asciiCodes[length] = codes;
  }
  for (let i = 0; i < length; i++) {
    const code = bytes[start + i]!;
    if (code >= 0x80) return undefined;
    codes[i] = code;
  }
  return String.fromCharCode.apply(null, codes);
}

/*
 * Big-endian numbers, read and written without a DataView over the message
 * (see lib/bytes.ts): floats go through one small scratch view instead.
 */
const float64Scratch = new DataView(new ArrayBuffer(8));

function writeFloat64(out: Uint8Array, at: number, value: number): void {
  float64Scratch.setFloat64(0, value);
  for (let i = 0; i < 8; i++) out[at + i] = float64Scratch.getUint8(i);
}

function readFloat64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) float64Scratch.setUint8(i, bytes[at + i]!);
  return float64Scratch.getFloat64(0);
}

function decodeHealthDelta(bytes: Uint8Array): Decoded {
  const truncated: Decoded = { kind: "error", error: "health message is truncated" };
  if (bytes.length < 4) return truncated;
  const keyLength = bytes[3]!;
  let at = 4 + keyLength;
  if (bytes.length < at + 9) return truncated;
  let key = asciiText(bytes, 4, at);
  if (key === undefined) {
    try {
      key = decoder.decode(bytes.subarray(4, at));
    } catch {
      return { kind: "error", error: "health message key is not UTF-8" };
    }
  }
  const at2 = key.lastIndexOf("@");
  const owner = key.slice(at2 + 1);
  const version = { epoch: readUint32(bytes, at), counter: readUint32(bytes, at + 4) };
  const flags = bytes[at + 8]!;
  at += 9;
  if (flags & flagTombstone) return { kind: "delta", entry: { key, owner, version, value: undefined } };
  const needed = at + 13 + (flags & flagLastSuccess ? 8 : 0) + (flags & flagLastFailure ? 8 : 0);
  if (bytes.length < needed) return truncated;
  const status = statusCodes[bytes[at]!];
  if (status === undefined) return { kind: "error", error: `unknown health status code ${bytes[at]}` };
  const state: ServiceState = { status, consecutive_failures: readUint32(bytes, at + 1), checked_at_ms: readFloat64(bytes, at + 5) };
  at += 13;
  if (flags & flagLastSuccess) (state.last_success_ms = readFloat64(bytes, at)), (at += 8);
  if (flags & flagLastFailure) state.last_failure_ms = readFloat64(bytes, at);
  return { kind: "delta", entry: { key, owner, version, value: state } };
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
  if (kind === kindHealthDelta) return bytes.length > entryBytesMax ? { kind: "error", error: "health message too long" } : decodeHealthDelta(bytes);
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
