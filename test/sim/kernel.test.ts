// Proof that the simulator kernel is deterministic and that its faults work,
// using the toy flood protocol.

import { describe, expect, test } from "bun:test";
import { Simulation } from "./kernel.ts";
import { SimNetwork } from "./network.ts";
import { SimNode } from "./cluster.ts";
import { ToyFlood } from "./toy-flood.ts";
import { forEachSeed } from "./seeds.ts";

interface Run {
  sim: Simulation;
  network: SimNetwork;
  nodes: SimNode[];
}

function cluster(seed: number, size: number): Run {
  const sim = new Simulation(seed);
  const network = new SimNetwork(sim, { lossRate: 0.05, duplicateRate: 0.02, delayMinMs: 1, delayMaxMs: 30 });
  const addresses = Array.from({ length: size }, (_, i) => `n${i}`);
  const nodes = addresses.map(
    (address) =>
      new SimNode(sim, network, address, (context) => new ToyFlood(context, addresses), {
        offsetMs: sim.prng.int(10_000),
        driftPpm: sim.prng.intBetween(-200, 200),
      }),
  );
  for (const node of nodes) node.start();
  return { sim, network, nodes };
}

/** The fault phase: loss, duplication, a partition, a crash and a restart. */
function chaos(run: Run): void {
  const { sim, network, nodes } = run;
  const half = nodes.slice(0, nodes.length / 2).map((n) => n.address);
  const rest = nodes.slice(nodes.length / 2).map((n) => n.address);
  network.faults = { lossRate: 0.2, duplicateRate: 0.1, delayMinMs: 1, delayMaxMs: 80 };
  sim.runFor(500);
  network.partition(half, rest);
  sim.runFor(2000);
  const victim = sim.prng.pick(nodes);
  victim.crash();
  sim.runFor(1500);
  victim.restart();
  sim.runFor(1000);
}

function converged(run: Run): boolean {
  const sets = run.nodes.map((node) => [...(node.current<ToyFlood>()?.known ?? [])].sort().join("|"));
  return sets.every((set) => set === sets[0]) && (sets[0]?.split("|").length ?? 0) === run.nodes.length;
}

function fullRunDigest(seed: number): string {
  const run = cluster(seed, 6);
  chaos(run);
  run.network.heal();
  run.sim.runFor(3000);
  return run.sim.trace.digest();
}

describe("simulator kernel", () => {
  test("the same seed gives an identical event trace", () => {
    const first = fullRunDigest(42);
    const second = fullRunDigest(42);
    expect(second).toBe(first);
  });

  test("different seeds give different traces", () => {
    const digests = new Set([1, 2, 3, 4, 5].map(fullRunDigest));
    expect(digests.size).toBe(5);
  });

  test("after faults heal, the toy protocol converges on every seed", () => {
    forEachSeed(import.meta.path, 25, (seed) => {
      const run = cluster(seed, 8);
      chaos(run);
      run.network.heal();
      run.network.faults = { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 20 };
      const tookMs = run.sim.runUntilCondition(() => converged(run), 10_000);
      expect(tookMs).toBeDefined();
    });
  });

  test("a partition stops traffic between the sides until it heals", () => {
    const run = cluster(7, 4);
    run.network.faults = { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 1 };
    run.network.partition(["n0", "n1"], ["n2", "n3"]);
    run.sim.runFor(5000);
    const left = run.nodes[0]!.current<ToyFlood>()!.known;
    expect([...left].some((v) => v.startsWith("n2#") || v.startsWith("n3#"))).toBe(false);
    run.network.heal();
    expect(run.sim.runUntilCondition(() => converged(run), 5000)).toBeDefined();
  });

  test("a one-way partition blocks only one direction", () => {
    const sim = new Simulation(3);
    const network = new SimNetwork(sim);
    const received: string[] = [];
    for (const address of ["a", "b"]) {
      network.attach(address, {
        up: () => true,
        receiveDatagram: (from) => received.push(`${from}->${address}`),
        acceptStream: () => {},
      });
    }
    network.partition(["a"], ["b"], true);
    network.sendDatagram("a", "b", new Uint8Array([1]));
    network.sendDatagram("b", "a", new Uint8Array([2]));
    sim.runFor(100);
    expect(received).toEqual(["b->a"]);
  });

  test("streams deliver in order despite jitter and break on partition", () => {
    const sim = new Simulation(9);
    const network = new SimNetwork(sim, { lossRate: 0.5, duplicateRate: 0.5, delayMinMs: 1, delayMaxMs: 100 });
    const got: number[] = [];
    let closedWith = "";
    network.attach("a", { up: () => true, receiveDatagram: () => {}, acceptStream: () => {} });
    network.attach("b", {
      up: () => true,
      receiveDatagram: () => {},
      acceptStream: (stream) => {
        stream.onData = (bytes) => got.push(bytes[0]!);
        stream.onClose = (reason) => (closedWith = reason);
      },
    });
    network.openStream("a", "b", (end) => {
      if (typeof end === "string") throw new Error(end);
      for (let i = 0; i < 50; i++) end.send(new Uint8Array([i]));
    });
    sim.runFor(10_000);
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    network.partition(["a"], ["b"]);
    expect(closedWith).toBe("partitioned");
  });

  test("a crash loses unsynced disk writes and silences the node's timers", () => {
    const run = cluster(11, 3);
    const node = run.nodes[0]!;
    node.disk.write("scratch", new Uint8Array([1]));
    node.disk.write("kept", new Uint8Array([2]));
    node.disk.sync();
    node.disk.write("scratch", new Uint8Array([3]));
    node.crash();
    expect(node.disk.read("scratch")).toEqual(new Uint8Array([1]));
    expect(node.disk.read("kept")).toEqual(new Uint8Array([2]));
    run.sim.runFor(2000);
    expect(run.sim.trace.recent.length).toBeGreaterThan(10);
    expect(run.sim.trace.recent.some((line) => line.includes(" n0 timer"))).toBe(false);
    node.restart();
    const value = node.current<ToyFlood>()!.known;
    expect([...value][0]).toStartWith("n0#");
  });

  test("a fast clock fires its timers early in real time", () => {
    const sim = new Simulation(5);
    const network = new SimNetwork(sim);
    const firedAt: Record<string, number> = {};
    for (const [address, driftPpm] of [["slow", 0], ["fast", 100_000]] as const) {
      const node = new SimNode(
        sim,
        network,
        address,
        (context) => {
          context.setTimer(1000, "once", () => (firedAt[address] = sim.nowMs));
          return { onDatagram: () => {}, onStream: () => {} };
        },
        { driftPpm },
      );
      node.start();
    }
    sim.runFor(2000);
    expect(firedAt.slow).toBe(1000);
    expect(firedAt.fast).toBeCloseTo(1000 / 1.1, 6);
  });
});
