// The memberlist wire codec: typed messages (messages.ts) to exactly the
// bytes hashicorp/memberlist writes, and untrusted bytes back to typed
// messages. Bodies are msgpack maps keyed by the Go field names; go-msgpack
// writes a struct's fields sorted by name (not in declaration order), leaves
// out `omitempty` fields that are zero (ping and indirect ping SourceAddr,
// SourcePort, SourceNode) and writes an empty byte slice as nil, so the
// encoders below do the same. Decoders accept fields in any order, ignore
// unknown fields and take missing ones as zero, as Go does.
//
// Packets (UDP): [type][body], optionally wrapped in compound and compress
// messages, optionally prefixed by a CRC header. Encryption and the label
// header sit outside (security.ts and the label functions here); the caller
// strips the label, then decrypts, then calls decodePacket.
//
// Streams (TCP): an optional label header, then one message per direction,
// either plain ([type][msgpack...], delimited only by msgpack itself, so the
// decoder works incrementally and asks for more bytes), compressed
// ([9][compress map]) or encrypted ([10][u32 length][payload]).
//
// Decoding never throws: packets yield the messages that decoded plus the
// first error; streams yield a message, "need more bytes", or an error.

import { assert, assertNever } from "../lib/assert.ts";
import { readUint32, writeUint32 } from "../lib/bytes.ts";
import { crc32 } from "./crc32.ts";
import { lzwCompress, lzwDecompress, lzwDecompressedBytesMax } from "./lzw.ts";
import {
  MessageCode,
  NodeStateCode,
  metaBytesMax,
  type Ack,
  type Alive,
  type Dead,
  type ErrResp,
  type IndirectPing,
  type Nack,
  type NodeState,
  type PacketMessage,
  type Ping,
  type PushNodeState,
  type PushPull,
  type StreamMessage,
  type Suspect,
  type User,
} from "./messages.ts";
import { MsgpackReader, MsgpackWriter, keyBytes, type MsgpackFailure, type MsgpackLimits } from "./msgpack.ts";
import type { StreamDecrypt } from "./security.ts";

// ---------------------------------------------------------------- limits

/** Most parts the compound format can count (one byte). */
export const compoundPartsMax = 255;
/**
 * Most parts we put in one compound. memberlist decodes the part count as a
 * uint8 and computes `numParts*2` in uint8 arithmetic, so it misreads
 * compounds of 128 parts or more; staying at 127 keeps every peer correct.
 */
export const compoundPartsInteropMax = 127;
/** A compound part's length is a big-endian uint16. */
export const compoundPartBytesMax = 0xffff;
/** Labels are at most 255 bytes (one length byte, and zero means "no label"). */
export const labelBytesMax = 255;
/** Longest node name we accept; memberlist sets none, real names are far shorter. */
export const nodeNameBytesMax = 1024;
/** IPv4 addresses are 4 bytes and IPv6 16. */
export const addressBytesMax = 16;
/** Vsn is 6 bytes from every memberlist; a little slack, since Go passes other lengths on. */
export const vsnBytesMax = 32;
export const ackPayloadBytesMax = 64 * 1024;
export const errorTextBytesMax = 64 * 1024;
/** memberlist's maxPushStateBytes: encrypted stream frames and user state. */
export const pushStateBytesMax = 20 * 1024 * 1024;
export const userMessageBytesMax = 20 * 1024 * 1024;
export const pushPullNodesMax = 1 << 20;

const uint16Max = 0xffff;
const uint32Max = 0xffffffff;
const crcHeaderBytes = 5;
const streamFrameHeaderBytes = 5;

export interface PacketLimits {
  /** Deepest compound/compress wrapping around a message (memberlist itself nests at most 2). */
  nestingMax: number;
  /** Most messages returned from one packet. */
  messagesMax: number;
  /** Total bytes all compress wrappers in one packet may expand to. */
  decompressedBytesMax: number;
  /** Limits for each message body. */
  msgpack: MsgpackLimits;
}

export const packetLimitsDefault: PacketLimits = {
  nestingMax: 4,
  messagesMax: 1024,
  decompressedBytesMax: 256 * 1024,
  msgpack: { depthMax: 8, bytesLengthMax: 64 * 1024, containerLengthMax: 4096, itemsMax: 4096 },
};

export interface StreamLimits {
  /** Largest plain or compressed stream message we wait for before giving up. */
  frameBytesMax: number;
  /** Largest encrypted frame (memberlist refuses more than 20 MiB). */
  encryptedBytesMax: number;
  decompressedBytesMax: number;
  pushPullNodesMax: number;
  userStateBytesMax: number;
  userMessageBytesMax: number;
  msgpack: MsgpackLimits;
}

export const streamLimitsDefault: StreamLimits = {
  frameBytesMax: 64 * 1024 * 1024,
  encryptedBytesMax: pushStateBytesMax,
  decompressedBytesMax: lzwDecompressedBytesMax,
  pushPullNodesMax,
  userStateBytesMax: pushStateBytesMax,
  userMessageBytesMax,
  msgpack: { depthMax: 16, bytesLengthMax: 40 * 1024 * 1024, containerLengthMax: pushPullNodesMax, itemsMax: 1 << 25 },
};

