// The SWIM failure detector and membership protocol, wire-compatible with
// hashicorp/memberlist, with Lifeguard's local health awareness and
// accelerating suspicion. A sans-IO core: time arrives as `nowMs` on every
// input, randomness from the injected PRNG, and every action leaves as an
// effect (packets, streams, timers, events) that the shell carries out.
//
// Protocol outline (memberlist's state.go): each probe interval, ping the
// next member in a shuffled round-robin order; without an ack within the
// probe timeout, ask `indirectChecks` others to ping it and try a TCP ping;
// without any ack by the end of the interval, suspect it. A suspicion times
// out into "dead" unless the member refutes it with a higher incarnation;
// independent confirmations shorten the timeout (Lifeguard). News travels as
// broadcasts piggybacked on every packet and in gossip rounds to a few random
// members, and full state is exchanged over TCP (push/pull) periodically.

import { assert, assertNever } from "../lib/assert.ts";
import type { Prng } from "../lib/prng.ts";
import { bytesToIp } from "../lib/ip.ts";
import { encodePacketMessage } from "./codec.ts";
import {
  defaultVsn,
  metaBytesMax,
  type Alive,
  type Dead,
  type IndirectPing,
  type PacketMessage,
  type Ping,
  type PushNodeState,
  type PushPull,
  type StreamMessage,
  type Suspect,
} from "./messages.ts";
import { BroadcastQueue } from "./broadcasts.ts";
import { MemberTable, addressOf, protocolMaxOf, viewOf, type Member } from "./members.ts";
import {
  pushPullIntervalMs,
  retransmitLimit,
  suspicionConfirmationsWanted,
  suspicionTimeoutMinMs,
  suspicionTimeoutMs,
} from "./math.ts";
import type { MemberEvent, SwimDelegate, SwimEffect, SwimTimer } from "./types.ts";
import type { GossipConfig } from "../config/schema.ts";

/** Bytes of a compound packet's header: type byte and part count. */
const compoundHeaderBytes = 2;
/** Bytes each compound part costs beyond its message: its u16 length. */
const compoundPartBytes = 2;
/** A user message's type byte. */
const userMessageBytes = 1;
/** Bytes of the CRC header added for protocol-5 peers. */
const crcHeaderBytes = 5;
/** Pending ack handlers (probes, relayed pings); more means something is badly wrong. */
const ackHandlersMax = 4096;
/** Longest wait between join attempts. */
const joinRetryMaxMs = 30_000;
/** First wait before retrying a join that reached no seed. */
const joinRetryFirstMs = 250;
/** Longest a graceful leave waits for its broadcast to go out. */
const leaveTimeoutMs = 2_000;

export interface SwimOptions {
  name: string;
  /** Address and port other members reach this node on. */
  advertiseHost: string;
  advertiseAddr: Uint8Array;
  advertisePort: number;
  meta: Uint8Array;
  gossip: GossipConfig;
  /** Bytes the shell adds to every packet (label header, encryption). */
  packetOverheadBytes: number;
  /** Try a TCP ping when a UDP probe fails (memberlist's default). */
  tcpPings?: boolean;
  /** How long the incarnation of a removed member is remembered. Default 24 h (Serf's tombstone timeout). */
  tombstoneMs?: number;
  /** Most members tracked. Default 10,000. */
  membersMax?: number;
  /** Incarnation to start from (at least 1), higher than any used before a restart. Default 1. */
  incarnation?: number;
}

type AckHandler =
  | { kind: "probe"; target: string }
  | { kind: "relay"; requester: string; requesterSeqNo: number; nackWanted: boolean };

interface ProbeRound {
  seqNo: number;
  target: string;
  /** The target's incarnation when probed: a failed probe accuses only that incarnation. */
  incarnation: number;
  acked: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Suspicion {
  token: number;
  incarnation: number;
  startMs: number;
  confirmations: Set<string>;
  wanted: number;
  minMs: number;
  maxMs: number;
}

type StreamPurpose =
  | { kind: "tcp-ping"; seqNo: number }
  | { kind: "push-pull"; join: boolean; joinToken?: number };

export class Swim {
  private readonly table: MemberTable;
  private readonly broadcasts = new BroadcastQueue();
  private effects: SwimEffect[] = [];
  private sequence = 0;
  private awarenessScore = 0;
  private probe: ProbeRound | undefined;
  private readonly ackHandlers = new Map<number, AckHandler>();
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly streams = new Map<number, StreamPurpose>();
  private nextToken = 1;
  /** Failure news was queued by the input being handled (see flushPromptGossip). */
  private promptGossip = false;
  private promptGossipMs = -Infinity;
  private join: { token: number; seeds: string[]; pending: number; successes: number; errors: string[]; attempt: number } | undefined;
  private leaving = false;
  private stopped = false;
  readonly counters = { packetsHandled: 0, unexpectedPings: 0, membersDropped: 0, conflicts: 0, refutes: 0 };

