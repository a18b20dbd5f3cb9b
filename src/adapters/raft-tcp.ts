// The Raft transport: length-prefixed frames over one outbound stream per
// peer, with a handshake that names the sending node and, when a cluster
// keyring is configured (the gossip keyring file), seals every frame with
// AES-GCM. The file has two parts. StreamRaftTransport is the whole protocol
// (framing, handshake, sealing, per-peer queues, re-dialling, unreachable
// reports) over an abstract edge that dials, accepts, arms timers and draws
// random bytes; it performs no I/O itself, so the simulator runs the same
// logic over its streams (test/sim/raft-transport-sim.ts). RaftTcpTransport
// is that edge on Bun sockets: one listener on bindAddr:raftPort and
// Bun.connect for dialling.
//
// Frames. Every frame is [u32 BE length][length bytes of payload], and the
// payload is [u8 kind][body]. The length is checked against a named limit as
// soon as its four bytes arrive: handshakeFrameBytesMax until a connection is
// authenticated, messageBytesMax plus the record overhead after; a frame over
// the limit closes the connection with a logged reason. Kinds:
//   1 hello      dialler -> listener  "CRFT" [u8 version=1] [u8 mode: 0 plain, 1 keyed] [16 random bytes]
//   2 challenge  listener -> dialler  [16 random bytes] record(listener node id)
//   3 identify   dialler -> listener  record(dialler node id)
//   4 message    dialler -> listener  record(one encoded Raft message)
//   5 refuse     either way           a UTF-8 reason (at most 256 bytes), then the sender closes
// A record is [u64 BE sequence][content]; each direction numbers its records
// from 0 (the challenge and the identify are record 0 of their direction, so
// messages start at 1). Keyed, a record travels sealed as
// [u8 1][12-byte random nonce][AES-GCM ciphertext + 16-byte tag] under the
// keyring's primary key (any installed key opens it), with additional data
// [u32 length][u8 kind] (the frame header) followed by the transcript: the
// hello's 22-byte body and the listener's 16 random bytes. Plain, a record
// travels as it is. Data flows one way per connection: each node dials its
// own connection to each peer, and a listener sends nothing after its
// challenge except a refusal.
//
// Threat model, with a keyring. An attacker who can read, inject, drop,
// replay and reorder bytes on the network, but holds no installed key:
// - cannot read Raft traffic or node ids, nor forge or alter a frame
//   (AES-GCM; the length and kind are authenticated as the frame header);
// - cannot complete a handshake, in either role: each side's record 0 is
//   bound to the other side's fresh random bytes through the transcript, so
//   a recorded challenge or identify does not open in a new connection;
// - cannot replay, reorder or drop frames within a connection undetected
//   (the sequence number is inside the seal and must be the next one), nor
//   move frames between connections (the transcript differs), nor reflect a
//   frame back (the kind is authenticated and each side accepts only the
//   kinds of the other direction);
// - cannot downgrade to plain frames (a keyed node refuses a plain hello, and
//   the hello is part of the transcript);
// - cannot make a node buffer much before authenticating (handshake frames
//   are tiny, inbound connections are bounded and must finish the handshake
//   within handshakeTimeoutMs).
// Not defended: denial of service by an on-path attacker (resets, dropping
// everything); traffic analysis (frame sizes and timing are visible); a
// holder of the key, who can claim any node id (the sender identity means
// "holds the cluster key", not "is that node"); recorded traffic after the
// key leaks (no forward secrecy). Nonces are random 96-bit values, so a key
// should be rotated (constellation keyring) well before 2^32 frames have been
// sealed under it cluster-wide. Without a keyring there is no protection at
// all: anyone who reaches the port can speak Raft to the node, which is why
// the plain mode is for loopback and trusted networks; a keyed node refuses
// a plain peer and a plain node a keyed one, both with a reason.

import type { Socket, TCPSocketListener } from "bun";
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import { assert, assertInteger } from "../lib/assert.ts";
import { BoundedQueue } from "../lib/bounded.ts";
import { formatHostPort, listenFailure, parseHostPort } from "../lib/ip.ts";
import type { Logger } from "../lib/log.ts";
import { type Aead, type Keyring, decryptPayload, encryptPayload, encryptedLength, nonceBytes, primaryKey } from "../gossip/security.ts";
import { messageBytesMax as codecMessageBytesMax, nodeIdLengthMax } from "../raft/index.ts";
import type { RaftSender, RaftTransport, RaftTransportCounters, RaftTransportHandlers } from "../raft/transport.ts";

// ---------------------------------------------------------------- limits

export interface RaftLinkLimits {
  /** Largest message send() accepts and a receiver takes. Default: the codec's messageBytesMax (a full snapshot). */
  messageBytesMax: number;
  /** Messages queued per peer while its connection is being made or is busy; the oldest are dropped first. */
  queuedMessagesPerPeerMax: number;
  /** Bytes queued per peer; at least messageBytesMax, so that one snapshot always fits. */
  queuedBytesPerPeerMax: number;
  /** Peers with a queue or an outbound connection at once; departed peers are released by forget(). */
  peersMax: number;
  /** Inbound connections at once, authenticated or not. */
  inboundConnectionsMax: number;
  /** Time to connect and finish the handshake (dialler), or to finish it after accepting (listener). */
  handshakeTimeoutMs: number;
  /** Delay before re-dialling a peer after a failure; doubles per failure up to redialDelayMaxMs, with +-25% jitter. */
  redialDelayMinMs: number;
  redialDelayMaxMs: number;
  /** Unsent bytes a connection may hold before the queue stops feeding it (then the queue fills and drops). */
  streamBacklogBytesMax: number;
  /** The same complaint about the same host is logged at most once per this interval. */
  repeatLogIntervalMs: number;
}

