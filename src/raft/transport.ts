// What the Raft shell needs from a network, as types only: send encoded
// messages to a peer's raft address and hear messages from peers, through
// callbacks rather than promises so that the same shell runs over TCP
// (src/adapters/raft-tcp.ts) and over the simulator's streams
// (test/sim/raft-transport-sim.ts). Raft tolerates lost messages and
// retransmits, so the transport promises order per peer but not delivery:
// it drops (and counts) rather than blocks, and tells the shell when a peer
// could not be reached so that the leader stops streaming to it
// (RawNode.reportUnreachable) until it answers again.

/** Who sent a message, as established by the connection's handshake. */
export interface RaftSender {
  /**
   * The node id the peer named in its handshake. With a cluster key this is
   * proven to come from a holder of the key (not from that particular
   * node: every key holder can name any id); without one it is a claim.
   */
  readonly nodeId: string;
  /** "ip:port" the connection came from: an ephemeral port, not the peer's raft address. */
  readonly address: string;
}

export interface RaftTransportHandlers {
  /**
   * One message from an authenticated connection. Messages from one sender
   * arrive in the order it sent them, possibly with gaps where a connection
   * broke. The bytes are the sender's, unvalidated: decode them with
   * decodeMessage and check that the message's `from` is `from.nodeId`.
   */
  onMessage(from: RaftSender, bytes: Uint8Array): void;
  /**
   * Messages for `to` ("ip:port") were dropped: a connection could not be
   * made or authenticated, broke, or its queue overflowed. Never called from
   * inside send(). The shell maps the address to a node id and calls
   * RawNode.reportUnreachable.
   */
  onUnreachable(to: string, reason: string): void;
}

/** Running totals, for metrics and tests. */
export interface RaftTransportCounters {
  /** Messages written to an open connection. */
  readonly messagesSent: number;
  /** Messages handed to onMessage. */
  readonly messagesReceived: number;
  /** Oldest queued messages dropped to make room in a full per-peer queue. */
  readonly messagesDroppedQueueFull: number;
  /** Queued messages dropped because their peer could not be reached or was forgotten. */
  readonly messagesDroppedUnreachable: number;
  /** Messages larger than the frame limit, dropped in send(). */
  readonly messagesDroppedOversized: number;
  /** Outbound connections that failed before they were open (refused, timed out, not authenticated). */
  readonly dialFailures: number;
  /** Open outbound connections that broke. */
  readonly connectionsLost: number;
  /** Handshakes refused, by this node or by the peer, in either direction. */
  readonly handshakesRefused: number;
  /** Inbound connections closed at once because too many were open. */
  readonly inboundRejected: number;
}

export interface RaftTransport {
  /** "ip:port" this transport listens on. */
  readonly localAddress: string;
  /** The node id this transport names in its handshakes. */
  readonly nodeId: string;
  setHandlers(handlers: RaftTransportHandlers): void;
  /**
   * Queue `bytes` (one encoded message) for the peer listening on `to`
   * ("ip:port"), connecting first if needed. Never throws and never calls a
   * handler synchronously: a failure is counted and, where messages were
   * lost, reported later through onUnreachable. The transport keeps `bytes`
   * (no copy) until they are written: the caller must not change them.
   */
  send(to: string, bytes: Uint8Array): void;
  /** Close the connection to `to` and drop what is queued for it (the peer left the cluster). */
  forget(to: string): void;
  counters(): RaftTransportCounters;
  /** Stop listening, close every connection, cancel every timer; later sends are ignored. */
  close(): void;
}
