// Raft messages as JSON bytes, with byte arrays in base64, and the validation
// that stands between the network and the core: anything malformed, out of
// bounds or inconsistent (entries that do not follow prevIndex, terms above
// the sender's, a config entry that is not a membership) is rejected here
// with a specific reason, so the core may assert on what it receives.

import { assertNever } from "../lib/assert.ts";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { decodeConfState } from "./membership.ts";
import { type Message, type MessageType, messageTypes } from "./messages.ts";
import {
  type ConfState,
  type Entry,
  type EntryKind,
  type Snapshot,
  entriesPerMessageMax,
  entryBytesMax,
  nodeIdLengthMax,
  snapshotBytesMax,
} from "./types.ts";

export type DecodeResult = { readonly ok: true; readonly message: Message } | { readonly ok: false; readonly error: string };

/** Largest encoded message: a full snapshot in base64 plus its envelope. */
export const messageBytesMax = Math.ceil((snapshotBytesMax * 4) / 3) + 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const entryKinds: readonly EntryKind[] = ["normal", "noop", "config"];

function wireEntry(entry: Entry): object {
  return { index: entry.index, term: entry.term, kind: entry.kind, data: encodeBase64(entry.data) };
}

export function encodeMessage(message: Message): Uint8Array {
  let wire: object = message;
  if (message.type === "append") wire = { ...message, entries: message.entries.map(wireEntry) };
  if (message.type === "snapshot") wire = { ...message, snapshot: { meta: message.snapshot.meta, data: encodeBase64(message.snapshot.data) } };
  return encoder.encode(JSON.stringify(wire));
}

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason);
}

type Fields = Record<string, unknown>;

function integer(fields: Fields, name: string): number {
  const value = fields[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) fail(`${name} must be a non-negative integer`);
  return value;
}

function boolean(fields: Fields, name: string): boolean {
  const value = fields[name];
  if (typeof value !== "boolean") fail(`${name} must be a boolean`);
  return value;
}

function nodeId(fields: Fields, name: string): string {
  const value = fields[name];
  if (typeof value !== "string" || value.length === 0 || value.length > nodeIdLengthMax) fail(`${name} must be a node id of 1 to ${nodeIdLengthMax} characters`);
  return value;
}

function bytes(value: unknown, name: string, max: number): Uint8Array {
  if (typeof value !== "string" || value.length > Math.ceil((max * 4) / 3) + 4) fail(`${name} must be base64 of at most ${max} bytes`);
  const decoded = decodeBase64(value);
  if (!decoded) fail(`${name} is not valid base64`);
  return decoded;
}

function object(value: unknown, name: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`${name} must be an object`);
  return value as Fields;
}

function entry(value: unknown, messageTerm: number): Entry {
  const fields = object(value, "entry");
  const kind = fields.kind as EntryKind;
  if (!entryKinds.includes(kind)) fail(`entry kind must be one of ${entryKinds.join(", ")}`);
  const parsed: Entry = { index: integer(fields, "index"), term: integer(fields, "term"), kind, data: bytes(fields.data, "entry data", entryBytesMax) };
  if (parsed.term === 0 || parsed.term > messageTerm) fail(`entry ${parsed.index} has term ${parsed.term}, outside [1, ${messageTerm}]`);
  if (kind === "config" && !decodeConfState(parsed.data)) fail(`config entry ${parsed.index} does not hold a valid membership`);
  return parsed;
}

function entries(fields: Fields, prevIndex: number, prevTerm: number, messageTerm: number): Entry[] {
  const list = fields.entries;
  if (!Array.isArray(list) || list.length > entriesPerMessageMax) fail(`entries must be an array of at most ${entriesPerMessageMax}`);
  const parsed = list.map((item) => entry(item, messageTerm));
  let previousTerm = prevTerm;
  for (let i = 0; i < parsed.length; i++) {
    const current = parsed[i]!;
    if (current.index !== prevIndex + 1 + i) fail(`entry ${i} has index ${current.index}, expected ${prevIndex + 1 + i}`);
    if (current.term < previousTerm) fail(`entry ${current.index} has a term lower than the entry before it`);
    previousTerm = current.term;
  }
  return parsed;
}

function confState(value: unknown): ConfState {
  const conf = decodeConfState(encoder.encode(JSON.stringify(value ?? null)));
  if (!conf) fail("snapshot membership is not valid");
  return conf;
}

function snapshot(value: unknown, messageTerm: number): Snapshot {
  const fields = object(value, "snapshot");
  const meta = object(fields.meta, "snapshot meta");
  const index = integer(meta, "index");
  const term = integer(meta, "term");
  if (index === 0 || term === 0 || term > messageTerm) fail("snapshot index and term must be positive and the term at most the sender's");
  return { meta: { index, term, conf: confState(meta.conf) }, data: bytes(fields.data, "snapshot data", snapshotBytesMax) };
}

/** The message-specific fields of `type`, validated. */
function body(type: MessageType, fields: Fields, term: number): Record<string, unknown> {
  switch (type) {
    case "append": {
      const prevIndex = integer(fields, "prevIndex");
      const prevTerm = integer(fields, "prevTerm");
      if (prevTerm > term) fail("prevTerm is above the sender's term");
      return { prevIndex, prevTerm, entries: entries(fields, prevIndex, prevTerm, term), commit: integer(fields, "commit") };
    }
    case "append-response":
      return { index: integer(fields, "index"), reject: boolean(fields, "reject"), hintIndex: integer(fields, "hintIndex"), hintTerm: integer(fields, "hintTerm") };
    case "heartbeat":
      return { commit: integer(fields, "commit") };
    case "vote":
    case "pre-vote":
      return { lastIndex: integer(fields, "lastIndex"), lastTerm: integer(fields, "lastTerm"), transfer: boolean(fields, "transfer") };
    case "vote-response":
    case "pre-vote-response":
      return { reject: boolean(fields, "reject") };
    case "snapshot":
      return { snapshot: snapshot(fields.snapshot, term) };
    case "heartbeat-response":
    case "timeout-now":
      return {};
    default:
      return assertNever(type, "message type");
  }
}

/** Validate a parsed JSON value as a Message. */
export function validateMessage(value: unknown): DecodeResult {
  try {
    const fields = object(value, "message");
    const type = fields.type as MessageType;
    if (!messageTypes.includes(type)) fail(`unknown message type ${JSON.stringify(fields.type)}`);
    const envelope = { type, from: nodeId(fields, "from"), to: nodeId(fields, "to"), term: integer(fields, "term") };
    if (envelope.from === envelope.to) fail("message from a node to itself");
    return { ok: true, message: { ...envelope, ...body(type, fields, envelope.term) } as Message };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, error: error.message };
    throw error;
  }
}

export function decodeMessage(data: Uint8Array): DecodeResult {
  if (data.length > messageBytesMax) return { ok: false, error: `message of ${data.length} bytes exceeds ${messageBytesMax}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: "message is not valid JSON" };
  }
  return validateMessage(parsed);
}