export const defaultRaftLinkLimits: Readonly<RaftLinkLimits> = Object.freeze({
  messageBytesMax: codecMessageBytesMax,
  queuedMessagesPerPeerMax: 1024,
  queuedBytesPerPeerMax: codecMessageBytesMax + 8 * 1024 * 1024,
  // Voters and learners (9 + 16) with room for peers that left but were not yet forgotten.
  peersMax: 64,
  inboundConnectionsMax: 128,
  handshakeTimeoutMs: 5000,
  redialDelayMinMs: 100,
  redialDelayMaxMs: 5000,
  streamBacklogBytesMax: 1024 * 1024,
  repeatLogIntervalMs: 60_000,
});

/** Largest frame payload before a connection is authenticated; a challenge with the longest node id fits. */
export const handshakeFrameBytesMax = 1024;
/** Longest refusal reason sent or shown. */
export const refusalReasonBytesMax = 256;
/** What a message frame adds to the message: kind, encryption version, nonce, tag, sequence number. */
export const recordOverheadBytes = 1 + 1 + nonceBytes + 16 + 8;
/** Distinct (host, complaint) pairs remembered for rate-limited logging. */
const loggedComplaintsMax = 1024;

// ---------------------------------------------------------------- wire format

export const raftLinkVersion = 1;
export const frameKind = { hello: 1, challenge: 2, identify: 3, message: 4, refuse: 5 } as const;
export type FrameKind = (typeof frameKind)[keyof typeof frameKind];

const frameLengthBytes = 4;
const frameHeaderBytes = frameLengthBytes + 1;
const helloMagic = Uint8Array.of(0x43, 0x52, 0x46, 0x54); // "CRFT"
const handshakeRandomBytes = 16;
const helloBodyBytes = helloMagic.length + 2 + handshakeRandomBytes;
const modePlain = 0;
const modeKeyed = 1;
const sequenceBytes = 8;
const sealVersion = 1;
const empty = new Uint8Array(0);
const encoder = new TextEncoder();

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** [u32 BE payload length][kind]: the start of every frame, and the sealed records' additional data. */
export function frameHeader(kind: number, payloadLength: number): Uint8Array {
  assertInteger(payloadLength, "payload length");
  assert(payloadLength >= 1 && payloadLength <= 0xffffffff, `frame payload length ${payloadLength} out of range`);
  const header = new Uint8Array(frameHeaderBytes);
  new DataView(header.buffer).setUint32(0, payloadLength);
  header[frameLengthBytes] = kind;
  return header;
}

/** A frame whose body is not a record: hello and refuse. */
export function plainFrame(kind: FrameKind, body: Uint8Array): Uint8Array {
  return concatBytes(frameHeader(kind, 1 + body.length), body);
}

export function helloBody(keyed: boolean, random: Uint8Array): Uint8Array {
  assert(random.length === handshakeRandomBytes, `hello random must be ${handshakeRandomBytes} bytes`);
  return concatBytes(helloMagic, Uint8Array.of(raftLinkVersion, keyed ? modeKeyed : modePlain), random);
}

interface Hello {
  version: number;
  keyed: boolean;
}

function parseHello(body: Uint8Array): Hello | string {
  if (body.length !== helloBodyBytes || helloMagic.some((byte, i) => body[i] !== byte)) {
    return "not a Constellation raft handshake (bad hello)";
  }
  const mode = body[helloMagic.length + 1]!;
  if (mode !== modePlain && mode !== modeKeyed) return `unknown handshake mode ${mode}`;
  return { version: body[helloMagic.length]!, keyed: mode === modeKeyed };
}

export function refuseFrame(reason: string): Uint8Array {
  let bytes = encoder.encode(reason);
  if (bytes.length > refusalReasonBytesMax) bytes = bytes.subarray(0, refusalReasonBytesMax);
  return plainFrame(frameKind.refuse, bytes);
}

/** A peer's refusal as printable text: it is attacker-controlled and ends up in logs. */
function refusalText(body: Uint8Array): string {
  const text = new TextDecoder().decode(body.subarray(0, refusalReasonBytesMax));
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?") || "no reason given";
}

export function encodeNodeId(nodeId: string): Uint8Array {
  return encoder.encode(nodeId);
}

function decodeNodeId(bytes: Uint8Array): string | { error: string } {
  let nodeId: string;
  try {
    nodeId = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { error: "names a node id that is not UTF-8" };
  }
  if (nodeId.length === 0 || nodeId.length > nodeIdLengthMax) {
    return { error: `names a node id of ${nodeId.length} characters (1 to ${nodeIdLengthMax} allowed)` };
  }
  return nodeId;
}