  constructor(
    private readonly options: SwimOptions,
    private readonly prng: Prng,
    private readonly delegate: SwimDelegate,
    nowMs: number,
  ) {
    assert(options.meta.length <= metaBytesMax, `metadata is ${options.meta.length} bytes; at most ${metaBytesMax}`);
    assert(options.advertiseAddr.length === 4 || options.advertiseAddr.length === 16, "advertise address must be 4 or 16 bytes");
    this.table = new MemberTable(options.name, prng, options.membersMax ?? 10_000, options.tombstoneMs ?? 86_400_000);
    this.table.add({
      name: options.name,
      host: options.advertiseHost,
      port: options.advertisePort,
      addrBytes: options.advertiseAddr.slice(),
      meta: options.meta.slice(),
      // memberlist's first incarnation is 1; a new member at 0 would be ignored by Go peers.
      incarnation: Math.max(1, options.incarnation ?? 1),
      state: "alive",
      stateChangeMs: nowMs,
      vsn: Uint8Array.from(defaultVsn),
    });
    this.queueBroadcast(this.options.name, this.selfAlive());
    const g = options.gossip;
    // Random offsets spread the periodic work of nodes started together.
    this.setTimer(nowMs + prng.int(g.probeIntervalMs), { kind: "probe" });
    this.setTimer(nowMs + prng.int(g.gossipIntervalMs), { kind: "gossip" });
    this.setTimer(nowMs + prng.int(g.pushPullIntervalMs), { kind: "push-pull" });
  }

  // ---------------------------------------------------------------- queries

  /** Effects produced since the last call, in the order they must be carried out. */
  drain(): SwimEffect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  members(): Member[] {
    return this.table.all();
  }

  member(name: string): Member | undefined {
    return this.table.get(name);
  }

  liveMemberCount(): number {
    return this.table.liveCount();
  }

  /** Lifeguard's local health score: 0 is healthy; probe timing is multiplied by score + 1. */
  healthScore(): number {
    return this.awarenessScore;
  }

  incarnation(): number {
    return this.table.self().incarnation;
  }

  queuedBroadcasts(): number {
    return this.broadcasts.size;
  }

  // ------------------------------------------------------------ operations

  /** Contact each seed with a joining push/pull; retried with backoff until one answers. */
  joinCluster(nowMs: number, seeds: readonly string[]): void {
    const self = addressOf(this.table.self());
    const targets = [...new Set(seeds)].filter((seed) => seed !== self);
    if (targets.length === 0) return;
    this.join = { token: this.nextToken++, seeds: targets, pending: 0, successes: 0, errors: [], attempt: 0 };
    this.attemptJoin(nowMs);
  }

  /** Publish new metadata: a new incarnation, broadcast to everyone. */
  setMeta(nowMs: number, meta: Uint8Array): void {
    assert(meta.length <= metaBytesMax, `metadata is ${meta.length} bytes; at most ${metaBytesMax}`);
    const self = this.table.self();
    self.meta = meta.slice();
    self.incarnation++;
    self.stateChangeMs = nowMs;
    this.queueBroadcast(self.name, this.selfAlive());
    this.emit({ kind: "update", member: viewOf(self) });
  }

  /** Gracefully leave: tell everyone, then report `left` once the news went out (or after a timeout). */
  leave(nowMs: number): void {
    if (this.leaving) return;
    this.leaving = true;
    const self = this.table.self();
    const dead: Dead = { type: "dead", incarnation: self.incarnation, node: self.name, from: self.name };
    this.table.setState(self, "left", nowMs);
    // With this node now "left", the live count is the others who should hear of it.
    if (this.table.liveCount() === 0) {
      this.emit({ kind: "left" });
      this.stopped = true;
      return;
    }
    this.queueBroadcast(self.name, encodePacketMessage(dead), () => this.finishLeave());
    this.setTimer(nowMs + leaveTimeoutMs, { kind: "leave-timeout" });
    this.gossipRound(nowMs);
  }

  /** Send a user message to one member over UDP (with piggybacked broadcasts). */
  sendUserPacket(to: string, payload: Uint8Array): void {
    this.sendPacket(to, encodePacketMessage({ type: "user", payload }));
  }

  /** Send a user message to one member over TCP. */
  sendUserStream(to: string, payload: Uint8Array): void {
    this.effects.push({ kind: "stream", requestId: this.nextSequence(), to, message: { type: "user", payload }, expectReply: false });
  }

  // ---------------------------------------------------------------- inputs

  handleTimer(nowMs: number, timer: SwimTimer): void {
    if (this.stopped) return;
    this.onTimer(nowMs, timer);
    this.flushPromptGossip(nowMs);
  }

  private onTimer(nowMs: number, timer: SwimTimer): void {
    switch (timer.kind) {
      case "probe":
        return this.probeTick(nowMs);
      case "probe-timeout":
        return this.probeTimeout(nowMs, timer.seqNo);
      case "ack-expire":
        this.ackHandlers.delete(timer.seqNo);
        return;
      case "relay-nack":
        return this.relayNack(timer.seqNo);
      case "gossip":
        this.gossipRound(nowMs);
        this.setTimer(nowMs + this.options.gossip.gossipIntervalMs, { kind: "gossip" });
        return;
      case "push-pull":
        this.periodicPushPull(nowMs);
        return;
      case "suspicion":
        return this.suspicionExpired(nowMs, timer.node, timer.token);
      case "join-retry":
        if (this.join?.token === timer.token) this.attemptJoin(nowMs);
        return;
      case "leave-timeout":
        return this.finishLeave();
      default:
        assertNever(timer, "timer");
    }
  }

