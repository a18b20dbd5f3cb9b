// The gossip transport on Bun sockets: one UDP socket and one TCP listener on
// the same port, as memberlist uses. Incoming datagrams and streams are
// bounded in size; errors become counters and sentences, never exceptions
// that could stop the agent.

import type { Socket, TCPSocketListener, udp } from "bun";
import { parseHostPort, formatHostPort } from "../lib/ip.ts";
import type { GossipTransport, StreamConnection, TransportHandlers } from "../gossip/transport.ts";

/** Largest datagram accepted; memberlist reads into a 65,536-byte buffer. */
const datagramBytesMax = 65_536;
/** Largest amount buffered for one stream before it is cut off (push/pull state may be large). */
const streamBytesMax = 32 * 1024 * 1024;
/** Most concurrent inbound streams; memberlist allows 128 push/pulls at once. */
const inboundStreamsMax = 256;

interface ConnectionState {
  connection: BunStreamConnection;
}

class BunStreamConnection implements StreamConnection {
  onData: (bytes: Uint8Array) => void = () => {};
  onClose: (reason: string) => void = () => {};
  private pending: Uint8Array[] = [];
  private ending = false;
  closed = false;
  received = 0;

  constructor(
    private readonly socket: Socket<ConnectionState>,
    readonly remote: string,
    private readonly onFinish: () => void = () => {},
  ) {}

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    this.pending.push(bytes);
    this.flush();
    return true;
  }

  end(): void {
    if (this.closed) return;
    this.ending = true;
    this.flush();
  }

  /** Write what the kernel will take; the rest waits for the drain callback. */
  flush(): void {
    while (this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const written = this.socket.write(chunk);
      if (written < 0) return this.finish("write failed");
      if (written < chunk.length) {
        this.pending[0] = chunk.subarray(written);
        return;
      }
      this.pending.shift();
    }
    if (this.ending) this.socket.end();
  }

  finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.onFinish();
    this.onClose(reason);
  }
}

export class BunGossipTransport implements GossipTransport {
  private handlers: TransportHandlers | undefined;
  private inbound = 0;
  readonly counters = { sendErrors: 0, receiveErrors: 0, oversizedStreams: 0, refusedStreams: 0 };

  private constructor(
    readonly localAddress: string,
    private readonly udpSocket: udp.Socket<"uint8array">,
    private readonly listener: TCPSocketListener<ConnectionState>,
  ) {}

  /** Bind UDP and TCP on host:port (port 0 picks a free port, the same for both). */
  static async bind(host: string, port: number): Promise<BunGossipTransport> {
    let transport: BunGossipTransport | undefined;
    const socketHandlers = BunGossipTransport.socketHandlers(() => transport);
    // Bind TCP first: with port 0 the kernel picks a port that we then ask UDP for.
    const listener = Bun.listen<ConnectionState>({
      hostname: host,
      port,
      socket: {
        ...socketHandlers,
        open(socket) {
          const self = transport;
          if (!self) return void socket.end();
          self.acceptInbound(socket);
        },
      },
    });
    let udpSocket: udp.Socket<"uint8array">;
    try {
      udpSocket = await Bun.udpSocket({
        hostname: host,
        port: listener.port,
        binaryType: "uint8array",
        socket: {
          data(_socket, data, remotePort, remoteAddress) {
            if (data.length > datagramBytesMax) return;
            transport?.handlers?.onPacket(formatHostPort(remoteAddress, remotePort), data);
          },
          // ICMP errors (a peer's port is closed: it died) surface here; for a
          // failure detector they are ordinary, so they are counted, not raised.
          error() {
            if (transport) transport.counters.receiveErrors++;
          },
        },
      });
    } catch (error) {
      listener.stop(true);
      throw new Error(`cannot bind UDP ${formatHostPort(host, listener.port)}: ${(error as Error).message}`);
    }
    transport = new BunGossipTransport(formatHostPort(host, listener.port), udpSocket, listener);
    return transport;
  }

  private static socketHandlers(transport: () => BunGossipTransport | undefined) {
    return {
      data(socket: Socket<ConnectionState>, data: Uint8Array) {
        const connection = socket.data?.connection;
        if (!connection || connection.closed) return;
        connection.received += data.length;
        if (connection.received > streamBytesMax) {
          const owner = transport();
          if (owner) owner.counters.oversizedStreams++;
          connection.finish(`stream larger than ${streamBytesMax} bytes`);
          socket.end();
          return;
        }
        connection.onData(data.slice());
      },
      drain(socket: Socket<ConnectionState>) {
        socket.data?.connection.flush();
      },
      close(socket: Socket<ConnectionState>) {
        socket.data?.connection.finish("closed by peer");
      },
      error(socket: Socket<ConnectionState>, error: Error) {
        socket.data?.connection.finish(error.message);
      },
      end(socket: Socket<ConnectionState>) {
        socket.data?.connection.finish("closed by peer");
      },
    };
  }

  private acceptInbound(socket: Socket<ConnectionState>): void {
    if (this.inbound >= inboundStreamsMax || !this.handlers) {
      this.counters.refusedStreams++;
      socket.end();
      return;
    }
    this.inbound++;
    const remote = formatHostPort(socket.remoteAddress, socket.remotePort ?? 0);
    const connection = new BunStreamConnection(socket, remote, () => this.inbound--);
    socket.data = { connection };
    this.handlers.onStream(connection);
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  sendPacket(to: string, bytes: Uint8Array): void {
    const target = parseHostPort(to, 0);
    if (typeof target === "string" || target.port === 0) {
      this.counters.sendErrors++;
      return;
    }
    try {
      if (!this.udpSocket.send(bytes, target.port, target.host)) this.counters.sendErrors++;
    } catch {
      this.counters.sendErrors++;
    }
  }

  openStream(to: string, timeoutMs: number, done: (result: StreamConnection | string, refused?: boolean) => void): void {
    const target = parseHostPort(to, 0);
    if (typeof target === "string" || target.port === 0) return done(`bad address ${to}`);
    let settled = false;
    const settle = (result: StreamConnection | string, refused = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(result, refused);
    };
    const timer = setTimeout(() => settle(`no connection to ${to} within ${timeoutMs} ms`), timeoutMs);
    const handlers = BunGossipTransport.socketHandlers(() => this);
    Bun.connect<ConnectionState>({
      hostname: target.host,
      port: target.port,
      socket: {
        ...handlers,
        open(socket) {
          const connection = new BunStreamConnection(socket, to);
          socket.data = { connection };
          if (settled) return void socket.end();
          settle(connection);
        },
        connectError(_socket, error) {
          settle(`cannot connect to ${to}: ${connectErrorText(error)}`, isRefused(error));
        },
      },
    }).catch((error: Error) => settle(`cannot connect to ${to}: ${connectErrorText(error)}`, isRefused(error)));
  }

  close(): void {
    this.listener.stop(true);
    this.udpSocket.close();
  }
}

function isRefused(error: Error): boolean {
  return (error as Error & { code?: string }).code === "ECONNREFUSED";
}

/** Bun says only "Failed to connect"; the code says why. */
function connectErrorText(error: Error): string {
  const code = (error as Error & { code?: string }).code;
  return code ? `${error.message} (${code})` : error.message;
}
