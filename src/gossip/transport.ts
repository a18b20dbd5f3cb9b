// What the gossip shell needs from a network: datagrams and short-lived
// streams between "ip:port" addresses, with callbacks rather than promises so
// that the same shell runs on Bun sockets and in the deterministic simulator.
// Implementations never throw for network failures: a failed send is
// counted, a failed connect is reported to its callback as a sentence.

export interface StreamConnection {
  /** "ip:port" of the other side. */
  readonly remote: string;
  /** Queue bytes for sending; false once the connection is closed. */
  write(bytes: Uint8Array): boolean;
  /** Close after everything written has been sent. */
  end(): void;
  /** Set by the user of the connection. */
  onData: (bytes: Uint8Array) => void;
  onClose: (reason: string) => void;
}

export interface TransportHandlers {
  onPacket(from: string, bytes: Uint8Array): void;
  onStream(connection: StreamConnection): void;
}

export interface GossipTransport {
  /** "ip:port" this transport is bound to. */
  readonly localAddress: string;
  setHandlers(handlers: TransportHandlers): void;
  sendPacket(to: string, bytes: Uint8Array): void;
  /**
   * Connect to `to`; `done` gets the connection or why it could not be made
   * within `timeoutMs`, with `refused` true when the peer's host answered
   * that nothing listens on that port (TCP reset, ECONNREFUSED).
   */
  openStream(to: string, timeoutMs: number, done: (result: StreamConnection | string, refused?: boolean) => void): void;
  close(): void;
}
