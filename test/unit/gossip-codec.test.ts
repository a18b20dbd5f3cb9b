// The memberlist wire codec: byte-exact golden vectors for every message
// type, derived from the Go source's rules (field names as map keys sorted
// by name, omitempty, nil for empty byte slices, old-spec raw strings,
// smallest integer forms) and the msgpack spec. They were also compared with
// the output of Debian's memberlist 0.2.2 encoder and match it byte for byte,
// except Go int fields above 127 (UserMsgLen, Nodes, UserStateLen): there we
// write the signed forms of go-msgpack v2 (upstream memberlist) and 0.2.2's
// older codec writes unsigned ones; both decoders accept both, and so do we.
// Then round trips, the forms other writers use, and the errors bad input gets.

import { describe, expect, test } from "bun:test";
import {
  addCrc,
  addPacketLabel,
  compoundPartsInteropMax,
  compressPacketIfSmaller,
  compressPayload,
  decodePacket,
  decodeStream,
  decodeStreamLabel,
  encodeCompound,
  encodeCompounds,
  encodeLabelHeader,
  encodePacketMessage,
  encodeStreamMessage,
  packetLimitsDefault,
  streamLimitsDefault,
  stripPacketLabel,
  type StreamDecodeResult,
} from "../../src/gossip/codec.ts";
import type { PacketMessage, PushPull, StreamMessage } from "../../src/gossip/messages.ts";
import { decodeMsgpack, encodeMsgpack, MsgpackMap, MsgpackReader, MsgpackWriter } from "../../src/gossip/msgpack.ts";

// ---------------------------------------------------------------- helpers

/** Hex pieces (spaces allowed) to bytes. */
function h(...parts: string[]): Uint8Array {
  return new Uint8Array(Buffer.from(parts.join("").replace(/\s+/g, ""), "hex"));
}

