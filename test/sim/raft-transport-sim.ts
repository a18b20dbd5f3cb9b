// The Raft transport over the simulator's streams: the production protocol
// (StreamRaftTransport: framing, handshake, sealing, queues, re-dialling)
// with the simulator as its edge, so that Raft runs in virtual time over the
// same logic as on TCP. Timers run on the node's drifting clock, random
// bytes come from a fork of the node's seeded PRNG, and the process that
// owns the transport passes it the streams the network delivers
// (SimProcess.onStream -> acceptStream).

import { StreamRaftTransport, type RaftLinkOptions, type RaftStream, type RaftStreamEdge } from "../../src/adapters/raft-tcp.ts";
import type { NodeContext } from "./cluster.ts";
import type { SimStreamEnd } from "./network.ts";

const noop = () => {};
/** A simulated stream end as a RaftStream; the simulated network has no backpressure. */
class SimRaftStream implements RaftStream {
  onData: (bytes: Uint8Array) => void = noop;
  onDrain: () => void = noop;
  onClose: (reason: string) => void = noop;
  readonly backlogBytes = 0;
  private closing = false;

  constructor(private readonly end: SimStreamEnd) {
    end.onData = (bytes) => this.onData(bytes);
    end.onClose = (reason) => this.onClose(reason);
  }

  get remote(): string {
    return this.end.remote;
  }

  write(bytes: Uint8Array): boolean {
    return !this.closing && this.end.send(bytes);
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.onData = noop;
    this.onDrain = noop;
    this.onClose = noop;
    this.end.onData = noop;
    this.end.onClose = noop;
    // The simulated network, like TCP, still delivers what was written before the close.
    this.end.close();
  }
}

function simEdge(context: NodeContext): RaftStreamEdge {
  const prng = context.prng.fork();
  return {
    dial(to, done) {
      // The simulated network answers after a delay, never synchronously.
      context.openStream(to, (result) => done(typeof result === "string" ? `cannot connect: ${result}` : new SimRaftStream(result)));
    },
    after(delayMs, run) {
      const timer = context.setTimer(delayMs, "raft-link", run);
      return { cancel: () => context.cancelTimer(timer) };
    },
    monotonicMs: () => context.clock.monotonicMs(),
    randomBytes(length) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = prng.int(256);
      return bytes;
    },
  };
}

export class SimRaftTransport extends StreamRaftTransport {
  constructor(
    private readonly context: NodeContext,
    options: Omit<RaftLinkOptions, "localAddress">,
  ) {
    super({ ...options, localAddress: context.address }, simEdge(context));
  }

  /** A stream the simulated network delivered to this node. */
  acceptStream(stream: SimStreamEnd): void {
    this.accept(new SimRaftStream(stream));
  }
}