// ---------------------------------------------------------------- names

const typeNames = new Map<number, string>(Object.entries(MessageCode).map(([name, code]) => [code, name]));

function typeName(code: number): string {
  return typeNames.get(code) ?? "unknown";
}

const nodeStatesByCode: readonly NodeState[] = (Object.keys(NodeStateCode) as NodeState[]).sort(
  (a, b) => NodeStateCode[a] - NodeStateCode[b],
);

const emptyBytes: Uint8Array = new Uint8Array(0);

// ---------------------------------------------------------------- message bodies: encode

function checkUint(value: number, max: number, what: string): number {
  assert(Number.isInteger(value) && value >= 0 && value <= max, `${what} must be an integer in 0..${max}, got ${value}`);
  return value;
}

function checkBytes(value: Uint8Array, max: number, what: string): Uint8Array {
  assert(value.length <= max, `${what} must be at most ${max} bytes, got ${value.length}`);
  return value;
}

/** Map keys go through the same raw encoding as values. */
function key(w: MsgpackWriter, name: string): void {
  w.string(name);
}

function writePing(w: MsgpackWriter, m: Ping): void {
  const sourceAddr = checkBytes(m.sourceAddr ?? emptyBytes, addressBytesMax, "ping sourceAddr");
  const sourcePort = checkUint(m.sourcePort ?? 0, uint16Max, "ping sourcePort");
  const sourceNode = m.sourceNode ?? "";
  w.mapHeader(2 + present(sourceAddr.length) + present(sourcePort) + present(sourceNode.length));
  key(w, "Node");
  w.string(m.node);
  key(w, "SeqNo");
  w.uint(checkUint(m.seqNo, uint32Max, "ping seqNo"));
  writeSource(w, sourceAddr, sourceNode, sourcePort);
}

/** The three omitempty fields, in name order. */
function writeSource(w: MsgpackWriter, addr: Uint8Array, node: string, port: number): void {
  if (addr.length > 0) {
    key(w, "SourceAddr");
    w.raw(addr);
  }
  if (node.length > 0) {
    key(w, "SourceNode");
    w.string(node);
  }
  if (port > 0) {
    key(w, "SourcePort");
    w.uint(port);
  }
}

function present(value: number): number {
  return value > 0 ? 1 : 0;
}

function writeIndirectPing(w: MsgpackWriter, m: IndirectPing): void {
  const sourceAddr = checkBytes(m.sourceAddr ?? emptyBytes, addressBytesMax, "indirect ping sourceAddr");
  const sourcePort = checkUint(m.sourcePort ?? 0, uint16Max, "indirect ping sourcePort");
  const sourceNode = m.sourceNode ?? "";
  w.mapHeader(5 + present(sourceAddr.length) + present(sourcePort) + present(sourceNode.length));
  key(w, "Nack");
  w.bool(m.nack);
  key(w, "Node");
  w.string(m.node);
  key(w, "Port");
  w.uint(checkUint(m.port, uint16Max, "indirect ping port"));
  key(w, "SeqNo");
  w.uint(checkUint(m.seqNo, uint32Max, "indirect ping seqNo"));
  writeSource(w, sourceAddr, sourceNode, sourcePort);
  key(w, "Target");
  w.rawOrNil(checkBytes(m.target, addressBytesMax, "indirect ping target"));
}

function writeAck(w: MsgpackWriter, m: Ack): void {
  w.mapHeader(2);
  key(w, "Payload");
  w.rawOrNil(m.payload);
  key(w, "SeqNo");
  w.uint(checkUint(m.seqNo, uint32Max, "ack seqNo"));
}

function writeNack(w: MsgpackWriter, m: Nack): void {
  w.mapHeader(1);
  key(w, "SeqNo");
  w.uint(checkUint(m.seqNo, uint32Max, "nack seqNo"));
}

/** suspect and dead share their shape: From, Incarnation, Node. */
function writeAccusation(w: MsgpackWriter, m: Suspect | Dead): void {
  w.mapHeader(3);
  key(w, "From");
  w.string(m.from);
  key(w, "Incarnation");
  w.uint(checkUint(m.incarnation, uint32Max, `${m.type} incarnation`));
  key(w, "Node");
  w.string(m.node);
}

function writeAlive(w: MsgpackWriter, m: Alive): void {
  w.mapHeader(6);
  key(w, "Addr");
  w.rawOrNil(checkBytes(m.addr, addressBytesMax, "alive addr"));
  key(w, "Incarnation");
  w.uint(checkUint(m.incarnation, uint32Max, "alive incarnation"));
  key(w, "Meta");
  w.rawOrNil(checkBytes(m.meta, metaBytesMax, "alive meta"));
  key(w, "Node");
  w.string(m.node);
  key(w, "Port");
  w.uint(checkUint(m.port, uint16Max, "alive port"));
  key(w, "Vsn");
  w.rawOrNil(checkBytes(m.vsn, vsnBytesMax, "alive vsn"));
}