/**
 * Splits a byte stream into frame payloads. The length is checked against
 * `limitBytes` as soon as it arrives, so an oversized frame is refused
 * before any of it is buffered; callers change the limit between frames
 * (small during the handshake, large after).
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private bufferedBytes = 0;

  constructor(public limitBytes: number) {}

  /** `chunk` is kept, not copied: the caller hands over a buffer nobody else writes. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  /** The next whole payload; undefined while incomplete; what was wrong (as "a frame of ...") when the stream is invalid. */
  next(): Uint8Array | undefined | string {
    if (this.bufferedBytes < frameLengthBytes) return undefined;
    const lengthBytes = this.peek(frameLengthBytes);
    const length = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, frameLengthBytes).getUint32(0);
    if (length === 0) return "an empty frame";
    if (length > this.limitBytes) return `a frame of ${length} bytes, over the limit of ${this.limitBytes} bytes`;
    if (this.bufferedBytes < frameLengthBytes + length) return undefined;
    this.take(frameLengthBytes);
    return this.take(length);
  }

  /** The first `count` buffered bytes, copying only when they straddle chunks (a big frame arrives in many). */
  private peek(count: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.length >= count) return first.subarray(0, count);
    const out = new Uint8Array(count);
    let filled = 0;
    for (const chunk of this.chunks) {
      const used = Math.min(chunk.length, count - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (filled === count) break;
    }
    return out;
  }

  private take(count: number): Uint8Array {
    assert(count <= this.bufferedBytes, "took more than was buffered");
    this.bufferedBytes -= count;
    const first = this.chunks[0]!;
    if (first.length >= count) {
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, count - filled);
      out.set(chunk.subarray(0, used), filled);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

/** The cluster key material: the keyring is read per frame, so a rotation applies at once. */
export interface RaftLinkSecurity {
  aead: Aead;
  keyring: () => Keyring;
}

type Opened = { ok: true; content: Uint8Array } | { ok: false; error: string };

/**
 * Records of one connection: sequence numbers in both directions and, when
 * keyed, sealing bound to the connection's transcript.
 */
export class RecordLayer {
  private sentRecords = 0;
  private receivedRecords = 0;

  constructor(
    private readonly security: RaftLinkSecurity | undefined,
    private readonly transcript: Uint8Array,
    private readonly randomBytes: (length: number) => Uint8Array,
  ) {}

  /** The whole frame [length][kind][prefix][record], the record sealed when keyed. */
  frame(kind: FrameKind, prefix: Uint8Array, content: Uint8Array): Uint8Array {
    const record = new Uint8Array(sequenceBytes + content.length);
    writeSequence(record, this.sentRecords++);
    record.set(content, sequenceBytes);
    const { security } = this;
    const bodyLength = security ? encryptedLength(sealVersion, record.length) : record.length;
    const header = frameHeader(kind, 1 + prefix.length + bodyLength);
    if (!security) return concatBytes(header, prefix, record);
    const key = primaryKey(security.keyring());
    const sealed = encryptPayload(security.aead, sealVersion, key, this.randomBytes(nonceBytes), record, concatBytes(header, this.transcript));
    assert(sealed.length === bodyLength, "sealed record has an unexpected length");
    return concatBytes(header, prefix, sealed);
  }

  /** Opens the record in `body` (the payload after kind and prefix) and checks it is the next one. */
  open(kind: FrameKind, payloadLength: number, body: Uint8Array): Opened {
    let record = body;
    const { security } = this;
    if (security) {
      if (body[0] !== sealVersion) return { ok: false, error: `is not sealed with encryption version ${sealVersion}` };
      const aad = concatBytes(frameHeader(kind, payloadLength), this.transcript);
      const opened = decryptPayload(security.aead, security.keyring().keys, body, aad);
      if (!opened.ok) return { ok: false, error: "does not authenticate with any installed key (a different cluster key, or a replayed or altered frame)" };
      record = opened.plaintext;
    }
    if (record.length < sequenceBytes) return { ok: false, error: "is shorter than a record" };
    const sequence = readSequence(record);
    if (sequence !== this.receivedRecords) {
      return { ok: false, error: `is record ${sequence} where ${this.receivedRecords} was expected (a replayed, reordered or dropped frame)` };
    }
    this.receivedRecords++;
    return { ok: true, content: record.subarray(sequenceBytes) };
  }
}

function writeSequence(out: Uint8Array, sequence: number): void {
  assert(Number.isSafeInteger(sequence) && sequence >= 0, `record sequence ${sequence} out of range`);
  const view = new DataView(out.buffer, out.byteOffset, sequenceBytes);
  view.setUint32(0, Math.floor(sequence / 0x100000000));
  view.setUint32(4, sequence >>> 0);
}

function readSequence(record: Uint8Array): number {
  const view = new DataView(record.buffer, record.byteOffset, sequenceBytes);
  return view.getUint32(0) * 0x100000000 + view.getUint32(4);
}

// ---------------------------------------------------------------- the edge

/** One ordered byte stream (a TCP connection, or a simulated one). */
export interface RaftStream {
  /** "ip:port" of the other side. */
  readonly remote: string;
  /** Bytes accepted by write() that the network has not taken yet. */
  readonly backlogBytes: number;
  /** Queue bytes for sending; false when the stream is closed. Never calls a handler synchronously. */
  write(bytes: Uint8Array): boolean;
  /** Send what was written if possible, then close; no handler is called afterwards. */
  close(): void;
  /** Set by the transport. Each chunk is the transport's to keep. */
  onData: (bytes: Uint8Array) => void;
  /** The backlog emptied. */
  onDrain: () => void;
  /** The other side closed or the connection broke. */
  onClose: (reason: string) => void;
}

export interface RaftTimer {
  cancel(): void;
}

/** What StreamRaftTransport needs from the world. */
export interface RaftStreamEdge {
  /** Connect to `to`; `done` is called later (never synchronously) with the stream or why there is none. */
  dial(to: string, done: (result: RaftStream | string) => void): void;
  /** Call `run` once after `delayMs` (never synchronously). */
  after(delayMs: number, run: () => void): RaftTimer;
  monotonicMs(): number;
  /** Cryptographic randomness for nonces and handshakes (the simulator passes a seeded source). */
  randomBytes(length: number): Uint8Array;
}

export interface RaftLinkOptions {
  /** This node's Raft id, named in every handshake. */
  nodeId: string;
  /** "ip:port" this transport is reached on. */
  localAddress: string;
  /** The cluster key; undefined for plain frames. */
  security: RaftLinkSecurity | undefined;
  log: Logger;
  limits?: Partial<RaftLinkLimits>;
}

// ---------------------------------------------------------------- the protocol over any edge

type Counters = { -readonly [K in keyof RaftTransportCounters]: number };

interface OutboundLink {
  state: "dialing" | "handshaking" | "open" | "closed";
  stream: RaftStream | undefined;
  readonly reader: FrameReader;
  readonly hello: Uint8Array;
  records: RecordLayer | undefined;
  /** Deadline for connecting and finishing the handshake. */
  deadline: RaftTimer | undefined;
  openedAtMs: number;
}

interface OutboundPeer {
  readonly address: string;
  /** Encoded messages not yet written to a connection. */
  readonly queue: BoundedQueue<Uint8Array>;
  queuedBytes: number;
  link: OutboundLink | undefined;
  redialTimer: RaftTimer | undefined;
  /** The current re-dial delay; 0 after a connection that stayed up. */
  redialDelayMs: number;
  /** An overflow was reported since the queue last emptied. */
  overflowReported: boolean;
}

interface InboundLink {
  state: "hello" | "identify" | "open" | "closed";
  readonly stream: RaftStream;
  readonly reader: FrameReader;
  records: RecordLayer | undefined;
  deadline: RaftTimer | undefined;
  sender: RaftSender | undefined;
}

type Failure = { kind: "unreachable" } | { kind: "refused"; by: "this node" | "peer" };

function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  return colon > 0 ? address.slice(0, colon) : address;
}