  /** Messages decoded from one packet that arrived from `from` ("ip:port"). */
  handlePacket(nowMs: number, from: string, messages: readonly PacketMessage[]): void {
    if (this.stopped) return;
    for (const message of messages) {
      this.counters.packetsHandled++;
      this.handleMessage(nowMs, from, message);
    }
    this.flushPromptGossip(nowMs);
  }

  /** A stream opened by `from` carried `message`; the result, if any, is the reply to write back. */
  handleStream(nowMs: number, from: string, message: StreamMessage): StreamMessage | undefined {
    const reply = this.onStream(nowMs, message);
    this.flushPromptGossip(nowMs);
    return reply;
  }

  private onStream(nowMs: number, message: StreamMessage): StreamMessage | undefined {
    switch (message.type) {
      case "ping":
        if (message.node !== "" && message.node !== this.options.name) {
          this.counters.unexpectedPings++;
          return { type: "err", error: `ping for ${message.node}, but this node is ${this.options.name}` };
        }
        return { type: "ack", seqNo: message.seqNo, payload: new Uint8Array(0) };
      case "push-pull":
        this.mergeRemote(nowMs, message);
        return this.localPushPull(message.join);
      case "user":
        this.delegate.notifyMessage(message.payload);
        return undefined;
      case "ack":
      case "err":
        return { type: "err", error: `unexpected ${message.type} at the start of a stream` };
      default:
        assertNever(message, "stream message");
    }
  }

  /**
   * The outcome of a stream this core asked for: the peer's reply, or an
   * error string, with `refused` when the peer's host answered that nothing
   * listens on its gossip port.
   */
  handleStreamReply(nowMs: number, requestId: number, reply: StreamMessage | string, refused = false): void {
    const purpose = this.streams.get(requestId);
    this.streams.delete(requestId);
    if (!purpose) return;
    this.onStreamReply(nowMs, purpose, reply, refused);
    this.flushPromptGossip(nowMs);
  }

  private onStreamReply(nowMs: number, purpose: StreamPurpose, reply: StreamMessage | string, refused: boolean): void {
    switch (purpose.kind) {
      case "tcp-ping":
        if (typeof reply !== "string" && reply.type === "ack" && reply.seqNo === purpose.seqNo) {
          this.ackReceived(purpose.seqNo);
        } else if (typeof reply === "string" && refused) {
          this.probeRefused(nowMs, purpose.seqNo);
        }
        return;
      case "push-pull": {
        const ok = typeof reply !== "string" && reply.type === "push-pull";
        if (ok) this.mergeRemote(nowMs, reply);
        if (purpose.joinToken !== undefined) {
          const error = typeof reply === "string" ? reply : reply.type === "err" ? reply.error : `unexpected ${reply.type} reply`;
          this.joinAnswer(nowMs, purpose.joinToken, ok ? undefined : error);
        }
        return;
      }
      default:
        assertNever(purpose, "stream purpose");
    }
  }

  // --------------------------------------------------------------- probing

  private probeTick(nowMs: number): void {
    this.finishProbe(nowMs);
    const scale = this.awarenessScore + 1;
    const g = this.options.gossip;
    this.setTimer(nowMs + g.probeIntervalMs * scale, { kind: "probe" });
    const target = this.table.nextProbeTarget(nowMs, g.gossipToTheDeadMs);
    if (!target) return;
    const seqNo = this.nextSequence();
    this.probe = { seqNo, target: target.name, incarnation: target.incarnation, acked: false, expectedNacks: 0, nacks: 0 };
    this.addAckHandler(nowMs, seqNo, { kind: "probe", target: target.name }, g.probeIntervalMs * scale);
    const ping = this.pingFor(seqNo, target);
    if (target.state === "alive") {
      this.sendPacket(addressOf(target), encodePacketMessage(ping));
    } else {
      // A suspect gets the accusation with the ping, so it can refute at once.
      const suspect: Suspect = { type: "suspect", incarnation: target.incarnation, node: target.name, from: this.options.name };
      this.sendParts(addressOf(target), [encodePacketMessage(ping), encodePacketMessage(suspect)], target);
    }
    // Like memberlist, the direct-ack wait is not scaled by local health: a longer
    // wait does not help UDP through, while the longer interval gives the
    // indirect probes and the TCP fallback more time.
    this.setTimer(nowMs + g.probeTimeoutMs, { kind: "probe-timeout", seqNo });
  }

  private probeTimeout(nowMs: number, seqNo: number): void {
    const probe = this.probe;
    if (!probe || probe.seqNo !== seqNo || probe.acked) return;
    const target = this.table.get(probe.target);
    if (!target) return;
    const helpers = this.table.randomMembers(
      this.options.gossip.indirectChecks,
      (m) => m.name !== target.name && m.state === "alive",
    );
    for (const helper of helpers) {
      const nack = protocolMaxOf(helper) >= 4;
      if (nack) probe.expectedNacks++;
      const request: IndirectPing = {
        type: "indirect-ping",
        seqNo,
        target: target.addrBytes,
        port: target.port,
        node: target.name,
        nack,
        ...this.sourceFields(),
      };
      this.sendPacket(addressOf(helper), encodePacketMessage(request));
    }
    if ((this.options.tcpPings ?? true) && protocolMaxOf(target) >= 3) {
      const requestId = this.nextSequence();
      this.streams.set(requestId, { kind: "tcp-ping", seqNo });
      this.effects.push({ kind: "stream", requestId, to: addressOf(target), message: this.pingFor(seqNo, target), expectReply: true });
    }
  }