function writeErr(w: MsgpackWriter, m: ErrResp): void {
  w.mapHeader(1);
  key(w, "Error");
  w.string(m.error);
}

function writePushNodeState(w: MsgpackWriter, n: PushNodeState): void {
  w.mapHeader(7);
  key(w, "Addr");
  w.rawOrNil(checkBytes(n.addr, addressBytesMax, "push/pull node addr"));
  key(w, "Incarnation");
  w.uint(checkUint(n.incarnation, uint32Max, "push/pull node incarnation"));
  key(w, "Meta");
  w.rawOrNil(checkBytes(n.meta, metaBytesMax, "push/pull node meta"));
  key(w, "Name");
  w.string(n.name);
  key(w, "Port");
  w.uint(checkUint(n.port, uint16Max, "push/pull node port"));
  key(w, "State");
  w.int(NodeStateCode[n.state]);
  key(w, "Vsn");
  w.rawOrNil(checkBytes(n.vsn, vsnBytesMax, "push/pull node vsn"));
}

/** Header, every node state, then the raw user state (the header carries its length). */
function writePushPull(w: MsgpackWriter, m: PushPull): void {
  assert(m.nodes.length <= pushPullNodesMax, `push/pull carries at most ${pushPullNodesMax} nodes`);
  assert(m.userState.length <= pushStateBytesMax, `push/pull user state is at most ${pushStateBytesMax} bytes`);
  w.mapHeader(3);
  key(w, "Join");
  w.bool(m.join);
  key(w, "Nodes");
  w.int(m.nodes.length);
  key(w, "UserStateLen");
  w.int(m.userState.length);
  for (const node of m.nodes) writePushNodeState(w, node);
  w.bytes(m.userState);
}

/** On streams a user message is a msgpack length header followed by the raw bytes. */
function writeStreamUser(w: MsgpackWriter, m: User): void {
  assert(m.payload.length <= userMessageBytesMax, `stream user message is at most ${userMessageBytesMax} bytes`);
  w.mapHeader(1);
  key(w, "UserMsgLen");
  w.int(m.payload.length);
  w.bytes(m.payload);
}

// ---------------------------------------------------------------- message bodies: decode

function keys(...names: string[]): readonly Uint8Array[] {
  return names.map(keyBytes);
}

const pingKeys = keys("SeqNo", "Node", "SourceAddr", "SourcePort", "SourceNode");
const indirectPingKeys = keys("SeqNo", "Target", "Port", "Node", "Nack", "SourceAddr", "SourcePort", "SourceNode");
const ackKeys = keys("SeqNo", "Payload");
const nackKeys = keys("SeqNo");
const accusationKeys = keys("Incarnation", "Node", "From");
const aliveKeys = keys("Incarnation", "Node", "Addr", "Port", "Meta", "Vsn");
const errKeys = keys("Error");
const pushPullHeaderKeys = keys("Nodes", "UserStateLen", "Join");
const pushNodeStateKeys = keys("Name", "Addr", "Port", "Meta", "Incarnation", "State", "Vsn");
const userHeaderKeys = keys("UserMsgLen");
const compressKeys = keys("Algo", "Buf");

/** The optional source fields of ping and indirect ping, kept only when non-empty (as Go would send them). */
interface Source {
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

function readSourceField(r: MsgpackReader, field: 0 | 1 | 2, into: Source, what: string): void {
  if (field === 0) {
    const addr = r.bytesValue(addressBytesMax, `${what} SourceAddr`);
    if (addr.length > 0) into.sourceAddr = addr;
  } else if (field === 1) {
    const port = r.unsigned(uint16Max, `${what} SourcePort`);
    if (port > 0) into.sourcePort = port;
  } else {
    const node = r.string(nodeNameBytesMax, `${what} SourceNode`);
    if (node.length > 0) into.sourceNode = node;
  }
}

function readPing(r: MsgpackReader): Ping {
  const m: Ping = { type: "ping", seqNo: 0, node: "" };
  const fields = r.mapHeader("ping");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(pingKeys, "ping");
    if (field === 0) m.seqNo = r.unsigned(uint32Max, "ping SeqNo");
    else if (field === 1) m.node = r.string(nodeNameBytesMax, "ping Node");
    else if (field >= 2) readSourceField(r, (field - 2) as 0 | 1 | 2, m, "ping");
    else r.skip("an unknown field of ping");
  }
  return m;
}

function readIndirectPing(r: MsgpackReader): IndirectPing {
  const m: IndirectPing = { type: "indirect-ping", seqNo: 0, target: emptyBytes, port: 0, node: "", nack: false };
  const fields = r.mapHeader("indirect ping");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(indirectPingKeys, "indirect ping");
    if (field === 0) m.seqNo = r.unsigned(uint32Max, "indirect ping SeqNo");
    else if (field === 1) m.target = r.bytesValue(addressBytesMax, "indirect ping Target");
    else if (field === 2) m.port = r.unsigned(uint16Max, "indirect ping Port");
    else if (field === 3) m.node = r.string(nodeNameBytesMax, "indirect ping Node");
    else if (field === 4) m.nack = r.bool("indirect ping Nack");
    else if (field >= 5) readSourceField(r, (field - 5) as 0 | 1 | 2, m, "indirect ping");
    else r.skip("an unknown field of indirect ping");
  }
  return m;
}

