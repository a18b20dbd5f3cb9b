// The gossip shell: drives the SWIM core with a transport, a clock and
// wake-ups, and does the byte work around it: compound packets, compression,
// CRC, encryption and labels on the way out; the reverse on the way in, where
// anything malformed is dropped and counted, never thrown. The same shell
// runs in production (Bun sockets, system clock) and in the simulator.

import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import type { Prng } from "../lib/prng.ts";
import { TimerScheduler } from "../lib/scheduler.ts";
import { assertNever } from "../lib/assert.ts";
import {
  addCrc,
  addPacketLabel,
  compressPacketIfSmaller,
  decodePacket,
  decodeStream,
  decodeStreamLabel,
  encodeCompounds,
  encodeLabelHeader,
  encodeStreamMessage,
  stripPacketLabel,
} from "../gossip/codec.ts";
import {
  decryptPacket,
  encryptPacket,
  encryptStreamFrame,
  encryptionOverheadBytes,
  installKey,
  nonceBytes,
  removeKey,
  streamDecryptor,
  useKey,
  type Encryption,
  type KeyringResult,
} from "../gossip/security.ts";
import type { StreamMessage } from "../gossip/messages.ts";
import { Swim, type SwimOptions } from "../gossip/swim.ts";
import type { GossipTransport, StreamConnection } from "../gossip/transport.ts";
import type { MemberEvent, SwimDelegate, SwimEffect, SwimTimer } from "../gossip/types.ts";
import type { WakeupHandle, Wakeups } from "./wakeups.ts";

/** Bytes a stream may buffer while waiting for one complete message. */
const streamBufferBytesMax = 64 * 1024 * 1024;
/** Streams this node has open for its own requests at once; more are refused (memberlist allows 128 push/pulls). */
const outboundStreamsMax = 128;
/** A repeated warning about the same peer is logged at most this often. */
const warningIntervalMs = 60_000;

export interface GossipShellOptions {
  swim: Omit<SwimOptions, "packetOverheadBytes">;
  /** Encryption and label; undefined keeps gossip in plain text. */
  encryption?: Encryption;
  /** Cluster label when not encrypting (with encryption, `encryption.label` is used). */
  label?: Uint8Array;
  /** memberlist's EnableCompression (default true). */
  compress?: boolean;
  /** Cryptographic randomness for nonces (the simulator passes a seeded source). */
  randomBytes: (length: number) => Uint8Array;
}

export interface GossipCounters {
  packetsReceived: number;
  packetsSent: number;
  bytesReceived: number;
  bytesSent: number;
  packetsDropped: number;
  decryptFailures: number;
  labelMismatches: number;
  streamErrors: number;
  streamBytesSent: number;
  streamFramesSent: number;
}

export class GossipShell {
  readonly core: Swim;
  private readonly timers = new TimerScheduler<SwimTimer>();
  private wakeup: { atMs: number; handle: WakeupHandle } | undefined;
  private readonly label: Uint8Array;
  private outbound = 0;
  private stopped = false;
  private readonly lastWarningMs = new Map<string, number>();
  readonly counters: GossipCounters = {
    packetsReceived: 0,
    packetsSent: 0,
    bytesReceived: 0,
    bytesSent: 0,
    packetsDropped: 0,
    decryptFailures: 0,
    labelMismatches: 0,
    streamErrors: 0,
    streamBytesSent: 0,
    streamFramesSent: 0,
  };
  /** Set by the owner to hear about membership changes. */
  onEvent: (event: MemberEvent) => void = () => {};

  constructor(
    private readonly options: GossipShellOptions,
    private readonly transport: GossipTransport,
    private readonly clock: Clock,
    private readonly wakeups: Wakeups,
    prng: Prng,
    delegate: SwimDelegate,
    private readonly log: Logger,
  ) {
    this.label = options.encryption?.label ?? options.label ?? new Uint8Array(0);
    const labelOverhead = this.label.length > 0 ? 2 + this.label.length : 0;
    const encryptionOverhead = options.encryption ? encryptionOverheadBytes(options.encryption.version) : 0;
    this.core = new Swim(
      { ...options.swim, packetOverheadBytes: labelOverhead + encryptionOverhead },
      prng,
      delegate,
      this.now(),
    );
    transport.setHandlers({
      onPacket: (from, bytes) => this.receivePacket(from, bytes),
      onStream: (connection) => this.acceptStream(connection),
    });
    this.run();
  }

  private now(): number {
    return this.clock.monotonicMs();
  }

  // ------------------------------------------------------------ operations

  join(seeds: readonly string[]): void {
    this.core.joinCluster(this.now(), seeds);
    this.run();
  }

  setMeta(meta: Uint8Array): void {
    this.core.setMeta(this.now(), meta);
    this.run();
  }

  /** Leave gracefully; a "left" event follows once the news went out, and then the owner calls stop(). */
  leave(): void {
    this.core.leave(this.now());
    this.run();
  }

  sendUserPacket(to: string, payload: Uint8Array): void {
    this.core.sendUserPacket(to, payload);
    this.run();
  }