  /**
   * The TCP fallback ping of the current probe was refused: the target's
   * host is up and answered that nothing listens on the member's gossip port,
   * and its UDP ping had already gone unanswered for the probe timeout. That
   * is a direct answer, stronger than the silence the rest of the round
   * waits for, so the target is suspected now instead of at the end of the
   * probe interval (memberlist waits it out). Only the start of the
   * suspicion moves: the member still has the whole suspicion timeout, with
   * Lifeguard's confirmations, to refute. A machine that is down, or a
   * partition, gives no answer and takes the usual path. Our own network
   * delivered the answer, so local health is not penalised for the nacks
   * that have not arrived yet.
   */
  private probeRefused(nowMs: number, seqNo: number): void {
    const probe = this.probe;
    if (!probe || probe.seqNo !== seqNo || probe.acked) return;
    this.probe = undefined;
    this.ackHandlers.delete(seqNo);
    this.suspectProbed(nowMs, probe);
  }

  /** Close the previous probe round: adjust local health and suspect an unanswered target. */
  private finishProbe(nowMs: number): void {
    const probe = this.probe;
    this.probe = undefined;
    if (!probe || probe.acked) return;
    this.ackHandlers.delete(probe.seqNo);
    // Lifeguard: missing nacks mean our own network is suspect, not only the target.
    this.adjustAwareness(probe.expectedNacks > 0 ? Math.max(0, probe.expectedNacks - probe.nacks) : 1);
    this.suspectProbed(nowMs, probe);
  }

  private suspectProbed(nowMs: number, probe: ProbeRound): void {
    const target = this.table.get(probe.target);
    if (!target || (target.state !== "alive" && target.state !== "suspect")) return;
    // Like memberlist, accuse the incarnation that was probed: if the member
    // refuted or restarted meanwhile, the old accusation is stale and dropped.
    this.onSuspect(nowMs, { type: "suspect", incarnation: probe.incarnation, node: target.name, from: this.options.name });
  }

  private ackReceived(seqNo: number): void {
    const handler = this.ackHandlers.get(seqNo);
    if (!handler) return;
    this.ackHandlers.delete(seqNo);
    switch (handler.kind) {
      case "probe": {
        const probe = this.probe;
        if (probe && probe.seqNo === seqNo && !probe.acked) {
          probe.acked = true;
          // Any answer, direct, relayed or over TCP, counts as a healthy round.
          this.adjustAwareness(-1);
        }
        return;
      }
      case "relay":
        this.sendPacket(handler.requester, encodePacketMessage({ type: "ack", seqNo: handler.requesterSeqNo, payload: new Uint8Array(0) }));
        return;
      default:
        assertNever(handler, "ack handler");
    }
  }

  private relayNack(seqNo: number): void {
    const handler = this.ackHandlers.get(seqNo);
    if (!handler || handler.kind !== "relay" || !handler.nackWanted) return;
    this.sendPacket(handler.requester, encodePacketMessage({ type: "nack", seqNo: handler.requesterSeqNo }));
  }

  private adjustAwareness(delta: number): void {
    const max = this.options.gossip.awarenessMaxMultiplier - 1;
    this.awarenessScore = Math.min(max, Math.max(0, this.awarenessScore + delta));
  }

  private addAckHandler(nowMs: number, seqNo: number, handler: AckHandler, lifetimeMs: number): void {
    if (this.ackHandlers.size >= ackHandlersMax) return;
    this.ackHandlers.set(seqNo, handler);
    this.setTimer(nowMs + lifetimeMs, { kind: "ack-expire", seqNo });
  }

  // ------------------------------------------------------- packet handling

  private handleMessage(nowMs: number, from: string, message: PacketMessage): void {
    switch (message.type) {
      case "ping":
        return this.onPing(from, message);
      case "indirect-ping":
        return this.onIndirectPing(nowMs, from, message);
      case "ack":
        return this.ackReceived(message.seqNo);
      case "nack":
        if (this.probe?.seqNo === message.seqNo) this.probe.nacks++;
        return;
      case "suspect":
        return this.onSuspect(nowMs, message);
      case "alive":
        return this.onAlive(nowMs, message);
      case "dead":
        return this.onDead(nowMs, message);
      case "user":
        this.delegate.notifyMessage(message.payload);
        return;
      default:
        assertNever(message, "packet message");
    }
  }

  private onPing(from: string, ping: Ping): void {
    if (ping.node !== "" && ping.node !== this.options.name) {
      this.counters.unexpectedPings++;
      return;
    }
    const replyTo = this.replyAddress(from, ping.sourceAddr, ping.sourcePort);
    this.sendPacket(replyTo, encodePacketMessage({ type: "ack", seqNo: ping.seqNo, payload: new Uint8Array(0) }));
  }

