// The memberlist wire messages as typed values. The codec (codec.ts) turns
// these into exactly the bytes hashicorp/memberlist writes and back; the SWIM
// core (swim.ts) reasons only about these values. Numeric codes are the wire
// protocol and never change.

export const MessageCode = {
  ping: 0,
  indirectPing: 1,
  ack: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nack: 11,
  hasCrc: 12,
  err: 13,
  hasLabel: 244,
} as const;

/** Member states as memberlist numbers them (pushNodeState.State). */
export const NodeStateCode = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;
export type NodeState = keyof typeof NodeStateCode;

/** Protocol versions we speak: [PMin, PMax, PCur, DMin, DMax, DCur], like upstream's default. */
export const protocolVersionMin = 1;
export const protocolVersionMax = 5;
export const protocolVersionCurrent = 2;
export const defaultVsn: readonly number[] = [protocolVersionMin, protocolVersionMax, protocolVersionCurrent, 0, 0, 0];

/** Largest node metadata memberlist allows (MetaMaxSize). */
export const metaBytesMax = 512;

export interface Ping {
  type: "ping";
  seqNo: number;
  /** Name of the node the ping is meant for; empty means "whoever answers". */
  node: string;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

export interface IndirectPing {
  type: "indirect-ping";
  seqNo: number;
  target: Uint8Array;
  port: number;
  node: string;
  nack: boolean;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

export interface Ack {
  type: "ack";
  seqNo: number;
  payload: Uint8Array;
}

export interface Nack {
  type: "nack";
  seqNo: number;
}

export interface Suspect {
  type: "suspect";
  incarnation: number;
  node: string;
  from: string;
}

export interface Alive {
  type: "alive";
  incarnation: number;
  node: string;
  /** 4 bytes for IPv4, 16 for IPv6. */
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  /** 6 bytes: [PMin, PMax, PCur, DMin, DMax, DCur]. */
  vsn: Uint8Array;
}

export interface Dead {
  type: "dead";
  incarnation: number;
  node: string;
  /** Equal to `node` when the node left gracefully. */
  from: string;
}

/** Application (delegate) data; on packets the raw bytes follow the type byte. */
export interface User {
  type: "user";
  payload: Uint8Array;
}

/** Reply on a stream that could not be handled. */
export interface ErrResp {
  type: "err";
  error: string;
}

export interface PushNodeState {
  name: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  incarnation: number;
  state: NodeState;
  vsn: Uint8Array;
}

export interface PushPull {
  type: "push-pull";
  join: boolean;
  nodes: PushNodeState[];
  userState: Uint8Array;
}

/** Messages that travel in UDP packets (possibly inside compound/compress/crc wrappers). */
export type PacketMessage = Ping | IndirectPing | Ack | Nack | Suspect | Alive | Dead | User;

/** Messages that travel on TCP streams (possibly compressed and/or encrypted). */
export type StreamMessage = Ping | Ack | PushPull | User | ErrResp;

export type GossipMessage = PacketMessage | StreamMessage;
