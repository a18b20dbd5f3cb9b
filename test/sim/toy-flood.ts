// A toy protocol that exercises every part of the simulator kernel: each node
// owns one value (kept on its disk), gossips the set of values it knows to a
// random peer over datagrams, and periodically does a full exchange over a
// stream. Its only use is proving the simulator: determinism, faults,
// crashes, restarts and convergence after healing.

import type { NodeContext, SimProcess } from "./cluster.ts";
import type { SimStreamEnd } from "./network.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ToyFlood implements SimProcess {
  readonly known = new Set<string>();

  constructor(
    private readonly context: NodeContext,
    private readonly peers: readonly string[],
    private readonly gossipIntervalMs = 100,
    private readonly exchangeIntervalMs = 1000,
  ) {
    const stored = context.disk.read("value");
    const value = stored ? decoder.decode(stored) : `${context.address}#${context.prng.int(1_000_000)}`;
    if (!stored) {
      context.disk.write("value", encoder.encode(value));
      context.disk.sync();
    }
    this.known.add(value);
    context.setTimer(context.prng.int(gossipIntervalMs), "gossip", () => this.gossip());
    context.setTimer(context.prng.int(exchangeIntervalMs), "exchange", () => this.exchange());
  }

  private others(): string[] {
    return this.peers.filter((peer) => peer !== this.context.address);
  }

  private payload(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.known].sort()));
  }

  private merge(bytes: Uint8Array): void {
    for (const value of JSON.parse(decoder.decode(bytes)) as string[]) {
      if (!this.known.has(value)) {
        this.known.add(value);
        this.context.trace(`learned ${value}`);
      }
    }
  }

  private gossip(): void {
    this.context.sendDatagram(this.context.prng.pick(this.others()), this.payload());
    this.context.setTimer(this.gossipIntervalMs, "gossip", () => this.gossip());
  }

  private exchange(): void {
    this.context.openStream(this.context.prng.pick(this.others()), (result) => {
      if (typeof result === "string") {
        this.context.trace(`exchange failed: ${result}`);
        return;
      }
      result.onData = (bytes) => {
        this.merge(bytes);
        result.close();
      };
      result.send(this.payload());
    });
    this.context.setTimer(this.exchangeIntervalMs, "exchange", () => this.exchange());
  }

  onDatagram(_from: string, bytes: Uint8Array): void {
    this.merge(bytes);
  }

  onStream(stream: SimStreamEnd): void {
    stream.onData = (bytes) => {
      this.merge(bytes);
      stream.send(this.payload());
    };
  }
}