const noop = () => {};

export class StreamRaftTransport implements RaftTransport {
  readonly nodeId: string;
  readonly localAddress: string;
  readonly limits: Readonly<RaftLinkLimits>;
  private handlers: RaftTransportHandlers | undefined;
  private readonly security: RaftLinkSecurity | undefined;
  private readonly log: Logger;
  private readonly peers = new Map<string, OutboundPeer>();
  private readonly inbound = new Set<InboundLink>();
  private readonly lastComplaintMs = new Map<string, number>();
  private readonly counts: Counters = {
    messagesSent: 0,
    messagesReceived: 0,
    messagesDroppedQueueFull: 0,
    messagesDroppedUnreachable: 0,
    messagesDroppedOversized: 0,
    dialFailures: 0,
    connectionsLost: 0,
    handshakesRefused: 0,
    inboundRejected: 0,
  };
  private closed = false;

  constructor(
    options: RaftLinkOptions,
    private readonly edge: RaftStreamEdge,
  ) {
    const limits = { ...defaultRaftLinkLimits, ...options.limits };
    for (const [name, value] of Object.entries(limits)) assert(Number.isFinite(value) && value > 0, `raft link limit ${name} must be positive, got ${value}`);
    assert(limits.queuedBytesPerPeerMax >= limits.messageBytesMax, "queuedBytesPerPeerMax must hold at least one message of messageBytesMax");
    assert(limits.redialDelayMaxMs >= limits.redialDelayMinMs, "redialDelayMaxMs must be at least redialDelayMinMs");
    assert(options.nodeId.length > 0 && options.nodeId.length <= nodeIdLengthMax, `node id must be 1 to ${nodeIdLengthMax} characters`);
    assert(encodeNodeId(options.nodeId).length + 64 <= handshakeFrameBytesMax, "node id too long for a handshake frame");
    this.limits = Object.freeze(limits);
    this.nodeId = options.nodeId;
    this.localAddress = options.localAddress;
    this.security = options.security;
    this.log = options.log;
  }

  /** Largest frame payload accepted on an authenticated connection. */
  get frameBytesMax(): number {
    return this.limits.messageBytesMax + recordOverheadBytes;
  }

  setHandlers(handlers: RaftTransportHandlers): void {
    this.handlers = handlers;
  }

  counters(): RaftTransportCounters {
    return { ...this.counts };
  }

  send(to: string, bytes: Uint8Array): void {
    if (this.closed) return;
    if (bytes.length > this.limits.messageBytesMax) {
      this.counts.messagesDroppedOversized++;
      const reason = `a message of ${bytes.length} bytes, over the limit of ${this.limits.messageBytesMax} bytes`;
      this.complain("warn", `${to} oversized`, "raft message dropped", { peer: to, reason });
      return;
    }
    const peer = this.peerFor(to);
    if (!peer) return;
    this.enqueue(peer, bytes);
    this.pump(peer);
  }

  /**
   * The peer at `to` is known to be back (gossip saw it join again): drop
   * the back-off and dial now if messages wait, instead of after up to
   * redialDelayMaxMs.
   */
  redialNow(to: string): void {
    const peer = this.peers.get(to);
    if (!peer || peer.redialTimer === undefined) return;
    peer.redialTimer.cancel();
    peer.redialTimer = undefined;
    peer.redialDelayMs = 0;
    this.pump(peer);
  }

  forget(to: string): void {
    const peer = this.peers.get(to);
    if (!peer) return;
    this.peers.delete(to);
    peer.redialTimer?.cancel();
    peer.redialTimer = undefined;
    if (peer.link) this.closeOutbound(peer.link);
    peer.link = undefined;
    this.dropQueue(peer);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers = undefined;
    for (const address of [...this.peers.keys()]) this.forget(address);
    for (const link of [...this.inbound]) this.closeInbound(link);
  }

  // ------------------------------------------------------------ outbound

  private peerFor(to: string): OutboundPeer | undefined {
    const known = this.peers.get(to);
    if (known) return known;
    if (this.peers.size >= this.limits.peersMax) {
      this.counts.messagesDroppedUnreachable++;
      const reason = `already sending to the most peers (${this.limits.peersMax}); departed peers must be forgotten`;
      this.complain("warn", "peers full", "raft message dropped", { peer: to, reason });
      this.reportLater(to, reason);
      return undefined;
    }
    const peer: OutboundPeer = {
      address: to,
      queue: new BoundedQueue<Uint8Array>(this.limits.queuedMessagesPerPeerMax, "reject"),
      queuedBytes: 0,
      link: undefined,
      redialTimer: undefined,
      redialDelayMs: 0,
      overflowReported: false,
    };
    this.peers.set(to, peer);
    return peer;
  }