function readAck(r: MsgpackReader): Ack {
  const m: Ack = { type: "ack", seqNo: 0, payload: emptyBytes };
  const fields = r.mapHeader("ack");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(ackKeys, "ack");
    if (field === 0) m.seqNo = r.unsigned(uint32Max, "ack SeqNo");
    else if (field === 1) m.payload = r.bytesValue(ackPayloadBytesMax, "ack Payload");
    else r.skip("an unknown field of ack");
  }
  return m;
}

function readNack(r: MsgpackReader): Nack {
  const m: Nack = { type: "nack", seqNo: 0 };
  const fields = r.mapHeader("nack");
  for (let i = 0; i < fields && !r.failed; i++) {
    if (r.keyIndex(nackKeys, "nack") === 0) m.seqNo = r.unsigned(uint32Max, "nack SeqNo");
    else r.skip("an unknown field of nack");
  }
  return m;
}

function readAccusation<T extends "suspect" | "dead">(r: MsgpackReader, type: T): { type: T; incarnation: number; node: string; from: string } {
  const m = { type, incarnation: 0, node: "", from: "" };
  const fields = r.mapHeader(type);
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(accusationKeys, type);
    if (field === 0) m.incarnation = r.unsigned(uint32Max, `${type} Incarnation`);
    else if (field === 1) m.node = r.string(nodeNameBytesMax, `${type} Node`);
    else if (field === 2) m.from = r.string(nodeNameBytesMax, `${type} From`);
    else r.skip(`an unknown field of ${type}`);
  }
  return m;
}

/** Vsn is passed on as sent: memberlist tolerates other lengths, so the SWIM core decides what to do with them. */
function readAlive(r: MsgpackReader): Alive {
  const m: Alive = { type: "alive", incarnation: 0, node: "", addr: emptyBytes, port: 0, meta: emptyBytes, vsn: emptyBytes };
  const fields = r.mapHeader("alive");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(aliveKeys, "alive");
    if (field === 0) m.incarnation = r.unsigned(uint32Max, "alive Incarnation");
    else if (field === 1) m.node = r.string(nodeNameBytesMax, "alive Node");
    else if (field === 2) m.addr = r.bytesValue(addressBytesMax, "alive Addr");
    else if (field === 3) m.port = r.unsigned(uint16Max, "alive Port");
    else if (field === 4) m.meta = r.bytesValue(metaBytesMax, "alive Meta");
    else if (field === 5) m.vsn = r.bytesValue(vsnBytesMax, "alive Vsn");
    else r.skip("an unknown field of alive");
  }
  return m;
}

function readErr(r: MsgpackReader): ErrResp {
  const m: ErrResp = { type: "err", error: "" };
  const fields = r.mapHeader("err");
  for (let i = 0; i < fields && !r.failed; i++) {
    if (r.keyIndex(errKeys, "err") === 0) m.error = r.string(errorTextBytesMax, "err Error");
    else r.skip("an unknown field of err");
  }
  return m;
}

function readPushNodeState(r: MsgpackReader): PushNodeState {
  const n: PushNodeState = { name: "", addr: emptyBytes, port: 0, meta: emptyBytes, incarnation: 0, state: "alive", vsn: emptyBytes };
  const fields = r.mapHeader("push/pull node");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(pushNodeStateKeys, "push/pull node");
    if (field === 0) n.name = r.string(nodeNameBytesMax, "push/pull node Name");
    else if (field === 1) n.addr = r.bytesValue(addressBytesMax, "push/pull node Addr");
    else if (field === 2) n.port = r.unsigned(uint16Max, "push/pull node Port");
    else if (field === 3) n.meta = r.bytesValue(metaBytesMax, "push/pull node Meta");
    else if (field === 4) n.incarnation = r.unsigned(uint32Max, "push/pull node Incarnation");
    else if (field === 5) n.state = nodeStatesByCode[r.integerIn(0, nodeStatesByCode.length - 1, "push/pull node State")]!;
    else if (field === 6) n.vsn = r.bytesValue(vsnBytesMax, "push/pull node Vsn");
    else r.skip("an unknown field of push/pull node");
  }
  return n;
}

function readPushPull(r: MsgpackReader, limits: StreamLimits): PushPull {
  let nodeCount = 0;
  let userStateLength = 0;
  const m: PushPull = { type: "push-pull", join: false, nodes: [], userState: emptyBytes };
  const fields = r.mapHeader("push/pull header");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(pushPullHeaderKeys, "push/pull header");
    if (field === 0) nodeCount = r.integerIn(0, limits.pushPullNodesMax, "push/pull header Nodes");
    else if (field === 1) userStateLength = r.integerIn(0, limits.userStateBytesMax, "push/pull header UserStateLen");
    else if (field === 2) m.join = r.bool("push/pull header Join");
    else r.skip("an unknown field of push/pull header");
  }
  for (let i = 0; i < nodeCount && !r.failed; i++) m.nodes.push(readPushNodeState(r));
  if (userStateLength > 0) m.userState = r.rawBytes(userStateLength, "push/pull user state");
  return m;
}