  private onIndirectPing(nowMs: number, from: string, request: IndirectPing): void {
    const host = bytesToIp(request.target);
    if (host === undefined || request.port < 1 || request.port > 65535) return;
    const requester = this.replyAddress(from, request.sourceAddr, request.sourcePort);
    const seqNo = this.nextSequence();
    const lifetimeMs = this.options.gossip.probeIntervalMs;
    this.addAckHandler(nowMs, seqNo, { kind: "relay", requester, requesterSeqNo: request.seqNo, nackWanted: request.nack }, lifetimeMs);
    const target = host.includes(":") ? `[${host}]:${request.port}` : `${host}:${request.port}`;
    const ping: Ping = { type: "ping", seqNo, node: request.node, ...this.sourceFields() };
    this.sendPacket(target, encodePacketMessage(ping));
    if (request.nack) this.setTimer(nowMs + this.options.gossip.probeTimeoutMs, { kind: "relay-nack", seqNo });
  }

  private replyAddress(from: string, sourceAddr: Uint8Array | undefined, sourcePort: number | undefined): string {
    if (!sourceAddr || sourceAddr.length === 0 || !sourcePort) return from;
    const host = bytesToIp(sourceAddr);
    if (host === undefined) return from;
    return host.includes(":") ? `[${host}]:${sourcePort}` : `${host}:${sourcePort}`;
  }

  // ------------------------------------------------- alive / suspect / dead

  private onAlive(nowMs: number, alive: Alive): void {
    // Most alive messages repeat news we already have (every member relays
    // each one several times); drop those before any parsing. A repeat has
    // the known address, so it can be neither news nor a name conflict.
    const known = alive.node === this.options.name ? undefined : this.table.get(alive.node);
    if (known && alive.incarnation <= known.incarnation && alive.port === known.port && bytesEqual(alive.addr, known.addrBytes)) return;
    if (alive.node === "" || alive.meta.length > metaBytesMax) return;
    // memberlist ignores alive messages whose protocol range is impossible.
    if (alive.vsn.length >= 3 && (alive.vsn[0] === 0 || alive.vsn[1] === 0 || alive.vsn[0]! > alive.vsn[1]!)) return;
    const host = bytesToIp(alive.addr);
    if (host === undefined || alive.port < 1 || alive.port > 65535) return;
    if (alive.node === this.options.name) return this.onAliveAboutSelf(nowMs, alive);
    const existing = this.table.get(alive.node);
    if (!existing) {
      const stone = this.table.tombstone(alive.node, nowMs);
      if (stone !== undefined && alive.incarnation <= stone.incarnation) {
        if (stone.state === "dead") this.reopenDead(nowMs, alive.node);
        return;
      }
      const member: Member = {
        name: alive.node,
        host,
        port: alive.port,
        addrBytes: alive.addr.slice(),
        meta: alive.meta.slice(),
        incarnation: alive.incarnation,
        state: "alive",
        stateChangeMs: nowMs,
        vsn: normaliseVsn(alive.vsn),
      };
      if (!this.table.add(member)) {
        this.counters.membersDropped++;
        return;
      }
      this.queueBroadcast(alive.node, encodePacketMessage(alive));
      this.emit({ kind: "join", member: viewOf(member) });
      return;
    }
    const moved = existing.host !== host || existing.port !== alive.port;
    if (moved) {
      // A name may move to a new address only once its old holder is gone;
      // otherwise two live processes claim one name and we keep the first.
      if (existing.state !== "dead" && existing.state !== "left") {
        this.counters.conflicts++;
        this.emit({ kind: "conflict", name: alive.node, existing: addressOf(existing), claimed: `${host}:${alive.port}` });
        return;
      }
    } else if (alive.incarnation <= existing.incarnation) {
      return;
    }
    const wasGone = existing.state === "dead" || existing.state === "left";
    const metaChanged = !bytesEqual(existing.meta, alive.meta);
    this.suspicions.delete(existing.name);
    this.queueBroadcast(alive.node, encodePacketMessage(alive));
    if (moved) this.table.setAddress(existing, host, alive.port, alive.addr.slice());
    existing.meta = alive.meta.slice();
    existing.vsn = normaliseVsn(alive.vsn);
    existing.incarnation = alive.incarnation;
    if (existing.state !== "alive") this.table.setState(existing, "alive", nowMs);
    if (wasGone) this.emit({ kind: "join", member: viewOf(existing) });
    else if (metaChanged || moved) this.emit({ kind: "update", member: viewOf(existing) });
  }

  /**
   * Someone still claims that a member we declared dead and then forgot is
   * alive at the incarnation we buried. Usually that member was on the other
   * side of a partition that has healed: it never heard of its death, so it
   * has no reason to refute, and without help both sides would ignore each
   * other for the tombstone time. Put it back as dead (so it is gossiped to
   * and listed as dead in push/pull again) and gossip a suspicion of that
   * incarnation, which reaches it directly or through anyone who holds it
   * alive, so it refutes with a higher incarnation that passes everywhere.
   * memberlist itself forgets the dead entirely and would accept the claim;
   * a suspicion keeps the tombstone's protection against stale messages
   * while still letting a live member back in. A stale claim about a member
   * that is really gone costs one entry until the next removal.
   */
  private reopenDead(nowMs: number, name: string): void {
    const member = this.table.restore(name, nowMs);
    if (!member) return;
    const suspect: Suspect = { type: "suspect", incarnation: member.incarnation, node: name, from: this.options.name };
    this.queueBroadcast(name, encodePacketMessage(suspect));
  }