  sendUserStream(to: string, payload: Uint8Array): void {
    this.core.sendUserStream(to, payload);
    this.run();
  }

  /** Keyring changes at run time (install, make primary, remove). */
  changeKeyring(change: "install" | "use" | "remove", key: Uint8Array): KeyringResult {
    const encryption = this.options.encryption;
    if (!encryption) return { ok: false, error: "gossip encryption is not enabled on this node (no keyring file configured)" };
    const result =
      change === "install" ? installKey(encryption.keyring, key) : change === "use" ? useKey(encryption.keyring, key) : removeKey(encryption.keyring, key);
    if (result.ok) encryption.keyring = result.keyring;
    return result;
  }

  /** The installed keys, primary first (undefined without encryption). */
  keyring() {
    return this.options.encryption?.keyring;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wakeup?.handle.cancel();
    this.wakeup = undefined;
    this.timers.clear();
    this.transport.close();
  }

  // ------------------------------------------------------- effect handling

  /** Carry out every effect the core produced, then re-arm the wake-up. */
  private run(): void {
    if (this.stopped) return;
    for (let effects = this.core.drain(); effects.length > 0; effects = this.core.drain()) {
      for (const effect of effects) this.perform(effect);
    }
    this.arm();
  }

  private perform(effect: SwimEffect): void {
    switch (effect.kind) {
      case "send-packet":
        return this.sendPacket(effect.to, effect.parts, effect.crc);
      case "stream":
        return this.openRequestStream(effect.requestId, effect.to, effect.message, effect.expectReply);
      case "set-timer":
        this.timers.schedule(effect.atMs, effect.timer);
        return;
      case "event":
        // After "left" the core is silent; the owner calls stop() to close the sockets.
        this.onEvent(effect.event);
        return;
      default:
        assertNever(effect, "gossip effect");
    }
  }

  private arm(): void {
    const dueMs = this.timers.nextDueMs();
    if (dueMs === undefined) return;
    if (this.wakeup && this.wakeup.atMs <= dueMs) return;
    this.wakeup?.handle.cancel();
    const handle = this.wakeups.after(Math.max(0, dueMs - this.now()), () => this.fire());
    this.wakeup = { atMs: dueMs, handle };
  }

  private fire(): void {
    this.wakeup = undefined;
    if (this.stopped) return;
    const nowMs = this.now();
    for (const timer of this.timers.takeDue(nowMs)) {
      this.core.handleTimer(nowMs, timer);
      this.run();
      if (this.stopped) return;
    }
    this.arm();
  }

  // -------------------------------------------------------------- packets

  private sendPacket(to: string, parts: Uint8Array[], crc: boolean): void {
    const packets = parts.length === 1 ? parts : encodeCompounds(parts);
    for (let packet of packets) {
      if (this.options.compress ?? true) packet = compressPacketIfSmaller(packet);
      if (crc) packet = addCrc(packet);
      if (this.options.encryption) packet = encryptPacket(this.options.encryption, packet, this.options.randomBytes(nonceBytes));
      packet = addPacketLabel(packet, this.label);
      this.counters.packetsSent++;
      this.counters.bytesSent += packet.length;
      this.transport.sendPacket(to, packet);
    }
  }

  private receivePacket(from: string, bytes: Uint8Array): void {
    if (this.stopped) return;
    this.counters.packetsReceived++;
    this.counters.bytesReceived += bytes.length;
    const labelled = stripPacketLabel(bytes);
    if (!labelled.ok) return this.drop(from, `bad label header: ${labelled.error}`);
    if (!bytesEqual(labelled.label, this.label)) {
      this.counters.labelMismatches++;
      return this.drop(from, `cluster label mismatch (ours ${text(this.label)}, theirs ${text(labelled.label)})`);
    }
    let payload = labelled.rest;
    if (this.options.encryption) {
      const opened = decryptPacket(this.options.encryption, payload);
      if (!opened.ok) {
        this.counters.decryptFailures++;
        return this.drop(from, `cannot decrypt packet: ${opened.error} (is the same gossip key installed on both nodes?)`);
      }
      payload = opened.plaintext;
    }
    const decoded = decodePacket(payload);
    if (decoded.error !== undefined) this.drop(from, `malformed packet: ${decoded.error}`);
    if (decoded.messages.length > 0) {
      this.core.handlePacket(this.now(), from, decoded.messages);
      this.run();
    }
  }

  private drop(from: string, reason: string): void {
    this.counters.packetsDropped++;
    this.warnOnce(`${from} ${reason.slice(0, 40)}`, "gossip packet dropped", { from, reason });
  }

  private warnOnce(key: string, message: string, fields: Record<string, unknown>): void {
    const nowMs = this.now();
    const last = this.lastWarningMs.get(key);
    if (last !== undefined && nowMs - last < warningIntervalMs) return;
    if (this.lastWarningMs.size > 1024) this.lastWarningMs.clear();
    this.lastWarningMs.set(key, nowMs);
    this.log.warn(message, fields);
  }

