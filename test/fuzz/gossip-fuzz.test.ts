// Fuzzing the wire decoders with random bytes and with valid packets and
// stream frames that were then damaged (bytes flipped, cut, inserted,
// duplicated, length fields set to extremes). Every input goes through
// decodePacket, decodeStream (with and without a decrypt callback) and the
// label parsers. They must never throw, must stay within their limits, must
// make progress on streams (need-more always asks for more than it has), and
// whatever they accept must survive a re-encode and decode unchanged.
//
// A failure prints `SEED=<n> bun test test/fuzz/gossip-fuzz.test.ts`;
// FUZZ_CASES=<n> changes the number of inputs (default 100,000).

import { expect, test } from "bun:test";
import {
  addCrc,
  addPacketLabel,
  addressBytesMax,
  compressPayload,
  decodePacket,
  decodeStream,
  decodeStreamLabel,
  encodeCompound,
  encodePacketMessage,
  encodeStreamMessage,
  nodeNameBytesMax,
  packetLimitsDefault,
  streamLimitsDefault,
  stripPacketLabel,
  vsnBytesMax,
  type StreamDecodeResult,
} from "../../src/gossip/codec.ts";
import { metaBytesMax, type PacketMessage, type PushNodeState, type StreamMessage } from "../../src/gossip/messages.ts";
import type { DecryptResult } from "../../src/gossip/security.ts";
import { Prng } from "../../src/lib/prng.ts";

const seed = process.env.SEED ? Number(process.env.SEED) : 1;
const caseCount = process.env.FUZZ_CASES ? Number(process.env.FUZZ_CASES) : 100_000;
const corpusSize = 600;
const utf8 = new TextEncoder();

// ---------------------------------------------------------------- valid inputs

function name(prng: Prng): string {
  const length = prng.chance(0.05) ? prng.int(200) : prng.int(12);
  const alphabet = prng.chance(0.1) ? "nœud节点-é" : "abcdefghijklmnopqrstuvwxyz0123456789-.";
  return Array.from({ length }, () => alphabet[prng.int(alphabet.length)]).join("");
}

function bytes(prng: Prng, max: number): Uint8Array {
  return prng.fill(new Uint8Array(prng.int(max + 1)));
}

function address(prng: Prng): Uint8Array {
  return prng.fill(new Uint8Array(prng.pick([0, 4, 16])));
}

function u32(prng: Prng): number {
  return prng.pick([0, 1, 127, 128, 255, 256, 65535, 65536, prng.nextU32()]);
}

function port(prng: Prng): number {
  return prng.pick([0, 1, 127, 128, 7946, 65535, prng.int(65536)]);
}

function packetMessage(prng: Prng): PacketMessage {
  switch (prng.int(8)) {
    case 0:
      return prng.chance(0.5)
        ? { type: "ping", seqNo: u32(prng), node: name(prng) }
        : { type: "ping", seqNo: u32(prng), node: name(prng), sourceAddr: bytes(prng, 16), sourcePort: port(prng), sourceNode: name(prng) };
    case 1:
      return { type: "indirect-ping", seqNo: u32(prng), target: address(prng), port: port(prng), node: name(prng), nack: prng.chance(0.5), sourceAddr: address(prng), sourcePort: port(prng), sourceNode: name(prng) };
    case 2:
      return { type: "ack", seqNo: u32(prng), payload: bytes(prng, prng.chance(0.1) ? 2000 : 20) };
    case 3:
      return { type: "nack", seqNo: u32(prng) };
    case 4:
      return { type: "suspect", incarnation: u32(prng), node: name(prng), from: name(prng) };
    case 5:
      return { type: "alive", incarnation: u32(prng), node: name(prng), addr: address(prng), port: port(prng), meta: bytes(prng, prng.chance(0.1) ? metaBytesMax : 30), vsn: bytes(prng, 8) };
    case 6:
      return { type: "dead", incarnation: u32(prng), node: name(prng), from: name(prng) };
    default:
      return { type: "user", payload: bytes(prng, 100) };
  }
}