  private onAliveAboutSelf(nowMs: number, alive: Alive): void {
    const self = this.table.self();
    const same = bytesEqual(alive.addr, self.addrBytes) && alive.port === self.port && bytesEqual(alive.meta, self.meta);
    // Our own news coming back, or older news: nothing to do.
    if (alive.incarnation < self.incarnation || (alive.incarnation === self.incarnation && same)) return;
    if (this.leaving) return;
    this.refute(nowMs, alive.incarnation);
  }

  private onSuspect(nowMs: number, suspect: Suspect): void {
    const member = this.table.get(suspect.node);
    if (!member) return;
    if (suspect.incarnation < member.incarnation) {
      if (member.name === this.options.name) this.reannounce();
      return;
    }
    if (member.name === this.options.name) {
      if (!this.leaving) this.refute(nowMs, suspect.incarnation);
      return;
    }
    if (member.state === "left") {
      // The accuser missed the member's goodbye and would otherwise declare it
      // dead once its suspicion runs out (see respreadLeave).
      this.respreadLeave(member);
      return;
    }
    if (member.state === "dead") return;
    const existing = this.suspicions.get(member.name);
    if (member.state === "suspect" && existing) {
      if (this.confirmSuspicion(nowMs, member.name, existing, suspect.from)) {
        this.queueBroadcast(member.name, encodePacketMessage(suspect));
        this.promptGossip = true;
      }
      return;
    }
    this.queueBroadcast(member.name, encodePacketMessage(suspect));
    this.promptGossip = true;
    member.incarnation = suspect.incarnation;
    this.table.setState(member, "suspect", nowMs);
    this.startSuspicion(nowMs, member, suspect.from);
    this.emit({ kind: "suspect", member: viewOf(member), from: suspect.from });
  }

  private onDead(nowMs: number, dead: Dead): void {
    const member = this.table.get(dead.node);
    if (!member) return;
    if (dead.incarnation < member.incarnation) {
      if (member.name === this.options.name) this.reannounce();
      return;
    }
    this.suspicions.delete(member.name);
    if (member.state === "dead" || member.state === "left") return;
    if (member.name === this.options.name) {
      if (!this.leaving) this.refute(nowMs, dead.incarnation);
      return;
    }
    this.queueBroadcast(member.name, encodePacketMessage(dead));
    this.promptGossip = true;
    member.incarnation = dead.incarnation;
    this.table.setState(member, dead.from === dead.node ? "left" : "dead", nowMs);
    this.emit({ kind: "leave", member: viewOf(member) });
  }

  /**
   * We were accused at an incarnation we have already refuted: the accuser
   * missed the refutation. In small clusters a broadcast is sent only a few
   * times (4 at n = 5 with the LAN profile), and loss can take all of the
   * copies meant for one member; memberlist then ignores the stale
   * accusation and the accuser's suspicion runs out into a false "dead".
   * Queue our current alive again, unchanged (no new incarnation), so that
   * it reaches the accuser on the next gossip rounds. Accusers repeat
   * themselves (a prober sends the suspicion with every ping), so this goes
   * on only while someone has not heard.
   */
  private reannounce(): void {
    if (this.leaving) return;
    this.queueBroadcast(this.options.name, this.selfAlive());
  }

  /**
   * Someone suspects a member that left gracefully: it missed the leave
   * message (sent a few times only, like any broadcast) and its probes of
   * the departed member fail, so its suspicion would expire into "dead".
   * memberlist ignores suspicions of members that are not alive; we gossip
   * the leave again, as the member's own message, so the accuser records
   * "left". It stops once nobody suspects the member any more.
   */
  private respreadLeave(member: Member): void {
    const leave: Dead = { type: "dead", incarnation: member.incarnation, node: member.name, from: member.name };
    this.queueBroadcast(member.name, encodePacketMessage(leave));
  }

  private refute(nowMs: number, accusedIncarnation: number): void {
    const self = this.table.self();
    self.incarnation = Math.max(self.incarnation, accusedIncarnation) + 1;
    self.stateChangeMs = nowMs;
    this.counters.refutes++;
    this.adjustAwareness(1);
    this.queueBroadcast(self.name, this.selfAlive());
    this.promptGossip = true;
    this.emit({ kind: "refuted", incarnation: self.incarnation });
  }

  private startSuspicion(nowMs: number, member: Member, from: string): void {
    const g = this.options.gossip;
    const n = this.table.liveCount();
    const minMs = suspicionTimeoutMinMs(g.suspicionMult, n, g.probeIntervalMs);
    const suspicion: Suspicion = {
      token: this.nextToken++,
      incarnation: member.incarnation,
      startMs: nowMs,
      confirmations: new Set([from]),
      wanted: suspicionConfirmationsWanted(g.suspicionMult, n),
      minMs,
      maxMs: g.suspicionMaxTimeoutMult * minMs,
    };
    this.suspicions.set(member.name, suspicion);
    const timeoutMs = suspicionTimeoutMs(0, suspicion.wanted, suspicion.minMs, suspicion.maxMs);
    this.setTimer(nowMs + timeoutMs, { kind: "suspicion", node: member.name, token: suspicion.token });
  }

