// The Raft transport contract, run against TCP on loopback and against the
// simulator; then Raft itself on the simulated transport, keyed, through a
// leader crash and restart, to show the shell-facing wiring works end to end.
// SEED=<n> replays the simulated runs with that seed.

import { describe, expect, test } from "bun:test";
import { nodeAead } from "../../src/adapters/aead.ts";
import { createKeyring } from "../../src/gossip/security.ts";
import { Logger } from "../../src/lib/log.ts";
import { MemoryStorage, RawNode, bootstrapStorage, decodeMessage, encodeMessage, persistReady } from "../../src/raft/index.ts";
import { SimNode, type NodeContext, type SimProcess } from "../sim/cluster.ts";
import { Simulation } from "../sim/kernel.ts";
import { SimNetwork, type SimStreamEnd } from "../sim/network.ts";
import { SimRaftTransport } from "../sim/raft-transport-sim.ts";
import { forEachSeed, seedsToRun } from "../sim/seeds.ts";
import { describeRaftTransportContract, simWorld, tcpWorld, testKey } from "./raft-transport-contract.ts";

describeRaftTransportContract("TCP on loopback", tcpWorld);
for (const seed of seedsToRun(1)) describeRaftTransportContract(`simulator, seed ${seed}`, () => simWorld(seed));

/** A minimal Raft shell on the transport: tick, step what arrives, drain each Ready in order. */
class TransportShell implements SimProcess {
  readonly node: RawNode;
  readonly transport: SimRaftTransport;
  readonly applied: string[] = [];
  mismatchedSenders = 0;

  constructor(context: NodeContext, storage: MemoryStorage, readonly appliedBefore: string[]) {
    const keyring = createKeyring([testKey(5)]);
    if (!keyring.ok) throw new Error(keyring.error);
    this.applied.push(...appliedBefore);
    const appliedIndex = storage.hardState().commit;
    this.node = new RawNode({ id: context.address, storage, prng: context.prng.fork(), electionTicks: 10, heartbeatTicks: 1, appliedIndex });
    this.transport = new SimRaftTransport(context, {
      nodeId: context.address,
      security: { aead: nodeAead, keyring: () => keyring.keyring },
      log: new Logger(() => {}, { wallMs: () => 0 }),
    });
    this.transport.setHandlers({
      onMessage: (from, bytes) => {
        const decoded = decodeMessage(bytes);
        if (!decoded.ok) return;
        // The handshake named the sender: a message claiming another is dropped.
        if (decoded.message.from !== from.nodeId) return void this.mismatchedSenders++;
        this.node.step(decoded.message);
        this.drain(storage);
      },
      onUnreachable: (to) => {
        this.node.reportUnreachable(to);
        this.drain(storage);
      },
    });
    const tick = () => {
      this.node.tick();
      this.drain(storage);
      context.setTimer(10, "tick", tick);
    };
    context.setTimer(10, "tick", tick);
  }

  drain(storage: MemoryStorage): void {
    while (this.node.hasReady()) {
      const ready = this.node.ready();
      persistReady(storage, ready);
      for (const message of ready.messages) this.transport.send(message.to, encodeMessage(message));
      for (const entry of ready.committedEntries) if (entry.kind === "normal") this.applied.push(new TextDecoder().decode(entry.data));
      this.node.advance(ready);
    }
  }

  onDatagram(): void {}

  onStream(stream: SimStreamEnd): void {
    this.transport.acceptStream(stream);
  }
}

describe("Raft on the simulated transport", () => {
  test("elects, replicates, survives a leader crash and catches the old leader up", () => {
    forEachSeed(import.meta.path, 3, (seed) => {
      const sim = new Simulation(seed);
      const network = new SimNetwork(sim, { lossRate: 0, duplicateRate: 0, delayMinMs: 0.5, delayMaxMs: 5 });
      const addresses = ["10.0.0.1:8300", "10.0.0.2:8300", "10.0.0.3:8300"];
      // Storage and the applied list outlive a crash, as a disk and a state machine snapshot would.
      const storages = new Map(addresses.map((address) => [address, new MemoryStorage()]));
      const appliedLog = new Map<string, string[]>(addresses.map((address) => [address, []]));
      for (const storage of storages.values()) bootstrapStorage(storage, { voters: addresses, learners: [] });
      const nodes = addresses.map(
        (address) =>
          new SimNode(sim, network, address, (context) => {
            const shell = new TransportShell(context, storages.get(address)!, appliedLog.get(address)!);
            appliedLog.set(address, shell.applied);
            return shell;
          }),
      );
      for (const node of nodes) node.start();
      const shells = () => nodes.flatMap((node) => node.current<TransportShell>() ?? []);
      const leader = () => shells().find((shell) => shell.node.basicStatus().role === "leader");
      const run = (what: string, condition: () => boolean) => {
        if (sim.runUntilCondition(condition, 30_000) === undefined) throw new Error(`${what}: not within 30 s of virtual time`);
      };

      run("a leader", () => leader() !== undefined);
      for (let i = 0; i < 20; i++) leader()!.node.propose([new TextEncoder().encode(`first${i}`)]);
      run("the first entries applied everywhere", () => shells().every((shell) => shell.applied.length === 20));

      const oldLeader = nodes.find((node) => node.current<TransportShell>() === leader())!;
      oldLeader.crash();
      run("a new leader", () => leader() !== undefined);
      for (let i = 0; i < 20; i++) leader()!.node.propose([new TextEncoder().encode(`second${i}`)]);
      run("the second entries applied by the survivors", () => shells().every((shell) => shell.applied.length === 40));

      oldLeader.restart();
      run("the old leader caught up", () => shells().length === 3 && shells().every((shell) => shell.applied.length === 40));
      const expected = [...Array.from({ length: 20 }, (_, i) => `first${i}`), ...Array.from({ length: 20 }, (_, i) => `second${i}`)];
      for (const shell of shells()) {
        expect(shell.applied).toEqual(expected);
        expect(shell.mismatchedSenders).toBe(0);
      }
    });
  });
});