function pushNodeState(prng: Prng): PushNodeState {
  const state = prng.pick(["alive", "suspect", "dead", "left"] as const);
  return { name: name(prng), addr: address(prng), port: port(prng), meta: bytes(prng, 40), incarnation: u32(prng), state, vsn: bytes(prng, 6) };
}

function streamMessage(prng: Prng): StreamMessage {
  switch (prng.int(5)) {
    case 0:
      return { type: "push-pull", join: prng.chance(0.5), nodes: Array.from({ length: prng.int(prng.chance(0.1) ? 200 : 6) }, () => pushNodeState(prng)), userState: bytes(prng, 300) };
    case 1:
      return { type: "user", payload: bytes(prng, prng.chance(0.1) ? 3000 : 200) };
    case 2:
      return { type: "err", error: name(prng) };
    case 3:
      return { type: "ping", seqNo: u32(prng), node: name(prng) };
    default:
      return { type: "ack", seqNo: u32(prng), payload: bytes(prng, 10) };
  }
}

function validPacket(prng: Prng): Uint8Array {
  const parts = Array.from({ length: 1 + prng.int(prng.chance(0.2) ? 40 : 3) }, () => encodePacketMessage(packetMessage(prng)));
  let packet = parts.length === 1 ? parts[0]! : encodeCompound(parts);
  if (prng.chance(0.4)) packet = compressPayload(packet);
  if (prng.chance(0.1)) packet = encodeCompound([packet, encodePacketMessage(packetMessage(prng))]);
  if (prng.chance(0.4)) packet = addCrc(packet);
  if (prng.chance(0.1)) packet = addPacketLabel(packet, utf8.encode(name(prng) || "x").subarray(0, 255));
  return packet;
}

/** Stream frames; "encrypted" ones carry the plaintext as payload, opened by fakeDecrypt. */
function validStream(prng: Prng): Uint8Array {
  const frame = encodeStreamMessage(streamMessage(prng), { compress: prng.chance(0.4) });
  if (!prng.chance(0.2)) return frame;
  const out = new Uint8Array(5 + frame.length);
  out[0] = 10;
  new DataView(out.buffer).setUint32(1, frame.length);
  out.set(frame, 5);
  return out;
}

/** Stands in for AES-GCM: returns the payload as the plaintext, except for lengths of 4 mod 5 (a "wrong key"). */
function fakeDecrypt(_header: Uint8Array, payload: Uint8Array): DecryptResult {
  if (payload.length % 5 !== 4) return { ok: true, plaintext: payload };
  return { ok: false, error: "No installed keys could decrypt the message" };
}

// ---------------------------------------------------------------- damage

const interestingBytes = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xcc, 0xcf, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xff, 7, 9, 10, 12];

function mutate(prng: Prng, input: Uint8Array): Uint8Array {
  let out: Uint8Array = input.slice();
  for (let round = 1 + prng.int(3); round > 0; round--) {
    const at = out.length === 0 ? 0 : prng.int(out.length);
    switch (prng.int(6)) {
      case 0:
        if (out.length > 0) out[at] = prng.int(256);
        break;
      case 1:
        if (out.length > 0) out[at] = prng.pick(interestingBytes);
        break;
      case 2:
        out = out.slice(0, prng.int(out.length + 1));
        break;
      case 3:
        out = concat(out.subarray(0, at), prng.fill(new Uint8Array(1 + prng.int(8))), out.subarray(at));
        break;
      case 4:
        out = concat(out.subarray(0, at), out.subarray(prng.int(out.length + 1)), out.subarray(at));
        break;
      default:
        for (let k = 0; k < 4 && at + k < out.length; k++) out[at + k] = prng.chance(0.5) ? 0xff : 0x00;
    }
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// ---------------------------------------------------------------- properties

function fail(message: string): never {
  throw new Error(message);
}

function checkName(value: string, what: string): void {
  if (utf8.encode(value).length > nodeNameBytesMax) fail(`${what} longer than the limit`);
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) fail(`${what} = ${value} out of range`);
}

function checkBytes(value: Uint8Array, max: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.length > max) fail(`${what} has ${value.length} bytes`);
}

