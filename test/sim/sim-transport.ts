// The gossip transport over the simulated network, for running the real
// gossip shell in virtual time.

import type { GossipTransport, StreamConnection, TransportHandlers } from "../../src/gossip/transport.ts";
import type { NodeContext } from "./cluster.ts";
import { connectionRefused, type SimStreamEnd } from "./network.ts";

class SimConnection implements StreamConnection {
  onData: (bytes: Uint8Array) => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(private readonly end_: SimStreamEnd) {
    end_.onData = (bytes) => this.onData(bytes);
    end_.onClose = (reason) => this.onClose(reason);
  }

  get remote(): string {
    return this.end_.remote;
  }

  write(bytes: Uint8Array): boolean {
    return this.end_.send(bytes);
  }

  end(): void {
    this.end_.close();
  }
}

export class SimGossipTransport implements GossipTransport {
  private handlers: TransportHandlers | undefined;

  constructor(private readonly context: NodeContext) {}

  get localAddress(): string {
    return this.context.address;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  /** Called by the simulated node's process. */
  deliverPacket(from: string, bytes: Uint8Array): void {
    this.handlers?.onPacket(from, bytes);
  }

  deliverStream(stream: SimStreamEnd): void {
    if (!this.handlers) return stream.close("no listener");
    this.handlers.onStream(new SimConnection(stream));
  }

  sendPacket(to: string, bytes: Uint8Array): void {
    this.context.sendDatagram(to, bytes);
  }

  openStream(to: string, timeoutMs: number, done: (result: StreamConnection | string, refused?: boolean) => void): void {
    let settled = false;
    const timer = this.context.setTimer(timeoutMs, "connect-timeout", () => {
      if (settled) return;
      settled = true;
      done(`no connection to ${to} within ${timeoutMs} ms`);
    });
    this.context.openStream(to, (result) => {
      if (settled) {
        if (typeof result !== "string") result.close("connect timed out");
        return;
      }
      settled = true;
      this.context.cancelTimer(timer);
      if (typeof result === "string") return done(`cannot connect to ${to}: ${result}`, result === connectionRefused);
      done(new SimConnection(result));
    });
  }

  close(): void {
    this.handlers = undefined;
  }
}
