// The contract every RaftTransport must honour, as a reusable suite, and the
// two worlds it runs in: real loopback sockets (RaftTcpTransport) and the
// simulator (SimRaftTransport, in virtual time). A world starts nodes,
// stops and restarts them on the same address, names an address where
// nothing listens, and waits for a condition with a bound (wall-clock
// polling in one, running virtual time in the other), so each test reads
// the same in both.

import { afterEach, describe, expect, test } from "bun:test";
import { nodeAead } from "../../src/adapters/aead.ts";
import { RaftTcpTransport, type RaftLinkLimits, type RaftLinkSecurity, type StreamRaftTransport } from "../../src/adapters/raft-tcp.ts";
import { createKeyring, type Keyring } from "../../src/gossip/security.ts";
import { Logger } from "../../src/lib/log.ts";
import type { RaftSender } from "../../src/raft/transport.ts";
import { SimNode, type NodeContext } from "../sim/cluster.ts";
import { Simulation } from "../sim/kernel.ts";
import { SimNetwork, type SimStreamEnd } from "../sim/network.ts";
import { SimRaftTransport } from "../sim/raft-transport-sim.ts";
import { freePort } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";

export interface LogRecord {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface NodeSpec {
  nodeId: string;
  /** The cluster keyring, primary first; absent for plain frames. */
  keys?: readonly Uint8Array[];
  limits?: Partial<RaftLinkLimits>;
}

export interface TransportNode {
  readonly spec: NodeSpec;
  readonly address: string;
  readonly transport: StreamRaftTransport;
  readonly received: { from: RaftSender; text: string }[];
  readonly unreachable: { to: string; reason: string }[];
  readonly logs: LogRecord[];
  /** Replace the keyring the transport reads (a run-time rotation). */
  setKeys(keys: readonly Uint8Array[]): void;
}

export interface TransportWorld {
  start(spec: NodeSpec): Promise<TransportNode>;
  /** Stop a node (close or crash it), keeping its address for a restart. */
  stop(node: TransportNode): Promise<void>;
  /** A fresh node on a stopped node's address. */
  restart(node: TransportNode, spec?: NodeSpec): Promise<TransportNode>;
  /** An address where nothing listens. */
  deadAddress(): Promise<string>;
  /** Wait until `condition` holds; throws naming `what` once `boundMs` (real or virtual) have passed. */
  until(what: string, condition: () => boolean, boundMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export function testKey(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

function keyringOf(keys: readonly Uint8Array[]): Keyring {
  const made = createKeyring(keys);
  if (!made.ok) throw new Error(made.error);
  return made.keyring;
}

/** Node state shared by both worlds: a logger into memory, handlers into lists, a swappable keyring. */
function nodeParts(spec: NodeSpec) {
  const logs: LogRecord[] = [];
  const log = new Logger((line) => logs.push(JSON.parse(line) as LogRecord), { wallMs: () => 0 }, "debug");
  let keyring = spec.keys ? keyringOf(spec.keys) : undefined;
  const security: RaftLinkSecurity | undefined = keyring ? { aead: nodeAead, keyring: () => keyring! } : undefined;
  return {
    logs,
    log,
    security,
    received: [] as { from: RaftSender; text: string }[],
    unreachable: [] as { to: string; reason: string }[],
    setKeys(keys: readonly Uint8Array[]) {
      if (!security) throw new Error("this node was started without a keyring");
      keyring = keyringOf(keys);
    },
  };
}

function wire(transport: StreamRaftTransport, parts: ReturnType<typeof nodeParts>, spec: NodeSpec): TransportNode {
  transport.setHandlers({
    onMessage: (from, bytes) => parts.received.push({ from, text: decoder.decode(bytes) }),
    onUnreachable: (to, reason) => parts.unreachable.push({ to, reason }),
  });
  const { received, unreachable, logs, setKeys } = parts;
  return { spec, address: transport.localAddress, transport, received, unreachable, logs, setKeys };
}

// ---------------------------------------------------------------- real sockets

export function tcpWorld(): TransportWorld {
  const running = new Set<TransportNode>();
  const listen = (spec: NodeSpec, port: number): TransportNode => {
    const parts = nodeParts(spec);
    const { security, log } = parts;
    const transport = RaftTcpTransport.listen({ nodeId: spec.nodeId, bindAddr: "127.0.0.1", port, security, log, limits: spec.limits });
    const node = wire(transport, parts, spec);
    running.add(node);
    return node;
  };
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));
  return {
    start: async (spec) => listen(spec, await freePort()),
    async stop(node) {
      node.transport.close();
      running.delete(node);
    },
    restart: async (node, spec) => listen(spec ?? node.spec, portOf(node.address)),
    deadAddress: async () => `127.0.0.1:${await freePort()}`,
    async until(what, condition, boundMs = 10_000) {
      await waitFor(what, () => condition() || undefined, boundMs, 5);
    },
    async dispose() {
      for (const node of running) node.transport.close();
      running.clear();
    },
  };
}

// ---------------------------------------------------------------- the simulator

export function simWorld(seed: number): TransportWorld {
  const sim = new Simulation(seed);
  const network = new SimNetwork(sim, { lossRate: 0, duplicateRate: 0, delayMinMs: 0.2, delayMaxMs: 3 });
  const simNodes = new Map<string, { node: SimNode; spec: NodeSpec; current: TransportNode | undefined }>();
  let nextHost = 1;
  const build = (address: string) => (context: NodeContext) => {
    const entry = simNodes.get(address)!;
    const parts = nodeParts(entry.spec);
    const transport = new SimRaftTransport(context, { nodeId: entry.spec.nodeId, security: parts.security, log: parts.log, limits: entry.spec.limits });
    entry.current = wire(transport, parts, entry.spec);
    return { onDatagram: () => {}, onStream: (stream: SimStreamEnd) => transport.acceptStream(stream) };
  };
  const entryOf = (node: TransportNode) => {
    const entry = simNodes.get(node.address);
    if (!entry) throw new Error(`no simulated node at ${node.address}`);
    return entry;
  };
  return {
    async start(spec) {
      const address = `10.0.0.${nextHost++}:8300`;
      const entry = { node: undefined as unknown as SimNode, spec, current: undefined as TransportNode | undefined };
      simNodes.set(address, entry);
      entry.node = new SimNode(sim, network, address, build(address), { driftPpm: sim.prng.intBetween(-200, 200) });
      entry.node.start();
      return entry.current!;
    },
    async stop(node) {
      entryOf(node).node.crash();
    },
    async restart(node, spec) {
      const entry = entryOf(node);
      if (spec) entry.spec = spec;
      entry.node.restart();
      return entry.current!;
    },
    deadAddress: async () => `10.0.0.${250 - simNodes.size}:8300`,
    async until(what, condition, boundMs = 10_000) {
      if (sim.runUntilCondition(condition, boundMs) === undefined) {
        throw new Error(`${what}: not within ${boundMs} ms of virtual time (SEED=${seed})`);
      }
    },
    async dispose() {
      for (const { node } of simNodes.values()) if (node.up) node.crash();
    },
  };
}

// ---------------------------------------------------------------- the contract

function texts(node: TransportNode, fromNodeId?: string): string[] {
  return node.received.filter((r) => fromNodeId === undefined || r.from.nodeId === fromNodeId).map((r) => r.text);
}

function warnings(node: TransportNode, msg: string): LogRecord[] {
  return node.logs.filter((record) => record.level === "warn" && record.msg === msg);
}

function sendTexts(from: TransportNode, to: TransportNode | string, prefix: string, count: number): string[] {
  const address = typeof to === "string" ? to : to.address;
  const sent = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  for (const text of sent) from.transport.send(address, encoder.encode(text));
  return sent;
}

export function describeRaftTransportContract(name: string, makeWorld: () => TransportWorld): void {
  describe(`RaftTransport contract: ${name}`, () => {
    let world: TransportWorld;
    afterEach(async () => {
      await world.dispose();
    });
    const fresh = () => (world = makeWorld());

    test("delivers messages in order per peer and names the authenticated sender", async () => {
      fresh();
      const [a, b, c] = [await world.start({ nodeId: "a" }), await world.start({ nodeId: "b" }), await world.start({ nodeId: "c" })];
      const fromA = sendTexts(a, b, "a", 300);
      const fromC = sendTexts(c, b, "c", 300);
      const toA = sendTexts(b, a, "b", 50);
      await world.until("all messages delivered", () => b.received.length === 600 && a.received.length === 50);
      expect(texts(b, "a")).toEqual(fromA);
      expect(texts(b, "c")).toEqual(fromC);
      expect(texts(a, "b")).toEqual(toA);
      expect(a.transport.counters().messagesSent).toBe(300);
      expect(b.transport.counters().messagesReceived).toBe(600);
      expect([a, b, c].flatMap((node) => node.unreachable)).toEqual([]);
    });

    test("keyed messages larger than the socket buffers arrive whole and in order", async () => {
      fresh();
      const keys = [testKey(3)];
      const a = await world.start({ nodeId: "a", keys });
      const b = await world.start({ nodeId: "b", keys });
      const big = (i: number) => `big${i}:${String.fromCharCode(97 + i).repeat(1024 * 1024)}`;
      for (let i = 0; i < 16; i++) a.transport.send(b.address, encoder.encode(big(i)));
      await world.until("sixteen megabytes delivered", () => b.received.length === 16, 60_000);
      expect(b.received.every((r, i) => r.text === big(i))).toBe(true);
      expect(a.transport.counters()).toMatchObject({ messagesSent: 16, messagesDroppedQueueFull: 0 });
    });

    test("a message over the limit is dropped in send and counted, and later ones still flow", async () => {
      fresh();
      const a = await world.start({ nodeId: "a", limits: { messageBytesMax: 4096, queuedBytesPerPeerMax: 8192 } });
      const b = await world.start({ nodeId: "b" });
      a.transport.send(b.address, new Uint8Array(4097));
      expect(a.transport.counters().messagesDroppedOversized).toBe(1);
      sendTexts(a, b, "after", 1);
      await world.until("the next message delivered", () => b.received.length === 1);
      expect(texts(b)).toEqual(["after0"]);
      expect(warnings(a, "raft message dropped")[0]?.reason).toContain("4097 bytes, over the limit of 4096");
    });

    test("a frame over the receiver's limit closes the connection with a logged reason, then the sender reconnects", async () => {
      fresh();
      const a = await world.start({ nodeId: "a", limits: { messageBytesMax: 64 * 1024 } });
      const b = await world.start({ nodeId: "b", limits: { messageBytesMax: 4096, queuedBytesPerPeerMax: 8192 } });
      sendTexts(a, b, "first", 1);
      a.transport.send(b.address, new Uint8Array(10_000));
      await world.until("the receiver closed the connection", () => warnings(b, "raft connection closed").length > 0 && a.unreachable.length > 0);
      expect(warnings(b, "raft connection closed")[0]).toMatchObject({ nodeId: "a", reason: expect.stringContaining("over the limit of") });
      expect(a.unreachable[0]?.to).toBe(b.address);
      sendTexts(a, b, "after", 1);
      await world.until("delivery after reconnecting", () => b.received.length === 2);
      expect(texts(b)).toEqual(["first0", "after0"]);
    });

    test("reconnects after the peer restarts", async () => {
      fresh();
      const a = await world.start({ nodeId: "a" });
      const b = await world.start({ nodeId: "b" });
      sendTexts(a, b, "before", 3);
      await world.until("delivery before the restart", () => b.received.length === 3);
      await world.stop(b);
      await world.until("the lost connection reported", () => a.unreachable.some((u) => u.to === b.address));
      const b2 = await world.restart(b);
      expect(b2.address).toBe(b.address);
      sendTexts(a, b2, "after", 3);
      await world.until("delivery to the restarted peer", () => b2.received.length === 3);
      expect(texts(b2, "a")).toEqual(["after0", "after1", "after2"]);
      expect(a.transport.counters().connectionsLost).toBe(1);
    });

    test("redialNow skips the back-off once the peer is known to be back", async () => {
      fresh();
      // A back-off far longer than the wait below: only redialNow can reach the restarted peer in time.
      const a = await world.start({ nodeId: "a", limits: { redialDelayMinMs: 120_000, redialDelayMaxMs: 120_000 } });
      const b = await world.start({ nodeId: "b" });
      sendTexts(a, b, "before", 1);
      await world.until("delivery before the restart", () => b.received.length === 1);
      await world.stop(b);
      await world.until("the lost connection reported", () => a.unreachable.some((u) => u.to === b.address));
      const b2 = await world.restart(b);
      sendTexts(a, b2, "after", 2);
      a.transport.redialNow(b2.address);
      await world.until("delivery to the restarted peer without waiting out the back-off", () => b2.received.length === 2);
      expect(texts(b2, "a")).toEqual(["after0", "after1"]);
    });

    test("reports an unreachable peer later, never inside send, and drops what was queued for it", async () => {
      fresh();
      const a = await world.start({ nodeId: "a" });
      const dead = await world.deadAddress();
      sendTexts(a, dead, "lost", 3);
      expect(a.unreachable).toEqual([]);
      await world.until("the unreachable peer reported", () => a.unreachable.length > 0);
      expect(a.unreachable[0]).toMatchObject({ to: dead, reason: expect.stringMatching(/\S/) });
      expect(a.transport.counters()).toMatchObject({ messagesDroppedUnreachable: 3, dialFailures: 1, messagesSent: 0 });
      expect(a.logs.find((record) => record.msg === "raft peer unreachable")).toMatchObject({ peer: dead });
    });

    test("a full per-peer queue drops the oldest messages, counts them and reports it", async () => {
      fresh();
      const a = await world.start({ nodeId: "a", limits: { queuedMessagesPerPeerMax: 4 } });
      const b = await world.start({ nodeId: "b" });
      // Sent in one go, before any connection exists: all of them queue.
      sendTexts(a, b, "m", 10);
      expect(a.transport.counters().messagesDroppedQueueFull).toBe(6);
      await world.until("the newest messages delivered", () => b.received.length === 4 && a.unreachable.length === 1);
      expect(texts(b)).toEqual(["m6", "m7", "m8", "m9"]);
      expect(a.unreachable[0]?.reason).toContain("queue full");
    });

    test("keyed peers exchange messages, and any installed key opens a frame", async () => {
      fresh();
      const a = await world.start({ nodeId: "a", keys: [testKey(1), testKey(2)] });
      const b = await world.start({ nodeId: "b", keys: [testKey(2), testKey(1)] });
      sendTexts(a, b, "ab", 20);
      sendTexts(b, a, "ba", 20);
      await world.until("delivery both ways", () => a.received.length === 20 && b.received.length === 20);
      expect(texts(b, "a")).toEqual(Array.from({ length: 20 }, (_, i) => `ab${i}`));
      expect(texts(a, "b")).toEqual(Array.from({ length: 20 }, (_, i) => `ba${i}`));
      expect([a, b].flatMap((node) => node.logs.filter((record) => record.level === "warn"))).toEqual([]);
    });

    test("a peer with a different key is refused, with the address and reason logged on both sides", async () => {
      fresh();
      const a = await world.start({ nodeId: "a", keys: [testKey(1)] });
      const b = await world.start({ nodeId: "b", keys: [testKey(2)] });
      sendTexts(a, b, "secret", 1);
      const bothLogged = () => warnings(a, "raft connection refused").length > 0 && warnings(b, "raft connection refused").length > 0;
      await world.until("both sides log the refusal", bothLogged);
      const [dialerSide, listenerSide] = [warnings(a, "raft connection refused")[0]!, warnings(b, "raft connection refused")[0]!];
      expect(dialerSide).toMatchObject({ peer: b.address, refusedBy: "this node", reason: expect.stringContaining("does not authenticate") });
      expect(listenerSide).toMatchObject({ refusedBy: "peer", reason: expect.stringContaining("does not authenticate") });
      expect(String(listenerSide.peer)).toStartWith(a.address.slice(0, a.address.lastIndexOf(":")));
      await world.until("the refusal reported as unreachable", () => a.unreachable.length > 0);
      expect(b.received).toEqual([]);
      expect(a.transport.counters().handshakesRefused).toBeGreaterThanOrEqual(1);
    });

    test("a keyed node refuses a plain one and a plain node a keyed one, both sides saying why", async () => {
      fresh();
      const plain = await world.start({ nodeId: "plain" });
      const keyed = await world.start({ nodeId: "keyed", keys: [testKey(1)] });
      sendTexts(plain, keyed, "p", 1);
      sendTexts(keyed, plain, "k", 1);
      const refusals = (node: TransportNode, by: string) => warnings(node, "raft connection refused").filter((record) => record.refusedBy === by);
      const allLogged = () => [plain, keyed].every((node) => refusals(node, "this node").length > 0 && refusals(node, "peer").length > 0);
      await world.until("four refusal lines", allLogged);
      expect(refusals(keyed, "this node")[0]?.reason).toContain("has no cluster key but the accepting node requires one");
      expect(refusals(plain, "peer")[0]).toMatchObject({ peer: keyed.address, reason: expect.stringContaining("has no cluster key") });
      expect(refusals(plain, "this node")[0]?.reason).toContain("uses a cluster key but the accepting node has none");
      expect(refusals(keyed, "peer")[0]).toMatchObject({ peer: plain.address, reason: expect.stringContaining("accepting node has none") });
      expect([...plain.received, ...keyed.received]).toEqual([]);
    });

    test("keys installed at run time let a refused peer in", async () => {
      fresh();
      const a = await world.start({ nodeId: "a", keys: [testKey(1)] });
      const b = await world.start({ nodeId: "b", keys: [testKey(2)] });
      sendTexts(a, b, "early", 1);
      await world.until("the first refusal", () => a.unreachable.length > 0);
      // A rotation installs the new key everywhere before any node makes it primary.
      a.setKeys([testKey(1), testKey(2)]);
      b.setKeys([testKey(2), testKey(1)]);
      sendTexts(a, b, "late", 1);
      await world.until("delivery after the key was installed", () => b.received.length === 1);
      expect(texts(b, "a")).toEqual(["late0"]);
    });

    test("forget drops a peer's queue at once; close ignores later sends", async () => {
      fresh();
      const a = await world.start({ nodeId: "a" });
      const b = await world.start({ nodeId: "b" });
      const dead = await world.deadAddress();
      sendTexts(a, dead, "x", 5);
      a.transport.forget(dead);
      expect(a.transport.counters().messagesDroppedUnreachable).toBe(5);
      sendTexts(a, b, "y", 1);
      await world.until("delivery", () => b.received.length === 1);
      a.transport.close();
      sendTexts(a, b, "z", 1);
      expect(a.transport.counters().messagesSent).toBe(1);
      await world.until("the closed node's connection gone from the peer", () => b.logs.some((record) => record.msg === "raft connection closed by peer"));
      expect(a.unreachable).toEqual([]);
    });
  });
}