  /** Queue `bytes`, dropping the oldest messages while either bound would be exceeded: Raft retransmits. */
  private enqueue(peer: OutboundPeer, bytes: Uint8Array): void {
    const { queuedMessagesPerPeerMax, queuedBytesPerPeerMax } = this.limits;
    let dropped = 0;
    while (peer.queue.size >= queuedMessagesPerPeerMax || peer.queuedBytes + bytes.length > queuedBytesPerPeerMax) {
      const oldest = peer.queue.shift();
      assert(oldest !== undefined, "queue bound exceeded with an empty queue");
      peer.queuedBytes -= oldest.length;
      dropped++;
    }
    assert(peer.queue.push(bytes), "queue full after making room");
    peer.queuedBytes += bytes.length;
    if (dropped === 0) return;
    this.counts.messagesDroppedQueueFull += dropped;
    if (peer.overflowReported) return;
    peer.overflowReported = true;
    this.reportLater(peer.address, `send queue full (${queuedMessagesPerPeerMax} messages or ${queuedBytesPerPeerMax} bytes): oldest messages dropped`);
  }

  /** Move queued messages along: dial when there is no connection and no back-off, write when open. */
  private pump(peer: OutboundPeer): void {
    if (peer.link === undefined) {
      if (peer.redialTimer === undefined && peer.queue.size > 0) this.dial(peer);
      return;
    }
    if (peer.link.state === "open") this.flush(peer, peer.link);
  }

  private flush(peer: OutboundPeer, link: OutboundLink): void {
    const stream = link.stream;
    const records = link.records;
    assert(link.state === "open" && stream && records, "flush on a connection that is not open");
    while (peer.queue.size > 0 && stream.backlogBytes <= this.limits.streamBacklogBytesMax) {
      const bytes = peer.queue.shift()!;
      peer.queuedBytes -= bytes.length;
      if (!stream.write(records.frame(frameKind.message, empty, bytes))) {
        return this.outboundFailed(peer, link, "the connection closed while writing", { kind: "unreachable" });
      }
      this.counts.messagesSent++;
    }
    if (peer.queue.size === 0) peer.overflowReported = false;
  }

  private dial(peer: OutboundPeer): void {
    const keyed = this.security !== undefined;
    const link: OutboundLink = {
      state: "dialing",
      stream: undefined,
      reader: new FrameReader(handshakeFrameBytesMax),
      hello: helloBody(keyed, this.edge.randomBytes(handshakeRandomBytes)),
      records: undefined,
      deadline: undefined,
      openedAtMs: 0,
    };
    peer.link = link;
    const timeoutMs = this.limits.handshakeTimeoutMs;
    link.deadline = this.edge.after(timeoutMs, () => {
      const during = link.state === "dialing" ? "connection" : "handshake";
      this.outboundFailed(peer, link, `no ${during} within ${timeoutMs} ms`, { kind: "unreachable" });
    });
    this.edge.dial(peer.address, (result) => {
      if (peer.link !== link || link.state !== "dialing") {
        if (typeof result !== "string") result.close();
        return;
      }
      if (typeof result === "string") return this.outboundFailed(peer, link, result, { kind: "unreachable" });
      link.stream = result;
      link.state = "handshaking";
      result.onData = (bytes) => this.outboundData(peer, link, bytes);
      result.onDrain = () => {
        if (peer.link === link && link.state === "open") this.flush(peer, link);
      };
      result.onClose = (reason) => this.outboundFailed(peer, link, reason, { kind: "unreachable" });
      if (!result.write(plainFrame(frameKind.hello, link.hello))) {
        this.outboundFailed(peer, link, "the connection closed during the handshake", { kind: "unreachable" });
      }
    });
  }

  private outboundData(peer: OutboundPeer, link: OutboundLink, bytes: Uint8Array): void {
    link.reader.push(bytes);
    while (link.state === "handshaking" || link.state === "open") {
      const payload = link.reader.next();
      if (payload === undefined) return;
      if (typeof payload === "string") return this.refuseOutbound(peer, link, `the accepting node sent ${payload}`);
      const kind = payload[0];
      const body = payload.subarray(1);
      if (kind === frameKind.refuse) return this.outboundFailed(peer, link, refusalText(body), { kind: "refused", by: "peer" });
      if (kind === frameKind.challenge && link.state === "handshaking") this.outboundChallenge(peer, link, payload.length, body);
      else return this.refuseOutbound(peer, link, `the accepting node sent an unexpected frame of kind ${kind}`);
    }
  }

  /** Verify the listener (it holds the key and answered this hello), then identify and start sending. */
  private outboundChallenge(peer: OutboundPeer, link: OutboundLink, payloadLength: number, body: Uint8Array): void {
    const stream = link.stream;
    assert(stream, "challenge without a stream");
    if (body.length < handshakeRandomBytes) return this.refuseOutbound(peer, link, "the accepting node's challenge is too short");
    const listenerRandom = body.subarray(0, handshakeRandomBytes);
    const records = new RecordLayer(this.security, concatBytes(link.hello, listenerRandom), (length) => this.edge.randomBytes(length));
    const opened = records.open(frameKind.challenge, payloadLength, body.subarray(handshakeRandomBytes));
    if (!opened.ok) return this.refuseOutbound(peer, link, `the accepting node's challenge ${opened.error}`);
    const listenerId = decodeNodeId(opened.content);
    if (typeof listenerId !== "string") return this.refuseOutbound(peer, link, `the accepting node's challenge ${listenerId.error}`);
    link.records = records;
    if (!stream.write(records.frame(frameKind.identify, empty, encodeNodeId(this.nodeId)))) {
      return this.outboundFailed(peer, link, "the connection closed during the handshake", { kind: "unreachable" });
    }
    link.state = "open";
    link.openedAtMs = this.edge.monotonicMs();
    link.deadline?.cancel();
    link.deadline = undefined;
    peer.overflowReported = false;
    this.log.debug("raft connection open", { peer: peer.address, peerNodeId: listenerId, encrypted: this.security !== undefined });
    this.flush(peer, link);
  }

