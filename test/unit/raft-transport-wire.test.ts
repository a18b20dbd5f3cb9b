// The Raft transport's wire format and its defences, byte by byte: the frame
// reader and the record layer as pure code, then a real listener on loopback
// attacked with raw sockets (garbage, oversized and empty lengths, a silent
// client, a wrong key, a handshake captured by a relay and replayed, a frame
// replayed or altered inside a connection, too many connections), and a real
// dialler facing a listener that speaks garbage or nothing. After each
// attack the node must still serve a genuine peer.

import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { nodeAead } from "../../src/adapters/aead.ts";
import {
  FrameReader,
  RecordLayer,
  concatBytes,
  encodeNodeId,
  frameKind,
  handshakeFrameBytesMax,
  helloBody,
  plainFrame,
  type RaftLinkSecurity,
} from "../../src/adapters/raft-tcp.ts";
import { createKeyring } from "../../src/gossip/security.ts";
import { freePort } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";
import { tcpWorld, testKey, type LogRecord, type NodeSpec, type TransportNode, type TransportWorld } from "./raft-transport-contract.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function security(...keys: Uint8Array[]): RaftLinkSecurity {
  const made = createKeyring(keys);
  if (!made.ok) throw new Error(made.error);
  return { aead: nodeAead, keyring: () => made.keyring };
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function drain(reader: FrameReader): (Uint8Array | string)[] {
  const out: (Uint8Array | string)[] = [];
  for (;;) {
    const next = reader.next();
    if (next === undefined) return out;
    out.push(next);
    if (typeof next === "string") return out;
  }
}

let counter = 0;
const fakeRandom = (length: number) => new Uint8Array(length).fill(++counter & 0xff);

describe("frame reader", () => {
  const frames = [
    plainFrame(frameKind.refuse, encoder.encode("one")),
    plainFrame(frameKind.refuse, new Uint8Array(300)),
    plainFrame(frameKind.hello, encoder.encode("x")),
  ];
  const stream = concatBytes(...frames);

  test.each([1, 2, 3, 5, 7, 64, stream.length])("reassembles frames fed in chunks of %i bytes", (chunkBytes) => {
    const reader = new FrameReader(1024);
    const payloads: (Uint8Array | string)[] = [];
    for (let offset = 0; offset < stream.length; offset += chunkBytes) {
      reader.push(stream.slice(offset, offset + chunkBytes));
      payloads.push(...drain(reader));
    }
    expect(payloads.map((p) => (typeof p === "string" ? p : p.length))).toEqual([4, 301, 2]);
  });

  test.each([
    ["an empty frame", u32(0), "an empty frame"],
    ["a length over the limit, refused before its body arrives", u32(1025), "a frame of 1025 bytes, over the limit of 1024 bytes"],
    ["the largest length", u32(0xffffffff), "a frame of 4294967295 bytes, over the limit of 1024 bytes"],
  ])("rejects %s", (_name, bytes, expected) => {
    const reader = new FrameReader(1024);
    reader.push(bytes);
    expect(reader.next()).toBe(expected);
  });

  test("a raised limit applies to the next frame", () => {
    const reader = new FrameReader(8);
    reader.push(concatBytes(u32(2), Uint8Array.of(1, 2), u32(20), new Uint8Array(20)));
    expect(reader.next()).toEqual(Uint8Array.of(1, 2));
    reader.limitBytes = 64;
    expect((reader.next() as Uint8Array).length).toBe(20);
  });
});