/** A short ASCII string as msgpack fixraw: 0xa0|length, then the bytes. */
function s(text: string): string {
  expect(text.length).toBeLessThan(32);
  return (0xa0 | text.length).toString(16) + Buffer.from(text, "ascii").toString("hex");
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const localhost = h("7f000001");
const vsn = h("010502000000");
const ipv6 = h("fd000000000000000000000000000001");

// ---------------------------------------------------------------- golden packets

const pingMin = h("00", "82", s("Node"), s("a"), s("SeqNo"), "01");
const aliveMin = h("04", "86", s("Addr"), "a4 7f000001", s("Incarnation"), "01", s("Meta"), "c0", s("Node"), s("n1"), s("Port"), "cd 1f0a", s("Vsn"), "a6 010502000000");

const packetVectors: Array<[string, PacketMessage, Uint8Array]> = [
  ["ping, no source fields (omitempty leaves them out)", { type: "ping", seqNo: 1, node: "a" }, pingMin],
  ["ping, empty node name and seqNo 0 are still written", { type: "ping", seqNo: 0, node: "" }, h("00 82", s("Node"), "a0", s("SeqNo"), "00")],
  [
    "ping with source fields, keys sorted by name",
    { type: "ping", seqNo: 70000, node: "node-1", sourceAddr: localhost, sourcePort: 7946, sourceNode: "node-2" },
    h("00 85", s("Node"), s("node-1"), s("SeqNo"), "ce 00011170", s("SourceAddr"), "a4 7f000001", s("SourceNode"), s("node-2"), s("SourcePort"), "cd 1f0a"),
  ],
  [
    "indirect ping with everything",
    { type: "indirect-ping", seqNo: 300, target: h("0a000002"), port: 7946, node: "node-3", nack: true, sourceAddr: localhost, sourcePort: 7947, sourceNode: "node-1" },
    h("01 88", s("Nack"), "c3", s("Node"), s("node-3"), s("Port"), "cd 1f0a", s("SeqNo"), "cd 012c", s("SourceAddr"), "a4 7f000001", s("SourceNode"), s("node-1"), s("SourcePort"), "cd 1f0b", s("Target"), "a4 0a000002"),
  ],
  [
    "indirect ping, empty target is nil (not omitempty)",
    { type: "indirect-ping", seqNo: 1, target: new Uint8Array(0), port: 0, node: "", nack: false },
    h("01 85", s("Nack"), "c2", s("Node"), "a0", s("Port"), "00", s("SeqNo"), "01", s("Target"), "c0"),
  ],
  ["ack without payload (nil)", { type: "ack", seqNo: 7, payload: new Uint8Array(0) }, h("02 82", s("Payload"), "c0", s("SeqNo"), "07")],
  ["ack with payload and the largest seqNo", { type: "ack", seqNo: 0xffffffff, payload: utf8("hello") }, h("02 82", s("Payload"), s("hello"), s("SeqNo"), "ce ffffffff")],
  ["nack (uint8 form for 200)", { type: "nack", seqNo: 200 }, h("0b 81", s("SeqNo"), "cc c8")],
  ["suspect", { type: "suspect", incarnation: 3, node: "n2", from: "n1" }, h("03 83", s("From"), s("n1"), s("Incarnation"), "03", s("Node"), s("n2"))],
  ["alive, IPv4, no meta", { type: "alive", incarnation: 1, node: "n1", addr: localhost, port: 7946, meta: new Uint8Array(0), vsn }, aliveMin],
  [
    "alive, IPv6, meta, uint32 and uint16 forms",
    { type: "alive", incarnation: 65536, node: "web-01", addr: ipv6, port: 65535, meta: utf8("role=web"), vsn },
    h("04 86", s("Addr"), "b0 fd000000000000000000000000000001", s("Incarnation"), "ce 00010000", s("Meta"), s("role=web"), s("Node"), s("web-01"), s("Port"), "cd ffff", s("Vsn"), "a6 010502000000"),
  ],
  ["dead (a graceful leave: From equals Node)", { type: "dead", incarnation: 70000, node: "n2", from: "n2" }, h("05 83", s("From"), s("n2"), s("Incarnation"), "ce 00011170", s("Node"), s("n2"))],
  ["user: raw bytes after the type byte", { type: "user", payload: utf8("hi") }, h("08 6869")],
  ["names of 32 bytes use raw16, never str8", { type: "suspect", incarnation: 0, node: "x".repeat(32), from: "" }, h("03 83", s("From"), "a0", s("Incarnation"), "00", s("Node"), "da 0020", "78".repeat(32))],
  ["UTF-8 names are raw bytes", { type: "suspect", incarnation: 0, node: "nœud-é", from: "节点" }, h("03 83", s("From"), "a6 e88a82e782b9", s("Incarnation"), "00", s("Node"), "a8 6ec59375642dc3a9")],
];

describe("packet messages: golden vectors", () => {
  test.each(packetVectors)("%s", (_name, message, expected) => {
    expect(hex(encodePacketMessage(message))).toBe(hex(expected));
    expect(decodePacket(expected)).toEqual({ messages: [message] });
  });
});

describe("packet wrappers: golden vectors", () => {
  test("compound: count, big-endian lengths, then the parts", () => {
    const compound = encodeCompound([pingMin, aliveMin]);
    expect(hex(compound)).toBe(hex(h("07 02 0010 003a", hex(pingMin), hex(aliveMin))));
    expect(decodePacket(compound).messages.map((m) => m.type)).toEqual(["ping", "alive"]);
  });

  test("compress: {Algo: 0, Buf: LZW bytes}, as Go writes it", () => {
    const compressed = compressPayload(pingMin);
    expect(hex(compressed)).toBe(hex(h("09 82", s("Algo"), "00", s("Buf"), "b4 00010822e5e40d9932a1c2949a52264ec1000101")));
    expect(decodePacket(compressed)).toEqual({ messages: [{ type: "ping", seqNo: 1, node: "a" }] });
  });

  test("CRC header: [12][CRC32-IEEE big-endian][packet]", () => {
    const withCrc = addCrc(pingMin);
    expect(hex(withCrc)).toBe(hex(h("0c 8a4f3e58", hex(pingMin))));
    expect(decodePacket(withCrc).messages).toHaveLength(1);
  });

  test("label header: [244][length][label] in front, and stripped again", () => {
    const labelled = addPacketLabel(pingMin, utf8("abc"));
    expect(hex(labelled)).toBe(hex(h("f4 03 616263", hex(pingMin))));
    const stripped = stripPacketLabel(labelled);
    expect(stripped.ok && new TextDecoder().decode(stripped.label)).toBe("abc");
    expect(stripped.ok && hex(stripped.rest)).toBe(hex(pingMin));
    expect(addPacketLabel(pingMin, new Uint8Array(0))).toBe(pingMin);
    expect(encodeLabelHeader(new Uint8Array(0))).toHaveLength(0);
  });

  test("compression is kept only when smaller", () => {
    expect(compressPacketIfSmaller(pingMin)).toBe(pingMin);
    const big = encodeCompound(Array.from({ length: 30 }, () => aliveMin));
    const compressed = compressPacketIfSmaller(big);
    expect(compressed[0]).toBe(9);
    expect(compressed.length).toBeLessThan(big.length);
    expect(decodePacket(compressed).messages).toHaveLength(30);
  });

  test("split into compounds of at most 127 parts, the most memberlist decodes correctly", () => {
    const parts = Array.from({ length: 300 }, (_, i) => encodePacketMessage({ type: "nack", seqNo: i }));
    const compounds = encodeCompounds(parts);
    expect(compounds.map((c) => c[1])).toEqual([127, 127, 46]);
    expect(compoundPartsInteropMax).toBe(127);
    const seqNos = compounds.flatMap((c) => decodePacket(c).messages.map((m) => (m.type === "nack" ? m.seqNo : -1)));
    expect(seqNos).toEqual(parts.map((_, i) => i));
    expect(encodeCompounds(parts, 255).map((c) => c[1])).toEqual([255, 45]);
  });

  test("CRC around compress around compound, as a packet to a version-5 peer looks", () => {
    const packet = addCrc(compressPayload(encodeCompound([pingMin, aliveMin, h("08 0102")])));
    expect(decodePacket(packet).messages.map((m) => m.type)).toEqual(["ping", "alive", "user"]);
  });
});

// ---------------------------------------------------------------- golden streams

const pushNode = { name: "n3", addr: localhost, port: 8000, meta: h("ff80"), incarnation: 9, state: "dead" as const, vsn };
const pushNodeBytes = h("87", s("Addr"), "a4 7f000001", s("Incarnation"), "09", s("Meta"), "a2 ff80", s("Name"), s("n3"), s("Port"), "cd 1f40", s("State"), "02", s("Vsn"), "a6 010502000000");

const streamVectors: Array<[string, StreamMessage, Uint8Array]> = [
  [
    "push/pull: header, node states, raw user state",
    { type: "push-pull", join: false, nodes: [pushNode, pushNode], userState: h("aabbcc") },
    h("06 83", s("Join"), "c2", s("Nodes"), "02", s("UserStateLen"), "03", hex(pushNodeBytes), hex(pushNodeBytes), "aabbcc"),
  ],
  [
    "push/pull join with no nodes and no user state",
    { type: "push-pull", join: true, nodes: [], userState: new Uint8Array(0) },
    h("06 83", s("Join"), "c3", s("Nodes"), "00", s("UserStateLen"), "00"),
  ],
  ["user: UserMsgLen header, then raw bytes", { type: "user", payload: utf8("hello") }, h("08 81", s("UserMsgLen"), "05", "68656c6c6f")],
  ["user with a length over 127 uses the signed int16 form (Go int)", { type: "user", payload: new Uint8Array(1000) }, h("08 81", s("UserMsgLen"), "d1 03e8", "00".repeat(1000))],
  ["err", { type: "err", error: "boom" }, h("0d 81", s("Error"), s("boom"))],
  ["ping on a stream (TCP fallback probe)", { type: "ping", seqNo: 1, node: "a" }, pingMin],
  ["ack on a stream", { type: "ack", seqNo: 7, payload: new Uint8Array(0) }, h("02 82", s("Payload"), "c0", s("SeqNo"), "07")],
];

function messageOf(result: StreamDecodeResult): StreamMessage {
  if (result.kind !== "message") throw new Error(`expected a message, got ${JSON.stringify(result)}`);
  return result.message;
}

describe("stream messages: golden vectors", () => {
  test.each(streamVectors)("%s", (_name, message, expected) => {
    expect(hex(encodeStreamMessage(message, { compress: false }))).toBe(hex(expected));
    const decoded = decodeStream(expected);
    expect(decoded).toEqual({ kind: "message", message, consumed: expected.length, encrypted: false });
  });

  test.each(streamVectors)("compressed: %s", (_name, message) => {
    const frame = encodeStreamMessage(message, { compress: true });
    expect(frame[0]).toBe(9);
    expect(decodeStream(frame)).toEqual({ kind: "message", message, consumed: frame.length, encrypted: false });
  });

  test("push/pull counts over 127 use signed forms (go-msgpack v2 writes int for Go int)", () => {
    const message: PushPull = { type: "push-pull", join: true, nodes: Array.from({ length: 200 }, () => pushNode), userState: new Uint8Array(40_000) };
    const bytes = encodeStreamMessage(message, { compress: false });
    expect(hex(bytes.subarray(0, 35))).toBe(hex(h("06 83", s("Join"), "c3", s("Nodes"), "d1 00c8", s("UserStateLen"), "d2 00009c40")));
    expect(messageOf(decodeStream(bytes))).toEqual(message);
  });

  test("the unsigned forms Debian's older codec writes for Go int decode the same", () => {
    const header = h("06 83", s("Join"), "c3", s("Nodes"), "cc 02", s("UserStateLen"), "cd 0001");
    const bytes = h(hex(header), hex(pushNodeBytes), hex(pushNodeBytes), "7a");
    expect(messageOf(decodeStream(bytes))).toEqual({ type: "push-pull", join: true, nodes: [pushNode, pushNode], userState: h("7a") });
  });

  test("stream label header", () => {
    expect(decodeStreamLabel(h("f4 02 6869 00"))).toEqual({ kind: "label", label: utf8("hi"), consumed: 4 });
    expect(decodeStreamLabel(h("00 82"))).toEqual({ kind: "label", label: new Uint8Array(0), consumed: 0 });
    expect(decodeStreamLabel(h("f4 05 6869"))).toEqual({ kind: "need-more", bytesNeededMin: 7 });
    expect(decodeStreamLabel(h("f4"))).toEqual({ kind: "need-more", bytesNeededMin: 2 });
    expect(decodeStreamLabel(new Uint8Array(0))).toEqual({ kind: "need-more", bytesNeededMin: 1 });
    expect(decodeStreamLabel(h("f4 00"))).toEqual({ kind: "error", error: "label header cannot be empty when present" });
  });
});

// ---------------------------------------------------------------- incremental streams

describe("incremental stream decoding", () => {
  const samples: StreamMessage[] = [
    { type: "push-pull", join: true, nodes: Array.from({ length: 5 }, (_, i) => ({ ...pushNode, name: `node-${i}` })), userState: utf8("user state") },
    { type: "user", payload: new Uint8Array(300).fill(7) },
    { type: "err", error: "no" },
    { type: "ping", seqNo: 5, node: "b", sourceAddr: localhost, sourcePort: 1, sourceNode: "c" },
  ];

  test.each([false, true])("every prefix asks for more, with a correct lower bound (compress %p)", (compress) => {
    for (const message of samples) {
      const bytes = encodeStreamMessage(message, { compress });
      for (let cut = 0; cut < bytes.length; cut++) {
        const result = decodeStream(bytes.subarray(0, cut));
        if (result.kind !== "need-more") throw new Error(`prefix ${cut}/${bytes.length} of ${message.type}: ${JSON.stringify(result)}`);
        expect(result.bytesNeededMin).toBeGreaterThan(cut);
        expect(result.bytesNeededMin).toBeLessThanOrEqual(bytes.length);
      }
      expect(messageOf(decodeStream(bytes))).toEqual(message);
    }
  });

  test("bytes after the message are left for the caller", () => {
    const bytes = encodeStreamMessage({ type: "err", error: "x" }, { compress: false });
    const result = decodeStream(h(hex(bytes), "0102"));
    expect(result.kind === "message" && result.consumed).toBe(bytes.length);
  });

  test("a compressed frame announces its full length as soon as the Buf header arrives", () => {
    const bytes = encodeStreamMessage({ type: "user", payload: new Uint8Array(5000).map((_, i) => i * 7) }, { compress: true });
    expect(decodeStream(bytes.subarray(0, 20))).toEqual({ kind: "need-more", bytesNeededMin: bytes.length });
  });
});

// ---------------------------------------------------------------- decode leniency

describe("decoding accepts what Go accepts", () => {
  test("fields in any order, unknown fields (even nested) skipped, missing fields zero", () => {
    const bytes = h("04 84", s("Vsn"), "a6 010502000000", s("Extra"), "92 81 a1 78 c0 cb 3ff0000000000000", s("Node"), s("n9"), s("Port"), "cd 0050");
    expect(decodePacket(bytes).messages).toEqual([
      { type: "alive", incarnation: 0, node: "n9", addr: new Uint8Array(0), port: 80, meta: new Uint8Array(0), vsn },
    ]);
  });

  test("str8, bin8, bin16 and str16 for strings and bytes (newer msgpack writers)", () => {
    const bytes = h("03 83", "d9 04 46726f6d", "c4 02 6e31", s("Incarnation"), "00", "da 0004 4e6f6465", "c5 0002 6e32");
    expect(decodePacket(bytes).messages).toEqual([{ type: "suspect", incarnation: 0, node: "n2", from: "n1" }]);
  });

  test("any integer form that fits, including signed ones", () => {
    const bytes = h("0b 81", s("SeqNo"), "d3 00000000 0000012c");
    expect(decodePacket(bytes).messages).toEqual([{ type: "nack", seqNo: 300 }]);
  });

  test("nil for strings and bytes means empty; empty source fields stay absent", () => {
    const bytes = h("00 84", s("Node"), "c0", s("SeqNo"), "01", s("SourceAddr"), "c0", s("SourcePort"), "00");
    expect(decodePacket(bytes).messages).toEqual([{ type: "ping", seqNo: 1, node: "" }]);
  });

  test("bytes after a message body are ignored, as Go's decoder ignores them", () => {
    expect(decodePacket(h(hex(pingMin), "ffff")).messages).toHaveLength(1);
  });

  test("a bad part of a compound does not hide the good ones", () => {
    const result = decodePacket(encodeCompound([pingMin, h("00 c0"), aliveMin]));
    expect(result.messages.map((m) => m.type)).toEqual(["ping", "alive"]);
    expect(result.error).toBe("ping message is malformed: ping should be a map, got nil (0xc0)");
  });
});

// ---------------------------------------------------------------- decode errors

describe("bad packets give specific errors and never throw", () => {
  const cases: Array<[string, Uint8Array, string]> = [
    ["empty packet", new Uint8Array(0), "missing message type byte"],
    ["unknown type", h("63 80"), "message type 99 (unknown) is not valid in a packet"],
    ["push/pull is stream-only", h("06 80"), "message type 6 (pushPull) is not valid in a packet"],
    ["truncated body", pingMin.subarray(0, 8), "ping message is truncated: input ends inside ping Node"],
    ["wrong field type", h("0b 81", s("SeqNo"), "a1 31"), "nack message is malformed: nack SeqNo should be an integer, got a string (0xa1)"],
    ["out of range", h("04 81", s("Port"), "ce 00010000"), "alive message is malformed: alive Port is 65536, outside 0..65535"],
    ["negative", h("0b 81", s("SeqNo"), "ff"), "nack message is malformed: nack SeqNo is -1, outside 0..4294967295"],
    ["invalid UTF-8 name", h("03 81", s("Node"), "a2 c328"), "suspect message is malformed: suspect Node is not valid UTF-8"],
    ["meta over 512 bytes", h("04 81", s("Meta"), "da 0201", "00".repeat(513)), "alive message is over a limit: alive Meta is 513 bytes, more than 512"],
    ["map key that is not a string", h("0b 81 01 01"), "nack message is malformed: a key of nack should be a string or bytes, got an integer (0x01)"],
    ["never-used marker", h("0b 81", s("X"), "c1"), "nack message is malformed: an unknown field of nack should be a value, got the never-used byte 0xc1 (0xc1)"],
    ["CRC mismatch", h("0c 00000000", hex(pingMin)), "invalid checksum for packet: computed 8a4f3e58, header says 00000000"],
    ["compound without count", h("07"), "missing compound length byte"],
    ["compound length table cut", h("07 03 0001"), "compound message is truncated inside its length table"],
    ["compound part cut", h("07 02 0010 0010", hex(pingMin), "00"), "compound message had 1 truncated messages"],
    ["empty compound part", h("07 01 0000"), "missing message type byte"],
    ["unknown compression", h("09 82", s("Algo"), "01", s("Buf"), "a0"), "failed to decompress payload: cannot decompress unknown algorithm 1"],
    ["corrupt LZW", h("09 82", s("Algo"), "00", s("Buf"), "a3 00ffff"), "failed to decompress payload: lzw: invalid code 511 (next free code is 257)"],
    ["truncated LZW", h("09 82", s("Algo"), "00", s("Buf"), "a1 00"), "failed to decompress payload: lzw: stream ends before the end code (truncated)"],
  ];

  test.each(cases)("%s", (_name, packet, error) => {
    expect(decodePacket(packet).error).toBe(error);
  });

  test("nesting beyond the limit is refused", () => {
    let packet = pingMin;
    for (let i = 0; i < packetLimitsDefault.nestingMax + 1; i++) packet = encodeCompound([packet]);
    expect(decodePacket(packet)).toEqual({ messages: [], error: `packet nests compound/compress wrappers deeper than ${packetLimitsDefault.nestingMax}` });
  });

  test("messages beyond the limit are dropped with an error", () => {
    const limits = { ...packetLimitsDefault, messagesMax: 3 };
    const result = decodePacket(encodeCompound(Array.from({ length: 5 }, () => pingMin)), limits);
    expect(result.messages).toHaveLength(3);
    expect(result.error).toBe("packet holds more than 3 messages; the rest were dropped");
  });

  test("decompressed bytes are budgeted across the whole packet", () => {
    const big = compressPayload(encodePacketMessage({ type: "user", payload: new Uint8Array(600) }));
    const limits = { ...packetLimitsDefault, decompressedBytesMax: 1000 };
    const result = decodePacket(encodeCompound([big, big]), limits);
    expect(result.messages).toHaveLength(1);
    expect(result.error).toBe("failed to decompress payload: lzw: decompressed data exceeds 399 bytes");
  });

  test("several errors are counted", () => {
    expect(decodePacket(encodeCompound([h("63"), h("64"), h("65")])).error).toBe("message type 99 (unknown) is not valid in a packet (and 2 more errors)");
  });

  test("bad label headers", () => {
    expect(stripPacketLabel(h("f4 01"))).toEqual({ ok: false, error: "cannot decode label; packet has been truncated" });
    expect(stripPacketLabel(h("f4 00 00"))).toEqual({ ok: false, error: "label header cannot be empty when present" });
    expect(stripPacketLabel(h("f4 05 6162"))).toEqual({ ok: false, error: "cannot decode label; packet has been truncated" });
  });
});

describe("bad streams give specific errors", () => {
  const cases: Array<[string, Uint8Array, string]> = [
    ["nack is packet-only", h("0b 80"), "message type 11 (nack) is not valid on a stream"],
    ["negative node count", h("06 81", s("Nodes"), "ff"), "pushPull message is malformed: push/pull header Nodes is -1, outside 0..1048576"],
    ["too many nodes", h("06 81", s("Nodes"), "ce 00100001"), "pushPull message is malformed: push/pull header Nodes is 1048577, outside 0..1048576"],
    ["unknown node state", h("06 81", s("Nodes"), "01 81", s("State"), "04"), "pushPull message is malformed: push/pull node State is 4, outside 0..3"],
    ["user message over 20 MiB", h("08 81", s("UserMsgLen"), "d2 01400001"), "user message is malformed: user message header UserMsgLen is 20971521, outside 0..20971520"],
    ["encrypted but no keys", h("0a 00000010"), "Remote state is encrypted and encryption is not configured"],
    ["empty compressed message", h("09 82", s("Algo"), "00", s("Buf"), "a3 000302"), "failed to decompress stream message: compressed message is empty"],
    ["compressed inside compressed", compressPayload(compressPayload(pingMin)), "message type 9 (compress) is not valid on a stream"],
    ["truncated inside a compressed frame", compressPayload(pingMin.subarray(0, 8)), "ping message is truncated: input ends inside ping Node"],
  ];

  test.each(cases)("%s", (_name, bytes, error) => {
    expect(decodeStream(bytes)).toEqual({ kind: "error", error });
  });

  test("plaintext is refused when encryption is required", () => {
    expect(decodeStream(pingMin, { requireEncryption: true })).toEqual({ kind: "error", error: "Encryption is configured but remote state is not encrypted" });
  });

  test("encrypted frames over 20 MiB are refused before waiting for them", () => {
    const decrypt = () => ({ ok: false as const, error: "unused" });
    expect(decodeStream(h("0a 01400001"), { decrypt })).toEqual({ kind: "error", error: "Remote node state is larger than limit (20971521)" });
    expect(decodeStream(h("0a 00000010 01"), { decrypt })).toEqual({ kind: "need-more", bytesNeededMin: 21 });
  });

  test("a frame that would pass the frame limit is refused instead of awaited", () => {
    const limits = { ...streamLimitsDefault, frameBytesMax: 100 };
    const bytes = encodeStreamMessage({ type: "user", payload: new Uint8Array(200) }, { compress: false });
    expect(decodeStream(bytes.subarray(0, 20), { limits })).toEqual({ kind: "error", error: "stream message needs at least 216 bytes, more than the limit of 100" });
  });
});

// ---------------------------------------------------------------- msgpack

describe("msgpack as go-msgpack writes it", () => {
  const writes: Array<[string, (w: MsgpackWriter) => void, string]> = [
    ["uint 127 is a fixint", (w) => w.uint(127), "7f"],
    ["uint 128 is uint8", (w) => w.uint(128), "cc80"],
    ["uint 256 is uint16", (w) => w.uint(256), "cd0100"],
    ["uint 65536 is uint32", (w) => w.uint(65536), "ce00010000"],
    ["uint 2^32 is uint64", (w) => w.uint(2 ** 32), "cf0000000100000000"],
    ["int -1 is a negative fixint", (w) => w.int(-1), "ff"],
    ["int -32 is a negative fixint", (w) => w.int(-32), "e0"],
    ["int -33 is int8", (w) => w.int(-33), "d0df"],
    ["int 128 is int16", (w) => w.int(128), "d10080"],
    ["int -129 is int16", (w) => w.int(-129), "d1ff7f"],
    ["int 32768 is int32", (w) => w.int(32768), "d200008000"],
    ["int -2^31 is int32", (w) => w.int(-(2 ** 31)), "d280000000"],
    ["int 2^31 is int64", (w) => w.int(2 ** 31), "d30000000080000000"],
    ["int -2^40 is int64", (w) => w.int(-(2 ** 40)), "d3ffffff0000000000"],
    ["raw of 31 bytes is fixraw", (w) => w.raw(new Uint8Array(31)), "bf" + "00".repeat(31)],
    ["raw of 65536 bytes is raw32", (w) => w.rawHeader(65536), "db00010000"],
    ["map of 16 entries is map16", (w) => w.mapHeader(16), "de0010"],
    ["array of 15 is a fixarray, 65536 is array32", (w) => (w.arrayHeader(15), w.arrayHeader(65536)), "9fdd00010000"],
  ];

  test.each(writes)("%s", (_name, write, expected) => {
    const w = new MsgpackWriter(4);
    write(w);
    expect(hex(w.finish())).toBe(expected);
  });

  test("generic values round-trip", () => {
    const value = new MsgpackMap([
      [utf8("a"), [1, -1, 300, -300, 2 ** 40, 1.5, null, true, false]],
      [7, new MsgpackMap([])],
    ]);
    const decoded = decodeMsgpack(encodeMsgpack(value));
    expect(decoded).toEqual({ ok: true, value, consumed: encodeMsgpack(value).length });
  });

  test("truncation is told apart from malformation, with the bytes needed", () => {
    expect(decodeMsgpack(h("da 0010 6162"))).toEqual({ ok: false, failure: { kind: "truncated", message: "input ends inside value", bytesNeededMin: 19 } });
    expect(decodeMsgpack(h("c1"))).toEqual({ ok: false, failure: { kind: "malformed", message: "value should be a value, got the never-used byte 0xc1 (0xc1)" } });
  });

  test("limits: depth, container length, bytes length, item count", () => {
    const limits = { depthMax: 3, bytesLengthMax: 4, containerLengthMax: 3, itemsMax: 6 };
    const failure = (bytes: Uint8Array) => {
      const result = decodeMsgpack(bytes, limits);
      return result.ok ? "ok" : `${result.failure.kind}: ${result.failure.message}`;
    };
    expect(failure(h("91 91 91 91 00"))).toBe("limit: value nests deeper than 3");
    expect(failure(h("94 00 00 00 00"))).toBe("limit: value has 4 entries, more than 3");
    expect(failure(h("a5 0000000000"))).toBe("limit: value is 5 bytes, more than 4");
    expect(failure(h("93 93 00 00 00 93 00 00 00"))).toBe("limit: more than 6 msgpack values (at value)");
    expect(failure(h("92 92 00 00 00"))).toBe("ok");
  });

  test("skipping unknown values respects the same limits", () => {
    const reader = new MsgpackReader(h("91 91 91 00"), 0, 4, { depthMax: 2, bytesLengthMax: 8, containerLengthMax: 8, itemsMax: 100 });
    reader.skip("field");
    expect(reader.failure).toEqual({ kind: "limit", message: "field nests deeper than 2" });
  });
});