  private refuseOutbound(peer: OutboundPeer, link: OutboundLink, reason: string): void {
    link.stream?.write(refuseFrame(reason));
    this.outboundFailed(peer, link, reason, { kind: "refused", by: "this node" });
  }

  /**
   * The connection is gone or was never made: drop what was queued (Raft
   * retransmits), report the peer unreachable, and arm the re-dial. The
   * delay keeps doubling across connections that die young, so a peer that
   * accepts and then refuses is not hammered.
   */
  private outboundFailed(peer: OutboundPeer, link: OutboundLink, reason: string, failure: Failure): void {
    if (link.state === "closed" || peer.link !== link) return;
    const wasOpen = link.state === "open";
    this.closeOutbound(link);
    peer.link = undefined;
    if (wasOpen) this.counts.connectionsLost++;
    else this.counts.dialFailures++;
    this.dropQueue(peer);
    if (failure.kind === "refused") {
      this.counts.handshakesRefused++;
      this.complain("warn", `${peer.address} ${reason}`, "raft connection refused", { peer: peer.address, refusedBy: failure.by, reason });
    } else {
      const message = wasOpen ? "raft connection lost" : "raft peer unreachable";
      this.complain("info", `${peer.address} ${reason}`, message, { peer: peer.address, reason });
    }
    this.reportLater(peer.address, reason);
    const { redialDelayMinMs, redialDelayMaxMs } = this.limits;
    const stayedUp = wasOpen && this.edge.monotonicMs() - link.openedAtMs >= redialDelayMaxMs;
    peer.redialDelayMs = stayedUp || peer.redialDelayMs === 0 ? redialDelayMinMs : Math.min(redialDelayMaxMs, peer.redialDelayMs * 2);
    const jitter = 0.75 + (this.edge.randomBytes(1)[0]! / 255) * 0.5;
    peer.redialTimer = this.edge.after(peer.redialDelayMs * jitter, () => {
      peer.redialTimer = undefined;
      if (this.peers.get(peer.address) === peer) this.pump(peer);
    });
  }

  private closeOutbound(link: OutboundLink): void {
    link.state = "closed";
    link.deadline?.cancel();
    link.deadline = undefined;
    const stream = link.stream;
    if (!stream) return;
    stream.onData = noop;
    stream.onDrain = noop;
    stream.onClose = noop;
    stream.close();
  }

  private dropQueue(peer: OutboundPeer): void {
    this.counts.messagesDroppedUnreachable += peer.queue.size;
    peer.queue.clear();
    peer.queuedBytes = 0;
    peer.overflowReported = false;
  }

  private reportLater(to: string, reason: string): void {
    // Deferred so that no handler runs inside send() or in the middle of a
    // shell's Ready handling.
    this.edge.after(0, () => {
      if (!this.closed) this.handlers?.onUnreachable(to, reason);
    });
  }

  // ------------------------------------------------------------ inbound

  /** A connection accepted by the edge's listener. */
  accept(stream: RaftStream): void {
    if (this.closed) return stream.close();
    if (this.inbound.size >= this.limits.inboundConnectionsMax) {
      this.counts.inboundRejected++;
      const reason = `the accepting node already has ${this.limits.inboundConnectionsMax} inbound connections`;
      this.complain("warn", `${hostOf(stream.remote)} inbound full`, "raft connection refused", { peer: stream.remote, refusedBy: "this node", reason });
      stream.write(refuseFrame(reason));
      return stream.close();
    }
    const reader = new FrameReader(handshakeFrameBytesMax);
    const link: InboundLink = { state: "hello", stream, reader, records: undefined, deadline: undefined, sender: undefined };
    this.inbound.add(link);
    const timeoutMs = this.limits.handshakeTimeoutMs;
    link.deadline = this.edge.after(timeoutMs, () => this.refuseInbound(link, `the connecting node did not finish its handshake within ${timeoutMs} ms`));
    stream.onData = (bytes) => this.inboundData(link, bytes);
    stream.onClose = (reason) => this.inboundClosed(link, reason);
  }

  private inboundData(link: InboundLink, bytes: Uint8Array): void {
    link.reader.push(bytes);
    while (link.state !== "closed") {
      const payload = link.reader.next();
      if (payload === undefined) return;
      if (typeof payload === "string") return this.refuseInbound(link, `the connecting node sent ${payload}`);
      this.inboundFrame(link, payload);
    }
  }

  private inboundFrame(link: InboundLink, payload: Uint8Array): void {
    const kind = payload[0];
    const body = payload.subarray(1);
    if (link.state === "hello" && kind === frameKind.hello) return this.inboundHello(link, body);
    if (link.state === "identify" && kind === frameKind.identify) return this.inboundIdentify(link, payload.length, body);
    if (link.state === "open" && kind === frameKind.message) return this.inboundMessage(link, payload.length, body);
    if (kind === frameKind.refuse) {
      this.counts.handshakesRefused++;
      this.complain("warn", `${hostOf(link.stream.remote)} ${refusalText(body)}`, "raft connection refused", {
        peer: link.stream.remote,
        refusedBy: "peer",
        reason: refusalText(body),
      });
      return this.closeInbound(link);
    }
    const expected = link.state === "hello" ? "a hello" : link.state === "identify" ? "an identify" : "a message";
    this.refuseInbound(link, `the connecting node sent a frame of kind ${kind} where ${expected} was expected`);
  }