describe("record layer", () => {
  const transcript = new Uint8Array(38).fill(7);

  function pair(sec: RaftLinkSecurity | undefined, receiverSec = sec, receiverTranscript = transcript) {
    return [new RecordLayer(sec, transcript, fakeRandom), new RecordLayer(receiverSec, receiverTranscript, fakeRandom)] as const;
  }

  function openFrame(receiver: RecordLayer, frame: Uint8Array) {
    const payload = frame.subarray(4);
    return receiver.open(payload[0] as 4, payload.length, payload.subarray(1));
  }

  test.each([
    ["keyed", security(testKey(1))],
    ["plain", undefined],
  ])("%s records open in order and carry their content", (_name, sec) => {
    const [sender, receiver] = pair(sec);
    const frames = ["a", "bb", ""].map((text) => sender.frame(frameKind.message, new Uint8Array(0), encoder.encode(text)));
    expect(frames.map((frame) => openFrame(receiver, frame)).map((r) => (r.ok ? decoder.decode(r.content) : r.error))).toEqual(["a", "bb", ""]);
  });

  test("a replayed record is refused by its sequence number, even keyed", () => {
    const [sender, receiver] = pair(security(testKey(1)));
    const first = sender.frame(frameKind.message, new Uint8Array(0), encoder.encode("a"));
    expect(openFrame(receiver, first).ok).toBe(true);
    expect(openFrame(receiver, first)).toEqual({ ok: false, error: expect.stringContaining("is record 0 where 1 was expected") });
  });

  test("every altered byte of a sealed frame, header included, fails authentication", () => {
    const sec = security(testKey(1));
    const frame = new RecordLayer(sec, transcript, fakeRandom).frame(frameKind.message, new Uint8Array(0), encoder.encode("payload"));
    const failures = new Set<string>();
    for (let i = 4; i < frame.length; i++) {
      const altered = frame.slice();
      altered[i]! ^= 0x01;
      const result = openFrame(new RecordLayer(sec, transcript, fakeRandom), altered);
      failures.add(result.ok ? `byte ${i} accepted` : result.error.split(" (")[0]!);
    }
    expect([...failures].sort()).toEqual(["does not authenticate with any installed key", `is not sealed with encryption version 1`]);
  });

  test("a sealed frame does not open under another transcript or another key, and opens under any installed key", () => {
    const sealedWith1 = security(testKey(1));
    const [, otherTranscript] = pair(sealedWith1, sealedWith1, new Uint8Array(38).fill(8));
    const frame = new RecordLayer(sealedWith1, transcript, fakeRandom).frame(frameKind.message, new Uint8Array(0), encoder.encode("x"));
    expect(openFrame(otherTranscript, frame).ok).toBe(false);
    expect(openFrame(new RecordLayer(security(testKey(2)), transcript, fakeRandom), frame).ok).toBe(false);
    expect(openFrame(new RecordLayer(security(testKey(2), testKey(1)), transcript, fakeRandom), frame).ok).toBe(true);
  });
});

// ---------------------------------------------------------------- raw sockets

/** A hand-driven TCP client: writes what it is told, keeps what it receives. */
class RawClient {
  readonly chunks: Uint8Array[] = [];
  closed = false;
  /** "ip:port" as the listener sees this client (Bun forgets the local port once closed). */
  address = "";
  private socket: Socket<undefined> | undefined;

  static async connect(address: string): Promise<RawClient> {
    const client = new RawClient();
    const port = Number(address.slice(address.lastIndexOf(":") + 1));
    client.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        binaryType: "uint8array",
        data: (_socket, data) => void client.chunks.push(data.slice()),
        close: () => void (client.closed = true),
        end: () => void (client.closed = true),
        error: () => void (client.closed = true),
      },
    });
    client.address = `127.0.0.1:${client.socket.localPort}`;
    return client;
  }

  write(bytes: Uint8Array): void {
    expect(this.socket!.write(bytes)).toBe(bytes.length);
  }

  payloads(): Uint8Array[] {
    const reader = new FrameReader(1 << 20);
    reader.push(concatBytes(...this.chunks));
    return drain(reader).filter((p): p is Uint8Array => typeof p !== "string");
  }

  refusal(): string | undefined {
    const refuse = this.payloads().find((p) => p[0] === frameKind.refuse);
    return refuse ? decoder.decode(refuse.subarray(1)) : undefined;
  }

  close(): void {
    this.socket?.end();
  }
}

/** Performs the dialler's side of the handshake by hand; returns the records to keep sending with. */
async function handshake(client: RawClient, sec: RaftLinkSecurity | undefined, nodeId: string): Promise<RecordLayer> {
  const hello = helloBody(sec !== undefined, crypto.getRandomValues(new Uint8Array(16)));
  client.write(plainFrame(frameKind.hello, hello));
  const challenge = await waitFor("the challenge", () => client.payloads()[0]);
  expect(challenge[0]).toBe(frameKind.challenge);
  const records = new RecordLayer(sec, concatBytes(hello, challenge.subarray(1, 17)), (length) => crypto.getRandomValues(new Uint8Array(length)));
  // Opening the challenge advances the receive sequence; with a wrong key it fails, which is the point.
  records.open(frameKind.challenge, challenge.length, challenge.subarray(17));
  client.write(records.frame(frameKind.identify, new Uint8Array(0), encodeNodeId(nodeId)));
  return records;
}