function readStreamUser(r: MsgpackReader, limits: StreamLimits): User {
  let length = 0;
  const fields = r.mapHeader("user message header");
  for (let i = 0; i < fields && !r.failed; i++) {
    if (r.keyIndex(userHeaderKeys, "user message header") === 0) {
      length = r.integerIn(0, limits.userMessageBytesMax, "user message header UserMsgLen");
    } else r.skip("an unknown field of user message header");
  }
  return { type: "user", payload: length > 0 ? r.rawBytes(length, "user message") : emptyBytes };
}

/** The compress wrapper's fields; Algo 0 (LZW) is the only algorithm memberlist has. */
function readCompress(r: MsgpackReader): { algo: number; buf: Uint8Array } {
  const c = { algo: 0, buf: emptyBytes };
  const fields = r.mapHeader("compress");
  for (let i = 0; i < fields && !r.failed; i++) {
    const field = r.keyIndex(compressKeys, "compress");
    if (field === 0) c.algo = r.unsigned(0xff, "compress Algo");
    else if (field === 1) c.buf = r.bytesValue(r.limits.bytesLengthMax, "compress Buf");
    else r.skip("an unknown field of compress");
  }
  return c;
}

type InflateResult = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

function inflate(compressed: { algo: number; buf: Uint8Array }, bytesMax: number): InflateResult {
  if (compressed.algo !== 0) return { ok: false, error: `cannot decompress unknown algorithm ${compressed.algo}` };
  const result = lzwDecompress(compressed.buf, bytesMax);
  if (!result.ok) return result;
  if (result.bytes.length === 0) return { ok: false, error: "compressed message is empty" };
  return result;
}

// ---------------------------------------------------------------- packets: encode

/** [type][msgpack body]; a user message is [8][raw payload]. */
export function encodePacketMessage(message: PacketMessage): Uint8Array {
  const w = new MsgpackWriter(message.type === "user" ? message.payload.length + 1 : 64);
  switch (message.type) {
    case "ping":
      w.byte(MessageCode.ping);
      writePing(w, message);
      break;
    case "indirect-ping":
      w.byte(MessageCode.indirectPing);
      writeIndirectPing(w, message);
      break;
    case "ack":
      w.byte(MessageCode.ack);
      writeAck(w, message);
      break;
    case "nack":
      w.byte(MessageCode.nack);
      writeNack(w, message);
      break;
    case "suspect":
      w.byte(MessageCode.suspect);
      writeAccusation(w, message);
      break;
    case "alive":
      w.byte(MessageCode.alive);
      writeAlive(w, message);
      break;
    case "dead":
      w.byte(MessageCode.dead);
      writeAccusation(w, message);
      break;
    case "user":
      w.byte(MessageCode.user);
      w.bytes(message.payload);
      break;
    default:
      assertNever(message, "packet message");
  }
  return w.finish();
}

/** [7][count][count x u16 BE length][parts...]; parts are encoded messages (never empty: memberlist 0.2.2 crashes on one). */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  assert(parts.length >= 1 && parts.length <= compoundPartsMax, `a compound holds 1..${compoundPartsMax} parts, got ${parts.length}`);
  let total = 2 + 2 * parts.length;
  for (const part of parts) {
    assert(part.length >= 1 && part.length <= compoundPartBytesMax, `compound part length must be 1..${compoundPartBytesMax}, got ${part.length}`);
    total += part.length;
  }
  const out = new Uint8Array(total);
  out[0] = MessageCode.compound;
  out[1] = parts.length;
  let offset = 2 + 2 * parts.length;
  parts.forEach((part, i) => {
    out[2 + 2 * i] = part.length >>> 8;
    out[3 + 2 * i] = part.length & 0xff;
    out.set(part, offset);
    offset += part.length;
  });
  return out;
}

/** Packs any number of parts into compounds of at most `partsPerCompound` parts each. */
export function encodeCompounds(parts: readonly Uint8Array[], partsPerCompound = compoundPartsInteropMax): Uint8Array[] {
  assert(partsPerCompound >= 1 && partsPerCompound <= compoundPartsMax, `partsPerCompound must be 1..${compoundPartsMax}`);
  const compounds: Uint8Array[] = [];
  for (let start = 0; start < parts.length; start += partsPerCompound) {
    compounds.push(encodeCompound(parts.slice(start, start + partsPerCompound)));
  }
  return compounds;
}

/** The compress wrapper: [9]{Algo: 0, Buf: LZW(payload)}, where payload is an encoded message. */
export function compressPayload(payload: Uint8Array): Uint8Array {
  const compressed = lzwCompress(payload);
  const w = new MsgpackWriter(compressed.length + 16);
  w.byte(MessageCode.compress);
  w.mapHeader(2);
  key(w, "Algo");
  w.uint(0);
  key(w, "Buf");
  w.raw(compressed);
  return w.finish();
}