  /** True when `from` is a new, independent confirmation (the timer then shortens). */
  private confirmSuspicion(nowMs: number, name: string, suspicion: Suspicion, from: string): boolean {
    if (suspicion.confirmations.has(from) || suspicion.confirmations.size - 1 >= suspicion.wanted) return false;
    suspicion.confirmations.add(from);
    suspicion.token = this.nextToken++;
    const timeoutMs = suspicionTimeoutMs(suspicion.confirmations.size - 1, suspicion.wanted, suspicion.minMs, suspicion.maxMs);
    this.setTimer(Math.max(nowMs, suspicion.startMs + timeoutMs), { kind: "suspicion", node: name, token: suspicion.token });
    return true;
  }

  private suspicionExpired(nowMs: number, name: string, token: number): void {
    const suspicion = this.suspicions.get(name);
    if (!suspicion || suspicion.token !== token) return;
    this.suspicions.delete(name);
    const member = this.table.get(name);
    if (!member || member.state !== "suspect" || member.incarnation !== suspicion.incarnation) return;
    this.onDead(nowMs, { type: "dead", incarnation: member.incarnation, node: name, from: this.options.name });
  }

  // ------------------------------------------------------ gossip, push/pull

  /**
   * Failure news (a new suspicion, a new confirmation, a death, a
   * refutation) is gossiped at the end of the input that produced it rather
   * than at the next gossip tick. memberlist waits for the tick at every hop,
   * which spreads the moment members learn of a failure over a few gossip
   * intervals; here each hop costs only the network's delay, so every
   * member's suspicion starts (and a death is known) almost together, and a
   * refutation reaches the accused's accusers sooner. The early round only
   * sends earlier transmissions the queue would have sent anyway (each news
   * item keeps its transmit limit), and rounds ahead of the tick are at least
   * a quarter of a gossip interval apart: a burst of failure news adds at most
   * four rounds per gossip interval, and steady state adds none.
   */
  private flushPromptGossip(nowMs: number): void {
    if (!this.promptGossip) return;
    this.promptGossip = false;
    if (nowMs - this.promptGossipMs < this.options.gossip.gossipIntervalMs / 4) return;
    this.promptGossipMs = nowMs;
    this.gossipRound(nowMs);
  }

  private gossipRound(nowMs: number): void {
    const g = this.options.gossip;
    const targets = this.table.randomMembers(g.gossipNodes, (m) => {
      if (m.state === "alive" || m.state === "suspect") return true;
      return m.state === "dead" && nowMs - m.stateChangeMs <= g.gossipToTheDeadMs;
    });
    for (const target of targets) {
      const crc = protocolMaxOf(target) >= 5;
      const limit = g.packetBytesMax - this.options.packetOverheadBytes - compoundHeaderBytes - (crc ? crcHeaderBytes : 0);
      const parts = this.takeBroadcasts(compoundPartBytes, limit);
      if (parts.length === 0) return;
      this.effects.push({ kind: "send-packet", to: addressOf(target), parts, crc });
    }
  }

  private periodicPushPull(nowMs: number): void {
    const n = this.table.liveCount();
    this.setTimer(nowMs + pushPullIntervalMs(this.options.gossip.pushPullIntervalMs, n), { kind: "push-pull" });
    const [peer] = this.table.randomMembers(1, (m) => m.state === "alive");
    if (peer) this.pushPullWith(addressOf(peer));
    this.reconnect(nowMs, n);
  }

  /**
   * Serf's reconnect, on the push/pull timer: with probability failed/live,
   * exchange state with one random failed (dead, not left) member. Probes and
   * push/pull only ever go to live members, so without this two halves of a
   * healed partition that declared each other dead would never speak again.
   * The exchange lists the member as dead, so it refutes at once, and the
   * replies spread the news both ways (see reopenDead).
   */
  private reconnect(nowMs: number, live: number): void {
    const failed = this.table.failedNames(nowMs);
    if (failed.length === 0 || !this.prng.chance(Math.min(1, failed.length / Math.max(1, live)))) return;
    const name = failed[this.prng.int(failed.length)]!;
    const member = this.table.get(name) ?? this.table.restore(name, nowMs);
    if (!member) return;
    this.pushPullWith(addressOf(member));
  }

  private pushPullWith(address: string): void {
    const requestId = this.nextSequence();
    this.streams.set(requestId, { kind: "push-pull", join: false });
    this.effects.push({ kind: "stream", requestId, to: address, message: this.localPushPull(false), expectReply: true });
  }

  private localPushPull(join: boolean): PushPull {
    const nodes: PushNodeState[] = this.table.all().map((m) => ({
      name: m.name,
      addr: m.addrBytes,
      port: m.port,
      meta: m.meta,
      incarnation: m.incarnation,
      state: m.state,
      vsn: m.vsn,
    }));
    nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { type: "push-pull", join, nodes, userState: this.delegate.localState(join) };
  }

  /** memberlist's mergeState: remote deaths only make us suspicious, never dead directly. */
  private mergeRemote(nowMs: number, remote: PushPull): void {
    for (const node of remote.nodes) {
      switch (node.state) {
        case "alive":
          this.onAlive(nowMs, { type: "alive", incarnation: node.incarnation, node: node.name, addr: node.addr, port: node.port, meta: node.meta, vsn: node.vsn });
          break;
        case "left":
          this.onDead(nowMs, { type: "dead", incarnation: node.incarnation, node: node.name, from: node.name });
          break;
        case "dead":
        case "suspect":
          this.onSuspect(nowMs, { type: "suspect", incarnation: node.incarnation, node: node.name, from: this.options.name });
          break;
        default:
          assertNever(node.state, "node state");
      }
    }
    if (remote.userState.length > 0) this.delegate.mergeRemoteState(remote.userState, remote.join);
  }