  private inboundHello(link: InboundLink, body: Uint8Array): void {
    const hello = parseHello(body);
    if (typeof hello === "string") return this.refuseInbound(link, `the connecting node sent ${hello}`);
    if (hello.version !== raftLinkVersion) {
      return this.refuseInbound(link, `the connecting node speaks raft link version ${hello.version}; the accepting node speaks ${raftLinkVersion}`);
    }
    if (hello.keyed && !this.security) {
      return this.refuseInbound(link, "the connecting node uses a cluster key but the accepting node has none: give every node the same keyring file");
    }
    if (!hello.keyed && this.security) {
      return this.refuseInbound(link, "the connecting node has no cluster key but the accepting node requires one: give every node the same keyring file");
    }
    const listenerRandom = this.edge.randomBytes(handshakeRandomBytes);
    const records = new RecordLayer(this.security, concatBytes(body, listenerRandom), (length) => this.edge.randomBytes(length));
    link.records = records;
    link.state = "identify";
    if (!link.stream.write(records.frame(frameKind.challenge, listenerRandom, encodeNodeId(this.nodeId)))) {
      this.inboundClosed(link, "the connection closed during the handshake");
    }
  }

  private inboundIdentify(link: InboundLink, payloadLength: number, body: Uint8Array): void {
    assert(link.records, "identify before the challenge");
    const opened = link.records.open(frameKind.identify, payloadLength, body);
    if (!opened.ok) return this.refuseInbound(link, `the connecting node's handshake ${opened.error}`);
    const nodeId = decodeNodeId(opened.content);
    if (typeof nodeId !== "string") return this.refuseInbound(link, `the connecting node's handshake ${nodeId.error}`);
    if (nodeId === this.nodeId) return this.refuseInbound(link, `the connecting node claims the accepting node's own id ${JSON.stringify(nodeId)}`);
    link.state = "open";
    link.sender = Object.freeze({ nodeId, address: link.stream.remote });
    link.deadline?.cancel();
    link.deadline = undefined;
    link.reader.limitBytes = this.frameBytesMax;
    // A node has one outbound connection to us at a time; an older one from
    // the same id is a leftover from before it reconnected or restarted.
    // Closing it keeps delivery in order: nothing from it can arrive after
    // the newer connection's messages.
    for (const other of [...this.inbound]) {
      if (other === link || other.sender?.nodeId !== nodeId) continue;
      this.log.info("raft connection superseded", { peer: other.stream.remote, nodeId, by: link.stream.remote });
      this.closeInbound(other);
    }
    this.log.debug("raft connection accepted", { peer: link.stream.remote, nodeId, encrypted: this.security !== undefined });
  }

  private inboundMessage(link: InboundLink, payloadLength: number, body: Uint8Array): void {
    assert(link.records && link.sender, "message on a connection that is not open");
    const opened = link.records.open(frameKind.message, payloadLength, body);
    if (!opened.ok) return this.refuseInbound(link, `a message frame ${opened.error}`);
    this.counts.messagesReceived++;
    this.handlers?.onMessage(link.sender, opened.content);
  }

  /** Tell the peer why, log it, and close. */
  private refuseInbound(link: InboundLink, reason: string): void {
    if (link.state === "closed") return;
    const peer = link.stream.remote;
    if (link.state === "open") {
      this.complain("warn", `${hostOf(peer)} ${reason}`, "raft connection closed", { peer, nodeId: link.sender?.nodeId, reason });
    } else {
      this.counts.handshakesRefused++;
      this.complain("warn", `${hostOf(peer)} ${reason}`, "raft connection refused", { peer, refusedBy: "this node", reason });
    }
    link.stream.write(refuseFrame(reason));
    this.closeInbound(link);
  }

  private inboundClosed(link: InboundLink, reason: string): void {
    if (link.state === "closed") return;
    // Probes and port scanners connect and leave without a word; only a peer
    // that started a handshake is worth a line at the default level.
    if (link.state === "open") this.log.debug("raft connection closed by peer", { peer: link.stream.remote, nodeId: link.sender?.nodeId, reason });
    else this.log.debug("raft connection closed during the handshake", { peer: link.stream.remote, reason });
    this.closeInbound(link);
  }

  private closeInbound(link: InboundLink): void {
    link.state = "closed";
    link.deadline?.cancel();
    link.deadline = undefined;
    this.inbound.delete(link);
    link.stream.onData = noop;
    link.stream.onDrain = noop;
    link.stream.onClose = noop;
    link.stream.close();
  }

  /** Log a complaint about a host, at most once per repeatLogIntervalMs for the same complaint. */
  private complain(level: "info" | "warn", key: string, message: string, fields: Record<string, unknown>): void {
    const nowMs = this.edge.monotonicMs();
    const last = this.lastComplaintMs.get(key);
    if (last !== undefined && nowMs - last < this.limits.repeatLogIntervalMs) return;
    if (this.lastComplaintMs.size >= loggedComplaintsMax) this.lastComplaintMs.clear();
    this.lastComplaintMs.set(key, nowMs);
    this.log[level](message, fields);
  }
}

// ---------------------------------------------------------------- Bun sockets

interface SocketState {
  stream: BunRaftStream | undefined;
}