/** memberlist compresses a packet only when that makes it smaller. */
export function compressPacketIfSmaller(packet: Uint8Array): Uint8Array {
  const compressed = compressPayload(packet);
  return compressed.length < packet.length ? compressed : packet;
}

/** [12][CRC32-IEEE of packet, u32 BE][packet], for peers whose PMax >= 5. */
export function addCrc(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(crcHeaderBytes + packet.length);
  out[0] = MessageCode.hasCrc;
  writeUint32(out, 1, crc32(packet));
  out.set(packet, crcHeaderBytes);
  return out;
}

// ---------------------------------------------------------------- labels

/** The label header [244][length][label], or nothing for an empty label. */
export function encodeLabelHeader(label: Uint8Array): Uint8Array {
  assert(label.length <= labelBytesMax, `label must be at most ${labelBytesMax} bytes, got ${label.length}`);
  if (label.length === 0) return emptyBytes;
  const out = new Uint8Array(2 + label.length);
  out[0] = MessageCode.hasLabel;
  out[1] = label.length;
  out.set(label, 2);
  return out;
}

/** Prefixes a finished (possibly encrypted) packet with the label header; an empty label adds nothing. */
export function addPacketLabel(packet: Uint8Array, label: Uint8Array): Uint8Array {
  if (label.length === 0) return packet;
  const header = encodeLabelHeader(label);
  const out = new Uint8Array(header.length + packet.length);
  out.set(header);
  out.set(packet, header.length);
  return out;
}

export type PacketLabelResult = { ok: true; label: Uint8Array; rest: Uint8Array } | { ok: false; error: string };

/** Splits off a label header if there is one (label is empty when there is none). The caller compares labels. */
export function stripPacketLabel(packet: Uint8Array): PacketLabelResult {
  if (packet.length < 1 || packet[0] !== MessageCode.hasLabel) return { ok: true, label: emptyBytes, rest: packet };
  if (packet.length < 3) return { ok: false, error: "cannot decode label; packet has been truncated" };
  const size = packet[1]!;
  if (size < 1) return { ok: false, error: "label header cannot be empty when present" };
  if (packet.length < 2 + size) return { ok: false, error: "cannot decode label; packet has been truncated" };
  return { ok: true, label: packet.slice(2, 2 + size), rest: packet.subarray(2 + size) };
}

export type StreamLabelResult =
  | { kind: "label"; label: Uint8Array; consumed: number }
  | { kind: "need-more"; bytesNeededMin: number }
  | { kind: "error"; error: string };

/** Reads the label header at the start of a stream, if any; `consumed` is 0 when there is none. */
export function decodeStreamLabel(buffer: Uint8Array): StreamLabelResult {
  if (buffer.length < 1) return { kind: "need-more", bytesNeededMin: 1 };
  if (buffer[0] !== MessageCode.hasLabel) return { kind: "label", label: emptyBytes, consumed: 0 };
  if (buffer.length < 2) return { kind: "need-more", bytesNeededMin: 2 };
  const size = buffer[1]!;
  if (size < 1) return { kind: "error", error: "label header cannot be empty when present" };
  if (buffer.length < 2 + size) return { kind: "need-more", bytesNeededMin: 2 + size };
  return { kind: "label", label: buffer.slice(2, 2 + size), consumed: 2 + size };
}

// ---------------------------------------------------------------- packets: decode

export interface PacketDecodeResult {
  /** Every message that decoded, in packet order (memberlist handles each part on its own). */
  messages: PacketMessage[];
  /** The first problem found, with a count of any others; absent when the packet was clean. */
  error?: string;
}

/** Walks one packet: CRC header, then compound/compress wrappers down to messages. */
class PacketWalker {
  readonly messages: PacketMessage[] = [];
  private firstError: string | undefined;
  private otherErrors = 0;
  private decompressedBytesLeft: number;
  private full = false;

  constructor(private readonly limits: PacketLimits) {
    this.decompressedBytesLeft = limits.decompressedBytesMax;
  }

  result(): PacketDecodeResult {
    if (this.firstError === undefined) return { messages: this.messages };
    const more = this.otherErrors > 0 ? ` (and ${this.otherErrors} more errors)` : "";
    return { messages: this.messages, error: this.firstError + more };
  }

  error(message: string): void {
    if (this.firstError === undefined) this.firstError = message;
    else this.otherErrors++;
  }

  command(buf: Uint8Array, depth: number): void {
    if (this.full) return;
    if (buf.length < 1) return this.error("missing message type byte");
    const type = buf[0]!;
    if (type === MessageCode.compound || type === MessageCode.compress) {
      if (depth >= this.limits.nestingMax) return this.error(`packet nests compound/compress wrappers deeper than ${this.limits.nestingMax}`);
      if (type === MessageCode.compound) this.compound(buf, depth);
      else this.compressed(buf, depth);
      return;
    }
    if (this.messages.length >= this.limits.messagesMax) {
      this.full = true;
      return this.error(`packet holds more than ${this.limits.messagesMax} messages; the rest were dropped`);
    }
    const message = this.message(type, buf);
    if (message !== undefined) this.messages.push(message);
  }