describe("a listener under attack", () => {
  let world: TransportWorld;
  const clients: RawClient[] = [];
  const servers: TCPSocketListener<unknown>[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) server.stop(true);
    await world.dispose();
  });

  async function setup(spec: Partial<NodeSpec> = {}): Promise<{ a: TransportNode; b: TransportNode }> {
    world = tcpWorld();
    const a = await world.start({ nodeId: "a", keys: spec.keys });
    const b = await world.start({ nodeId: "b", ...spec });
    return { a, b };
  }

  async function raw(node: TransportNode): Promise<RawClient> {
    const client = await RawClient.connect(node.address);
    clients.push(client);
    return client;
  }

  function refusalsOf(node: TransportNode): LogRecord[] {
    return node.logs.filter((record) => record.level === "warn" && (record.msg === "raft connection refused" || record.msg === "raft connection closed"));
  }

  /** One refusal line naming the client's address, the client told why and disconnected. */
  async function expectRefused(node: TransportNode, client: RawClient, reason: string): Promise<void> {
    await world.until("the refusal", () => client.closed && refusalsOf(node).some((record) => record.peer === client.address));
    const lines = refusalsOf(node).filter((record) => record.peer === client.address);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.reason).toContain(reason);
    expect(client.refusal()).toContain(reason);
  }

  async function expectStillServing(a: TransportNode, b: TransportNode): Promise<void> {
    const before = b.received.length;
    a.transport.send(b.address, encoder.encode("still here"));
    await world.until("a genuine peer served", () => b.received.length === before + 1);
    expect(b.received.at(-1)).toMatchObject({ from: { nodeId: "a" }, text: "still here" });
  }

  test.each([
    ["an HTTP request", encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "a frame of 1195725856 bytes, over the limit of 1024 bytes"],
    ["the largest length", u32(0xffffffff), "a frame of 4294967295 bytes, over the limit of 1024 bytes"],
    ["a length just over the handshake limit", u32(handshakeFrameBytesMax + 1), `a frame of ${handshakeFrameBytesMax + 1} bytes`],
    ["an empty frame", u32(0), "an empty frame"],
    ["a hello with a bad magic", plainFrame(frameKind.hello, new Uint8Array(22).fill(0x41)), "not a Constellation raft handshake"],
    ["a message before any handshake", plainFrame(frameKind.message, encoder.encode("hi")), "a frame of kind 4 where a hello was expected"],
  ])("refuses %s with one log line naming the address and the reason", async (_name, bytes, reason) => {
    const { a, b } = await setup();
    const client = await raw(b);
    client.write(bytes);
    await expectRefused(b, client, reason);
    await expectStillServing(a, b);
  });

  test("closes a connection that never finishes its handshake", async () => {
    const { a, b } = await setup({ limits: { handshakeTimeoutMs: 200 } });
    const client = await raw(b);
    await expectRefused(b, client, "did not finish its handshake within 200 ms");
    await expectStillServing(a, b);
  });

  test("after the handshake, a frame over the message limit closes the connection", async () => {
    const { a, b } = await setup({ limits: { messageBytesMax: 4096 } });
    const client = await raw(b);
    await handshake(client, undefined, "intruder");
    client.write(u32(1_000_000));
    await expectRefused(b, client, "a frame of 1000000 bytes, over the limit of 4134 bytes");
    expect(refusalsOf(b)[0]).toMatchObject({ msg: "raft connection closed", nodeId: "intruder" });
    await expectStillServing(a, b);
  });

  test("refuses a handshake sealed with a wrong key", async () => {
    const { a, b } = await setup({ keys: [testKey(1)] });
    const client = await raw(b);
    await handshake(client, security(testKey(9)), "intruder");
    await expectRefused(b, client, "the connecting node's handshake does not authenticate with any installed key");
    expect(b.received).toEqual([]);
    await expectStillServing(a, b);
  });

  test("refuses a plain handshake to a keyed node", async () => {
    const { b } = await setup({ keys: [testKey(1)] });
    const client = await raw(b);
    client.write(plainFrame(frameKind.hello, helloBody(false, new Uint8Array(16))));
    await expectRefused(b, client, "has no cluster key but the accepting node requires one");
  });

  test("refuses a genuine peer's handshake replayed from a capture", async () => {
    const { a, b } = await setup({ keys: [testKey(1)] });
    // A relay between a and b that records everything a sends.
    const captured: Uint8Array[] = [];
    const relay = Bun.listen<{ upstream: Promise<Socket<undefined>> }>({
      hostname: "127.0.0.1",
      port: await freePort(),
      socket: {
        binaryType: "uint8array",
        open(downstream) {
          downstream.data = {
            upstream: Bun.connect({
              hostname: "127.0.0.1",
              port: Number(b.address.split(":")[1]),
              socket: { binaryType: "uint8array", data: (_s, data) => void downstream.write(data), close: () => void downstream.end() },
            }),
          };
        },
        data(downstream, data) {
          const copy = data.slice();
          captured.push(copy);
          void downstream.data.upstream.then((upstream) => upstream.write(copy));
        },
        close(downstream) {
          void downstream.data.upstream.then((upstream) => upstream.end());
        },
      },
    });
    servers.push(relay as TCPSocketListener<unknown>);
    for (const text of ["m0", "m1", "m2"]) a.transport.send(`127.0.0.1:${relay.port}`, encoder.encode(text));
    await world.until("delivery through the relay", () => b.received.length === 3);
    const replay = await raw(b);
    replay.write(concatBytes(...captured));
    await expectRefused(b, replay, "the connecting node's handshake does not authenticate");
    expect(b.received.map((r) => r.text)).toEqual(["m0", "m1", "m2"]);
  });

  test("refuses a frame replayed, or altered, inside an authenticated connection", async () => {
    const { a, b } = await setup({ keys: [testKey(1)] });
    const sec = security(testKey(1));
    const client = await raw(b);
    const records = await handshake(client, sec, "a-impostor");
    const first = records.frame(frameKind.message, new Uint8Array(0), encoder.encode("once"));
    client.write(first);
    client.write(first);
    await expectRefused(b, client, "is record 1 where 2 was expected (a replayed, reordered or dropped frame)");
    expect(b.received.map((r) => r.text)).toEqual(["once"]);

    const second = await raw(b);
    const secondRecords = await handshake(second, sec, "a-impostor");
    const altered = secondRecords.frame(frameKind.message, new Uint8Array(0), encoder.encode("tampered"));
    altered[altered.length - 20]! ^= 0xff;
    second.write(altered);
    await expectRefused(b, second, "a message frame does not authenticate");
    await expectStillServing(a, b);
  });

  test("refuses inbound connections beyond the limit", async () => {
    const { a, b } = await setup({ limits: { inboundConnectionsMax: 2 } });
    const first = await raw(b);
    const second = await raw(b);
    await handshake(first, undefined, "x");
    await handshake(second, undefined, "y");
    const third = await raw(b);
    await world.until("the third client turned away", () => third.closed);
    expect(third.refusal()).toContain("already has 2 inbound connections");
    expect(b.transport.counters().inboundRejected).toBe(1);
    first.close();
    await world.until("a slot freed", () => b.logs.some((record) => record.msg === "raft connection closed by peer"));
    await expectStillServing(a, b);
  });

  test("a dialler facing a listener that speaks garbage refuses it, logs why and reports it unreachable", async () => {
    const { a } = await setup();
    const garbage = Bun.listen({
      hostname: "127.0.0.1",
      port: await freePort(),
      socket: { data: (socket) => void socket.write("HTTP/1.1 400 Bad Request\r\n\r\n") },
    });
    servers.push(garbage as TCPSocketListener<unknown>);
    const address = `127.0.0.1:${garbage.port}`;
    a.transport.send(address, encoder.encode("hello?"));
    await world.until("the refusal reported", () => a.unreachable.length > 0);
    const reason = expect.stringContaining("the accepting node sent a frame of 1213486160 bytes");
    expect(refusalsOf(a)[0]).toMatchObject({ peer: address, refusedBy: "this node", reason });
    expect(a.unreachable[0]?.to).toBe(address);
  });

  test("a dialler facing a silent listener gives up after the handshake timeout", async () => {
    world = tcpWorld();
    const a = await world.start({ nodeId: "a", limits: { handshakeTimeoutMs: 200 } });
    const silent = Bun.listen({ hostname: "127.0.0.1", port: await freePort(), socket: { data: () => {} } });
    servers.push(silent as TCPSocketListener<unknown>);
    const address = `127.0.0.1:${silent.port}`;
    a.transport.send(address, encoder.encode("hello?"));
    await world.until("the timeout reported", () => a.unreachable.length > 0);
    expect(a.unreachable[0]).toEqual({ to: address, reason: "no handshake within 200 ms" });
    expect(a.logs.find((record) => record.msg === "raft peer unreachable")).toMatchObject({ peer: address, reason: "no handshake within 200 ms" });
  });
});