function checkPacketMessage(m: PacketMessage): void {
  if ("seqNo" in m) checkUint(m.seqNo, 0xffffffff, `${m.type} seqNo`);
  if ("incarnation" in m) checkUint(m.incarnation, 0xffffffff, `${m.type} incarnation`);
  if ("port" in m) checkUint(m.port, 0xffff, `${m.type} port`);
  if ("node" in m) checkName(m.node, `${m.type} node`);
  if (m.type === "alive") {
    checkBytes(m.addr, addressBytesMax, "alive addr");
    checkBytes(m.meta, metaBytesMax, "alive meta");
    checkBytes(m.vsn, vsnBytesMax, "alive vsn");
  }
}

function checkPacket(packet: Uint8Array): void {
  const result = decodePacket(packet);
  if (result.messages.length > packetLimitsDefault.messagesMax) fail("too many messages");
  for (const message of result.messages) {
    checkPacketMessage(message);
    if (message.type !== "user") {
      const again = decodePacket(encodePacketMessage(message));
      expect(again).toEqual({ messages: [message] });
    }
  }
  const label = stripPacketLabel(packet);
  if (label.ok && label.label.length > 255) fail("label longer than 255 bytes");
}

function checkStreamResult(buffer: Uint8Array, result: StreamDecodeResult): void {
  if (result.kind === "need-more") {
    if (result.bytesNeededMin <= buffer.length) fail(`need-more asks for ${result.bytesNeededMin} with ${buffer.length} in hand`);
    if (result.bytesNeededMin > streamLimitsDefault.frameBytesMax + 5) fail("need-more beyond the frame limit");
  } else if (result.kind === "message") {
    if (result.consumed < 1 || result.consumed > buffer.length) fail(`consumed ${result.consumed} of ${buffer.length}`);
    if (result.message.type === "push-pull") {
      if (result.message.nodes.length > streamLimitsDefault.pushPullNodesMax) fail("too many nodes");
      for (const node of result.message.nodes) checkName(node.name, "push/pull node name");
    }
  } else if (typeof result.error !== "string" || result.error.length === 0) {
    fail("an error without a message");
  }
}

function checkStream(buffer: Uint8Array): void {
  const plain = decodeStream(buffer);
  checkStreamResult(buffer, plain);
  checkStreamResult(buffer, decodeStream(buffer, { decrypt: fakeDecrypt }));
  if (plain.kind === "message") {
    const again = decodeStream(encodeStreamMessage(plain.message, { compress: false }));
    expect(again.kind === "message" && again.message).toEqual(plain.message);
  }
  const label = decodeStreamLabel(buffer);
  if (label.kind === "label" && label.consumed > buffer.length) fail("label consumed more than the buffer");
}

function randomInput(prng: Prng): Uint8Array {
  const input = prng.fill(new Uint8Array(prng.int(prng.chance(0.05) ? 2000 : 80)));
  // Give random bytes a fighting chance to reach the message decoders.
  if (input.length > 0 && prng.chance(0.7)) input[0] = prng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 244]);
  if (input.length > 1 && prng.chance(0.5)) input[1] = 0x80 | prng.int(16);
  return input;
}

test(`decoders survive ${caseCount} random and damaged packets and streams (SEED=${seed})`, () => {
  const prng = new Prng(seed);
  const packets = Array.from({ length: corpusSize }, () => validPacket(prng));
  const streams = Array.from({ length: corpusSize }, () => validStream(prng));
  let index = 0;
  try {
    for (const packet of packets) checkPacket(packet);
    for (const stream of streams) {
      const refused = stream[0] === 10 && (stream.length - 5) % 5 === 4;
      expect(decodeStream(stream, { decrypt: fakeDecrypt }).kind).toBe(refused ? "error" : "message");
    }
    for (index = 0; index < caseCount; index++) {
      const kind = prng.int(5);
      const input = kind === 0 ? randomInput(prng) : mutate(prng, kind <= 2 ? prng.pick(packets) : prng.pick(streams));
      checkPacket(input);
      checkStream(input);
    }
  } catch (error) {
    console.error(`\ngossip fuzz failed at case ${index}. Replay with:\n  SEED=${seed} bun test test/fuzz/gossip-fuzz.test.ts\n`);
    throw error;
  }
}, 120_000);