  private attemptJoin(nowMs: number): void {
    const join = this.join;
    if (!join) return;
    join.attempt++;
    join.pending = join.seeds.length;
    join.successes = 0;
    join.errors = [];
    for (const seed of join.seeds) {
      const requestId = this.nextSequence();
      this.streams.set(requestId, { kind: "push-pull", join: true, joinToken: join.token });
      this.effects.push({ kind: "stream", requestId, to: seed, message: this.localPushPull(true), expectReply: true });
    }
  }

  private joinAnswer(nowMs: number, token: number, error: string | undefined): void {
    const join = this.join;
    if (!join || join.token !== token) return;
    join.pending--;
    if (error === undefined) join.successes++;
    else join.errors.push(error);
    if (join.pending > 0) return;
    if (join.successes > 0) {
      this.emit({ kind: "joined", contacted: join.successes });
      this.join = undefined;
      return;
    }
    // Nodes often boot together and a seed may not listen yet: retry soon, then back off.
    const delayMs = Math.min(joinRetryMaxMs, joinRetryFirstMs * 2 ** Math.min(join.attempt - 1, 8));
    join.token = this.nextToken++;
    this.setTimer(nowMs + delayMs, { kind: "join-retry", token: join.token });
    this.emit({ kind: "join-failed", attempt: join.attempt, nextRetryMs: delayMs, errors: [...join.errors] });
  }

  private finishLeave(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.emit({ kind: "left" });
  }

  // ---------------------------------------------------------------- output

  /**
   * Send one message to an address, topped up with queued broadcasts, without
   * a CRC. memberlist adds its CRC only where it sends to a member (gossip
   * rounds and the ping-with-accusation to a suspect, see sendParts); pings
   * to live members, indirect ping requests and their relays, acks and nacks
   * go to an address, and it finds a member for an address only when members
   * are named by their bare IP, so in practice it sends those without one. So
   * do we, which keeps the two implementations' packets byte for byte alike.
   * UDP's own checksum covers them, and AES-GCM does when a key is set.
   */
  private sendPacket(to: string, message: Uint8Array): void {
    this.sendParts(to, [message], undefined);
  }

  /**
   * Send `parts`, topped up with queued broadcasts that fit in the packet
   * budget, with a CRC when sent to a `member` that speaks protocol 5.
   */
  private sendParts(to: string, parts: Uint8Array[], member: Member | undefined): void {
    const crc = member !== undefined && protocolMaxOf(member) >= 5;
    const used = parts.reduce((sum, part) => sum + part.length + compoundPartBytes, 0);
    const limit =
      this.options.gossip.packetBytesMax - this.options.packetOverheadBytes - compoundHeaderBytes - used - (crc ? crcHeaderBytes : 0);
    const extra = this.takeBroadcasts(compoundPartBytes, limit);
    this.effects.push({ kind: "send-packet", to, parts: [...parts, ...extra], crc });
  }

  private takeBroadcasts(overheadBytes: number, limitBytes: number): Uint8Array[] {
    if (limitBytes <= overheadBytes) return [];
    const transmitLimit = retransmitLimit(this.options.gossip.retransmitMult, this.table.liveCount());
    const ours = this.broadcasts.take(overheadBytes, limitBytes, transmitLimit);
    const usedBytes = ours.reduce((sum, part) => sum + part.length + overheadBytes, 0);
    const remaining = limitBytes - usedBytes;
    if (remaining <= overheadBytes + userMessageBytes) return ours;
    const user = this.delegate.broadcasts(overheadBytes + userMessageBytes, remaining);
    return [...ours, ...user.map((payload) => encodePacketMessage({ type: "user", payload }))];
  }

  private queueBroadcast(key: string, bytes: Uint8Array, onDone?: () => void): void {
    this.broadcasts.push(key, bytes, onDone);
  }

  private selfAlive(): Uint8Array {
    const self = this.table.self();
    const alive: Alive = {
      type: "alive",
      incarnation: self.incarnation,
      node: self.name,
      addr: self.addrBytes,
      port: self.port,
      meta: self.meta,
      vsn: self.vsn,
    };
    return encodePacketMessage(alive);
  }

  private pingFor(seqNo: number, target: Member): Ping {
    return { type: "ping", seqNo, node: target.name, ...this.sourceFields() };
  }

  private sourceFields(): Pick<Ping, "sourceAddr" | "sourcePort" | "sourceNode"> {
    const self = this.table.self();
    return { sourceAddr: self.addrBytes, sourcePort: self.port, sourceNode: self.name };
  }

  private setTimer(atMs: number, timer: SwimTimer): void {
    this.effects.push({ kind: "set-timer", atMs, timer });
  }

  private emit(event: MemberEvent): void {
    this.effects.push({ kind: "event", event });
  }

  private nextSequence(): number {
    this.sequence = (this.sequence + 1) >>> 0;
    return this.sequence;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Six version bytes; a peer that sent fewer is treated as protocol 1 only. */
function normaliseVsn(vsn: Uint8Array): Uint8Array {
  if (vsn.length === 6) return vsn.slice();
  return Uint8Array.from([1, 1, 1, 0, 0, 0]);
}