  private compound(buf: Uint8Array, depth: number): void {
    if (buf.length < 2) return this.error("missing compound length byte");
    const count = buf[1]!;
    let offset = 2 + 2 * count;
    if (buf.length < offset) return this.error("compound message is truncated inside its length table");
    for (let i = 0; i < count; i++) {
      const length = (buf[2 + 2 * i]! << 8) | buf[3 + 2 * i]!;
      if (offset + length > buf.length) return this.error(`compound message had ${count - i} truncated messages`);
      this.command(buf.subarray(offset, offset + length), depth + 1);
      offset += length;
    }
  }

  private compressed(buf: Uint8Array, depth: number): void {
    const reader = new MsgpackReader(buf, 1, buf.length, this.limits.msgpack);
    const wrapper = readCompress(reader);
    if (reader.failure !== undefined) return this.error(describeFailure("compress", reader.failure));
    const inflated = inflate(wrapper, this.decompressedBytesLeft);
    if (!inflated.ok) return this.error(`failed to decompress payload: ${inflated.error}`);
    this.decompressedBytesLeft -= inflated.bytes.length;
    this.command(inflated.bytes, depth + 1);
  }

  private message(type: number, buf: Uint8Array): PacketMessage | undefined {
    if (type === MessageCode.user) return { type: "user", payload: buf.slice(1) };
    const reader = new MsgpackReader(buf, 1, buf.length, this.limits.msgpack);
    const message = readPacketBody(type, reader);
    if (message === undefined) {
      this.error(`message type ${type} (${typeName(type)}) is not valid in a packet`);
      return undefined;
    }
    if (reader.failure !== undefined) {
      this.error(describeFailure(typeName(type), reader.failure));
      return undefined;
    }
    return message;
  }
}

function readPacketBody(type: number, r: MsgpackReader): PacketMessage | undefined {
  switch (type) {
    case MessageCode.ping:
      return readPing(r);
    case MessageCode.indirectPing:
      return readIndirectPing(r);
    case MessageCode.ack:
      return readAck(r);
    case MessageCode.nack:
      return readNack(r);
    case MessageCode.suspect:
      return readAccusation(r, "suspect");
    case MessageCode.alive:
      return readAlive(r);
    case MessageCode.dead:
      return readAccusation(r, "dead");
    default:
      return undefined;
  }
}

function describeFailure(what: string, failure: MsgpackFailure): string {
  const kind = failure.kind === "truncated" ? "truncated" : failure.kind === "limit" ? "over a limit" : "malformed";
  return `${what} message is ${kind}: ${failure.message}`;
}

/**
 * Decodes a packet after its label was stripped and it was decrypted. A CRC
 * header is checked when present (a mismatch drops the whole packet, as in
 * memberlist); compound and compress wrappers are unpacked recursively within
 * `limits`. Never throws.
 */