/** A Bun TCP socket as a RaftStream, holding what the kernel did not take until it drains. */
class BunRaftStream implements RaftStream {
  onData: (bytes: Uint8Array) => void = noop;
  onDrain: () => void = noop;
  onClose: (reason: string) => void = noop;
  backlogBytes = 0;
  private pending: Uint8Array[] = [];
  private writable = true;
  private finished = false;

  constructor(
    private readonly socket: Socket<SocketState>,
    readonly remote: string,
  ) {}

  write(bytes: Uint8Array): boolean {
    if (!this.writable) return false;
    this.pending.push(bytes);
    this.backlogBytes += bytes.length;
    return this.flush();
  }

  /** Hand the kernel what it takes; false once the socket cannot be written. */
  flush(): boolean {
    while (this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const written = this.socket.write(chunk);
      if (written < 0) {
        // The socket is closing; its close event reports why.
        this.writable = false;
        this.pending = [];
        this.backlogBytes = 0;
        return false;
      }
      this.backlogBytes -= written;
      if (written < chunk.length) {
        this.pending[0] = chunk.subarray(written);
        return true;
      }
      this.pending.shift();
    }
    return true;
  }

  drained(): void {
    if (!this.writable) return;
    this.flush();
    if (this.backlogBytes === 0) this.onDrain();
  }

  close(): void {
    this.onData = noop;
    this.onDrain = noop;
    this.onClose = noop;
    if (!this.writable) return;
    this.writable = false;
    // What the kernel took (a refusal, typically) is sent before the FIN;
    // anything still pending would need a reader we no longer trust.
    this.pending = [];
    this.backlogBytes = 0;
    this.socket.end();
  }

  received(bytes: Uint8Array): void {
    if (!this.finished) this.onData(bytes);
  }

  finish(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.writable = false;
    this.pending = [];
    this.backlogBytes = 0;
    this.onClose(reason);
  }
}

function socketHandlers() {
  return {
    binaryType: "uint8array" as const,
    data(socket: Socket<SocketState>, data: Uint8Array) {
      // Bun may reuse its read buffer; the frame reader keeps chunks.
      socket.data?.stream?.received(data.slice());
    },
    drain(socket: Socket<SocketState>) {
      socket.data?.stream?.drained();
    },
    close(socket: Socket<SocketState>, error?: Error) {
      socket.data?.stream?.finish(error ? error.message : "closed by peer");
    },
    end(socket: Socket<SocketState>) {
      socket.data?.stream?.finish("closed by peer");
    },
    error(socket: Socket<SocketState>, error: Error) {
      socket.data?.stream?.finish(error.message);
    },
  };
}

const bunEdge: RaftStreamEdge = {
  dial(to, done) {
    const target = parseHostPort(to, 0);
    if (typeof target === "string" || target.port === 0) {
      queueMicrotask(() => done(`not a raft address: ${typeof target === "string" ? target : to}`));
      return;
    }
    let settled = false;
    const settle = (result: RaftStream | string) => {
      if (settled) return typeof result === "string" ? undefined : result.close();
      settled = true;
      done(result);
    };
    Bun.connect<SocketState>({
      hostname: target.host,
      port: target.port,
      data: { stream: undefined },
      socket: {
        ...socketHandlers(),
        open(socket) {
          socket.setNoDelay(true);
          const stream = new BunRaftStream(socket, to);
          socket.data = { stream };
          settle(stream);
        },
        connectError(_socket, error) {
          settle(`cannot connect: ${error.message}`);
        },
      },
    }).catch((error: Error) => settle(`cannot connect: ${error.message}`));
  },
  after(delayMs, run) {
    const timer = setTimeout(run, Math.max(0, Math.ceil(delayMs)));
    return { cancel: () => clearTimeout(timer) };
  },
  monotonicMs: () => performance.now(),
  randomBytes: (length) => new Uint8Array(cryptoRandomBytes(length)),
};

export interface RaftTcpOptions {
  nodeId: string;
  /** Address to listen on (the agent's bindAddr). */
  bindAddr: string;
  /** The raft port; 0 picks a free one (tests). */
  port: number;
  security: RaftLinkSecurity | undefined;
  log: Logger;
  limits?: Partial<RaftLinkLimits>;
}

/** The Raft transport on TCP: StreamRaftTransport with a Bun listener and Bun.connect. */
export class RaftTcpTransport extends StreamRaftTransport {
  private constructor(
    options: RaftLinkOptions,
    private readonly listener: TCPSocketListener<SocketState>,
  ) {
    super(options, bunEdge);
  }

  /** Listen on bindAddr:port; throws a sentence naming the address when it cannot. */
  static listen(options: RaftTcpOptions): RaftTcpTransport {
    let transport: RaftTcpTransport | undefined;
    let listener: TCPSocketListener<SocketState>;
    try {
      listener = Bun.listen<SocketState>({
        hostname: options.bindAddr,
        port: options.port,
        data: { stream: undefined },
        socket: {
          ...socketHandlers(),
          open(socket) {
            if (!transport) return void socket.end();
            socket.setNoDelay(true);
            const stream = new BunRaftStream(socket, formatHostPort(socket.remoteAddress, socket.remotePort));
            socket.data = { stream };
            transport.accept(stream);
          },
        },
      });
    } catch (error) {
      throw listenFailure("raft", options.bindAddr, options.port, "raftPort", error);
    }
    const localAddress = formatHostPort(options.bindAddr, listener.port);
    transport = new RaftTcpTransport({ ...options, localAddress }, listener);
    return transport;
  }

  private listening = true;

  override close(): void {
    super.close();
    if (!this.listening) return;
    this.listening = false;
    this.listener.stop(true);
  }
}
