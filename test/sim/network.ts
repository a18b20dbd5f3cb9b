// The simulated network between nodes: datagrams that can be lost, delayed,
// duplicated and reordered, and ordered reliable streams that break under
// partitions and crashes. Partitions are directed: blocking a -> b leaves
// b -> a working (a one-way partition) unless both directions are blocked.

import { assert } from "../../src/lib/assert.ts";
import type { Simulation } from "./kernel.ts";

/** What connecting to a node that is down gets: its host answers, nothing listens (a crashed process). */
export const connectionRefused = "connection refused";

export interface NetworkFaults {
  /** Probability that a datagram is lost. */
  lossRate: number;
  /** Probability that a datagram is delivered twice. */
  duplicateRate: number;
  /** One-way delay: uniform in [delayMinMs, delayMaxMs]; different delays reorder datagrams. */
  delayMinMs: number;
  delayMaxMs: number;
}

export const perfectNetwork: NetworkFaults = { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 1 };

export interface Endpoint {
  /** Whether the node behind this address is up. */
  up(): boolean;
  receiveDatagram(from: string, bytes: Uint8Array): void;
  acceptStream(stream: SimStreamEnd): void;
}

/** One end of a simulated stream connection. */
export class SimStreamEnd {
  onData: (bytes: Uint8Array) => void = () => {};
  onClose: (reason: string) => void = () => {};
  peer!: SimStreamEnd;
  /** This end will send no more (closed by its owner, or broken). */
  closed = false;
  /** The connection failed (partition or crash): nothing in flight arrives. */
  broken = false;
  /** Real time at which the last chunk sent from this end arrives; keeps delivery in order. */
  private lastArrivalMs = 0;

  constructor(
    private readonly network: SimNetwork,
    readonly local: string,
    readonly remote: string,
  ) {}

  send(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    const sim = this.network.sim;
    const arrival = Math.max(this.lastArrivalMs, sim.nowMs + this.network.sampleDelay());
    this.lastArrivalMs = arrival;
    const copy = bytes.slice();
    sim.at(arrival, `stream ${this.local}->${this.remote} ${copy.length}B`, () => {
      // Like TCP, data written before a close still arrives; only a broken
      // connection or a receiver that closed its end loses it.
      if (this.broken || this.peer.closed) return;
      if (!this.network.connected(this.local, this.remote)) {
        this.network.breakStream(this, "partitioned");
        return;
      }
      this.peer.onData(copy);
    });
    return true;
  }

  close(reason = "closed by peer"): void {
    if (this.closed) return;
    this.closed = true;
    this.network.forget(this);
    const sim = this.network.sim;
    sim.at(Math.max(this.lastArrivalMs, sim.nowMs + this.network.sampleDelay()), `stream-close ${this.local}->${this.remote}`, () => {
      if (!this.peer.closed) {
        this.peer.closed = true;
        this.peer.onClose(reason);
      }
    });
  }
}

export class SimNetwork {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly blocked = new Set<string>();
  faults: NetworkFaults;
  private readonly openStreams = new Set<SimStreamEnd>();
  datagramsSent = 0;
  datagramsDelivered = 0;
  bytesSent = 0;

  constructor(
    readonly sim: Simulation,
    faults: NetworkFaults = perfectNetwork,
  ) {
    this.faults = { ...faults };
  }

  /** Addresses whose whole machine is down: connecting gets no answer, as opposed to a refusal. */
  private readonly hostsDown = new Set<string>();

  /** A crashed node's machine is down (true) or only its process (false, the default). */
  setHostDown(address: string, down: boolean): void {
    if (down) this.hostsDown.add(address);
    else this.hostsDown.delete(address);
  }

  attach(address: string, endpoint: Endpoint): void {
    assert(!this.endpoints.has(address), `address ${address} already attached`);
    this.endpoints.set(address, endpoint);
  }

  sampleDelay(): number {
    const { delayMinMs, delayMaxMs } = this.faults;
    return delayMinMs + this.sim.prng.float() * (delayMaxMs - delayMinMs);
  }

  connected(from: string, to: string): boolean {
    return !this.blocked.has(`${from}>${to}`);
  }

  /** Block traffic from every node of `from` to every node of `to` (and back, unless one-way). */
  partition(from: readonly string[], to: readonly string[], oneWay = false): void {
    for (const a of from) {
      for (const b of to) {
        this.blocked.add(`${a}>${b}`);
        if (!oneWay) this.blocked.add(`${b}>${a}`);
      }
    }
    this.sim.trace.record(`partition ${from.join(",")} ${oneWay ? "->" : "<->"} ${to.join(",")}`);
    for (const stream of [...this.openStreams]) {
      if (!this.connected(stream.local, stream.remote)) this.breakStream(stream, "partitioned");
    }
  }

  heal(): void {
    this.blocked.clear();
    this.sim.trace.record("heal");
  }

  sendDatagram(from: string, to: string, bytes: Uint8Array): void {
    this.datagramsSent++;
    this.bytesSent += bytes.length;
    const { lossRate, duplicateRate } = this.faults;
    if (!this.connected(from, to) || this.sim.prng.chance(lossRate)) return;
    const copies = this.sim.prng.chance(duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const copy = bytes.slice();
      this.sim.after(this.sampleDelay(), `dgram ${from}->${to} ${copy.length}B`, () => {
        const endpoint = this.endpoints.get(to);
        // A partition that starts while a packet is in flight still drops it.
        if (!endpoint || !endpoint.up() || !this.connected(from, to)) return;
        this.datagramsDelivered++;
        endpoint.receiveDatagram(from, copy);
      });
    }
  }

  /**
   * Open a stream; the result arrives after one delay (a connect round trip)
   * as the local end, or as an error string when the peer is unreachable.
   */
  openStream(from: string, to: string, done: (result: SimStreamEnd | string) => void): void {
    const delay = this.sampleDelay() * 2;
    this.sim.after(delay, `connect ${from}->${to}`, () => {
      const endpoint = this.endpoints.get(to);
      if (!endpoint || !endpoint.up()) return done(this.hostsDown.has(to) ? "connection timed out" : connectionRefused);
      if (!this.connected(from, to) || !this.connected(to, from)) return done("connection timed out");
      const local = new SimStreamEnd(this, from, to);
      const remote = new SimStreamEnd(this, to, from);
      local.peer = remote;
      remote.peer = local;
      this.openStreams.add(local);
      this.openStreams.add(remote);
      endpoint.acceptStream(remote);
      done(local);
    });
  }

  /** Stop tracking a stream that was closed normally. */
  forget(end: SimStreamEnd): void {
    this.openStreams.delete(end);
    this.openStreams.delete(end.peer);
  }

  /** Close both ends of a stream at once (partition or crash). */
  breakStream(end: SimStreamEnd, reason: string): void {
    this.openStreams.delete(end);
    this.openStreams.delete(end.peer);
    for (const side of [end, end.peer]) {
      side.broken = true;
      if (side.closed) continue;
      side.closed = true;
      side.onClose(reason);
    }
  }

  /** Break every stream that touches `address` (its node crashed). */
  breakStreamsOf(address: string): void {
    for (const stream of [...this.openStreams]) {
      if (stream.local === address || stream.remote === address) this.breakStream(stream, "peer crashed");
    }
  }
}