export function decodePacket(packet: Uint8Array, limits: PacketLimits = packetLimitsDefault): PacketDecodeResult {
  const walker = new PacketWalker(limits);
  let body = packet;
  if (packet.length >= crcHeaderBytes && packet[0] === MessageCode.hasCrc) {
    const expected = readUint32(packet, 1);
    const actual = crc32(packet, crcHeaderBytes);
    if (actual !== expected) {
      walker.error(`invalid checksum for packet: computed ${hex32(actual)}, header says ${hex32(expected)}`);
      return walker.result();
    }
    body = packet.subarray(crcHeaderBytes);
  }
  walker.command(body, 0);
  return walker.result();
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------- streams: encode

export interface StreamEncodeOptions {
  /** memberlist's EnableCompression: on streams the compressed form is used even when larger. */
  compress: boolean;
}

/** One stream message as plain [type][body] or a compressed frame; encrypt it with security.ts if needed. */
export function encodeStreamMessage(message: StreamMessage, options: StreamEncodeOptions): Uint8Array {
  const plain = encodePlainStreamMessage(message);
  return options.compress ? compressPayload(plain) : plain;
}

function encodePlainStreamMessage(message: StreamMessage): Uint8Array {
  switch (message.type) {
    case "ping":
    case "ack":
      return encodePacketMessage(message);
    case "err": {
      const w = new MsgpackWriter(message.error.length + 16);
      w.byte(MessageCode.err);
      writeErr(w, message);
      return w.finish();
    }
    case "push-pull": {
      const w = new MsgpackWriter(64 + message.nodes.length * 96 + message.userState.length);
      w.byte(MessageCode.pushPull);
      writePushPull(w, message);
      return w.finish();
    }
    case "user": {
      const w = new MsgpackWriter(message.payload.length + 32);
      w.byte(MessageCode.user);
      writeStreamUser(w, message);
      return w.finish();
    }
    default:
      return assertNever(message, "stream message");
  }
}

// ---------------------------------------------------------------- streams: decode

export type StreamDecodeResult =
  | { kind: "message"; message: StreamMessage; /** Bytes of the buffer this message used. */ consumed: number; encrypted: boolean }
  | { kind: "need-more"; /** The buffer must grow to at least this many bytes before a retry can succeed. */ bytesNeededMin: number }
  | { kind: "error"; error: string };

export interface StreamDecodeOptions {
  limits?: StreamLimits;
  /** Opens encrypted frames (security.ts makes one from a keyring); without it they are refused. */
  decrypt?: StreamDecrypt;
  /** memberlist's GossipVerifyIncoming with a keyring: refuse unencrypted streams. */
  requireEncryption?: boolean;
}

function streamError(error: string): StreamDecodeResult {
  return { kind: "error", error };
}

/**
 * Decodes the message at the start of `buffer` (after any label header).
 * Returns need-more while the buffer ends inside the message; call again
 * with the same bytes plus what arrived since.
 */
export function decodeStream(buffer: Uint8Array, options: StreamDecodeOptions = {}): StreamDecodeResult {
  const limits = options.limits ?? streamLimitsDefault;
  if (buffer.length < 1) return { kind: "need-more", bytesNeededMin: 1 };
  const type = buffer[0]!;
  if (type === MessageCode.encrypt) return decodeEncryptedFrame(buffer, options.decrypt, limits);
  if (options.requireEncryption === true) return streamError("Encryption is configured but remote state is not encrypted");
  const result = type === MessageCode.compress ? decodeCompressedFrame(buffer, limits, false) : decodeFramedMessage(buffer, limits, false);
  if (result.kind === "need-more" && result.bytesNeededMin > limits.frameBytesMax) {
    return streamError(`stream message needs at least ${result.bytesNeededMin} bytes, more than the limit of ${limits.frameBytesMax}`);
  }
  return result;
}

function decodeEncryptedFrame(buffer: Uint8Array, decrypt: StreamDecrypt | undefined, limits: StreamLimits): StreamDecodeResult {
  if (decrypt === undefined) return streamError("Remote state is encrypted and encryption is not configured");
  if (buffer.length < streamFrameHeaderBytes) return { kind: "need-more", bytesNeededMin: streamFrameHeaderBytes };
  const length = readUint32(buffer, 1);
  if (length > limits.encryptedBytesMax) return streamError(`Remote node state is larger than limit (${length})`);
  const end = streamFrameHeaderBytes + length;
  if (buffer.length < end) return { kind: "need-more", bytesNeededMin: end };
  const opened = decrypt(buffer.subarray(0, streamFrameHeaderBytes), buffer.subarray(streamFrameHeaderBytes, end));
  if (!opened.ok) return streamError(opened.error);
  const plain = opened.plaintext;
  if (plain.length < 1) return streamError("decrypted stream message is empty");
  const inner = plain[0] === MessageCode.compress ? decodeCompressedFrame(plain, limits, true) : decodeFramedMessage(plain, limits, true);
  return inner.kind === "message" ? { ...inner, consumed: end, encrypted: true } : inner;
}

/** [9][compress map]; the inflated bytes hold one whole plain message. */
function decodeCompressedFrame(buffer: Uint8Array, limits: StreamLimits, complete: boolean): StreamDecodeResult {
  const reader = new MsgpackReader(buffer, 1, buffer.length, limits.msgpack);
  const wrapper = readCompress(reader);
  if (reader.failure !== undefined) return failureResult(reader.failure, complete, "compress");
  const inflated = inflate(wrapper, limits.decompressedBytesMax);
  if (!inflated.ok) return streamError(`failed to decompress stream message: ${inflated.error}`);
  const inner = decodeFramedMessage(inflated.bytes, limits, true);
  return inner.kind === "message" ? { ...inner, consumed: reader.offset } : inner;
}

/** [type][body] for the five types streams carry; `complete` says no more bytes can follow. */
function decodeFramedMessage(bytes: Uint8Array, limits: StreamLimits, complete: boolean): StreamDecodeResult {
  const type = bytes[0]!;
  const reader = new MsgpackReader(bytes, 1, bytes.length, limits.msgpack);
  const message = readStreamBody(type, reader, limits);
  if (message === undefined) return streamError(`message type ${type} (${typeName(type)}) is not valid on a stream`);
  if (reader.failure !== undefined) return failureResult(reader.failure, complete, typeName(type));
  return { kind: "message", message, consumed: reader.offset, encrypted: false };
}

function readStreamBody(type: number, r: MsgpackReader, limits: StreamLimits): StreamMessage | undefined {
  switch (type) {
    case MessageCode.ping:
      return readPing(r);
    case MessageCode.ack:
      return readAck(r);
    case MessageCode.pushPull:
      return readPushPull(r, limits);
    case MessageCode.user:
      return readStreamUser(r, limits);
    case MessageCode.err:
      return readErr(r);
    default:
      return undefined;
  }
}

function failureResult(failure: MsgpackFailure, complete: boolean, what: string): StreamDecodeResult {
  if (failure.kind === "truncated" && !complete) return { kind: "need-more", bytesNeededMin: failure.bytesNeededMin };
  return streamError(describeFailure(what, failure));
}