  // -------------------------------------------------------------- streams

  private encodeFrame(message: StreamMessage): Uint8Array {
    let frame = encodeStreamMessage(message, { compress: this.options.compress ?? true });
    if (this.options.encryption) frame = encryptStreamFrame(this.options.encryption, frame, this.options.randomBytes(nonceBytes));
    this.counters.streamBytesSent += frame.length;
    this.counters.streamFramesSent++;
    if (this.label.length === 0) return frame;
    const header = encodeLabelHeader(this.label);
    const out = new Uint8Array(header.length + frame.length);
    out.set(header);
    out.set(frame, header.length);
    return out;
  }

  private openRequestStream(requestId: number, to: string, message: StreamMessage, expectReply: boolean): void {
    const deadlineMs = this.options.swim.gossip.tcpTimeoutMs;
    if (this.outbound >= outboundStreamsMax) {
      this.core.handleStreamReply(this.now(), requestId, `too many streams open (${outboundStreamsMax})`);
      return;
    }
    this.outbound++;
    let finished = false;
    const finish = (reply: StreamMessage | string, connection?: StreamConnection, refused = false) => {
      if (finished) return;
      finished = true;
      this.outbound--;
      deadline.cancel();
      connection?.end();
      if (!expectReply && typeof reply !== "string") return;
      if (typeof reply === "string") this.counters.streamErrors++;
      this.core.handleStreamReply(this.now(), requestId, reply, refused);
      this.run();
    };
    const deadline = this.wakeups.after(deadlineMs, () => finish(`no answer from ${to} within ${deadlineMs} ms`));
    this.transport.openStream(to, deadlineMs, (result, refused) => {
      if (typeof result === "string") return finish(result, undefined, refused === true);
      if (finished) return result.end();
      result.write(this.encodeFrame(message));
      if (!expectReply) return finish({ type: "err", error: "" }, result);
      this.readMessage(result, (reply) => finish(reply, result));
    });
  }

  private acceptStream(connection: StreamConnection): void {
    this.readMessage(connection, (message) => {
      if (typeof message === "string") {
        this.counters.streamErrors++;
        this.warnOnce(`${connection.remote} stream`, "gossip stream refused", { from: connection.remote, reason: message });
        connection.write(this.encodeFrame({ type: "err", error: message }));
        connection.end();
        return;
      }
      const reply = this.core.handleStream(this.now(), connection.remote, message);
      if (reply) connection.write(this.encodeFrame(reply));
      connection.end();
      this.run();
    });
  }

  /** Accumulate bytes until one whole message (after the label) decodes; report it or why not. */
  private readMessage(connection: StreamConnection, done: (message: StreamMessage | string) => void): void {
    const buffer = new GrowingBuffer();
    /** Decoding is retried only once at least this many bytes are in (the decoder says how many it needs). */
    let bytesNeededMin = 1;
    let settled = false;
    const settle = (result: StreamMessage | string) => {
      if (settled) return;
      settled = true;
      connection.onData = () => {};
      done(result);
    };
    const decrypt = this.options.encryption ? streamDecryptor(this.options.encryption) : undefined;
    connection.onData = (chunk) => {
      buffer.append(chunk);
      if (buffer.length > streamBufferBytesMax) return settle(`stream message larger than ${streamBufferBytesMax} bytes`);
      if (buffer.length < bytesNeededMin) return;
      const bytes = buffer.view();
      const labelled = decodeStreamLabel(bytes);
      if (labelled.kind === "need-more") return void (bytesNeededMin = labelled.bytesNeededMin);
      if (labelled.kind === "error") return settle(labelled.error);
      if (!bytesEqual(labelled.label, this.label)) {
        this.counters.labelMismatches++;
        return settle(`cluster label mismatch (ours ${text(this.label)}, theirs ${text(labelled.label)})`);
      }
      const decoded = decodeStream(bytes.subarray(labelled.consumed), { decrypt, requireEncryption: decrypt !== undefined });
      if (decoded.kind === "need-more") return void (bytesNeededMin = labelled.consumed + decoded.bytesNeededMin);
      if (decoded.kind === "error") return settle(decoded.error);
      if (decoded.message.type === "err") return settle(`peer answered with an error: ${decoded.message.error}`);
      settle(decoded.message);
    };
    connection.onClose = (reason) =>
      settle(
        buffer.length === 0
          ? `${connection.remote} closed the stream without answering (${reason}; a different gossip key or encryption setting?)`
          : `${connection.remote} closed the stream in the middle of a message (${reason})`,
      );
  }
}

/** A byte buffer that doubles as it fills, so a large stream costs linear time to collect. */
class GrowingBuffer {
  private bytes = new Uint8Array(4096);
  length = 0;

  append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.length + chunk.length));
      bigger.set(this.bytes.subarray(0, this.length));
      this.bytes = bigger;
    }
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function text(label: Uint8Array): string {
  return label.length === 0 ? "none" : JSON.stringify(new TextDecoder().decode(label));
}
