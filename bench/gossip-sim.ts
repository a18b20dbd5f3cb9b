// Gossip benchmark on the simulator: for clusters of 10, 100 and 1,000
// nodes with the LAN profile, the virtual time until every node knows of a
// newly joined node and until every live node has declared a crashed node
// dead, and the bytes each node sends per second at steady state (counted by
// the shell: what goes on the wire, after compression, CRC and labels). The
// figures are virtual time, so they do not depend on this machine; the wall
// time each size took is printed too, as the cost of simulating it. Stream
// bytes (push/pull, TCP pings) are counted apart, by the harness.
//
// Every node joins the same seed node at the same moment, on a network
// with 1-5 ms of delay and no loss. Smaller sizes run several seeds (times
// are given as median / worst); 1,000 nodes run one. Compression
// (memberlist's LAN default) is on for 10 and 100 nodes and off for 1,000 by
// default: the join storm of 1,000 nodes is about a million packets, and
// LZW on each of them makes that size markedly slower to simulate.
//
// Run: npx bun bench/gossip-sim.ts [sizes...] [--compress | --no-compress]

import { GossipCluster, type GossipNode } from "../test/sim/gossip/harness.ts";
import { pushPullIntervalMs } from "../src/gossip/math.ts";
import { profiles } from "../src/config/profiles.ts";

interface Result {
  size: number;
  compress: boolean;
  convergeMs: number | undefined;
  steadyBytesPerNodePerSec: number;
  steadyStreamBytesPerNodePerSec: number;
  joinSpreadMs: number | undefined;
  deathSpreadMs: number | undefined;
  wallMs: number;
  events: number;
}

/**
 * How long the steady-state window lasts: one push/pull interval (scaled
 * with n), and at least a minute, so that every node's full-state exchange,
 * which dominates the traffic of a large idle cluster, is in the average.
 */
function steadyWindowMs(size: number): number {
  return Math.max(60_000, pushPullIntervalMs(profiles.lan.gossip.pushPullIntervalMs, size));
}

function measure(size: number, compress: boolean, seed: number): Result {
  const started = performance.now();
  // One extra node, started later, is the newcomer.
  const cluster = new GossipCluster({
    seed,
    size: size + 1,
    faults: { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 5 },
    compress,
    seedNodes: 1,
    recordEvents: false,
  });
  const nodes = cluster.nodes.slice(0, size);
  const newcomer = cluster.nodes[size]!;

  // Count, per member, how many nodes know it alive and how many declared it dead.
  const knowsAlive = new Map<string, Set<string>>();
  const declaredDead = new Map<string, Set<string>>();
  const mark = (table: Map<string, Set<string>>, member: string, observer: string) => {
    let set = table.get(member);
    if (!set) table.set(member, (set = new Set()));
    set.add(observer);
  };
  cluster.listeners.push((node: GossipNode, event) => {
    if (event.kind === "join" || (event.kind === "update" && event.member.state === "alive")) mark(knowsAlive, event.member.name, node.name);
    if (event.kind === "leave" && event.member.state === "dead") mark(declaredDead, event.member.name, node.name);
  });

  for (const node of nodes) node.sim.start();
  const everyoneKnowsEveryone = () => nodes.every((node) => (knowsAlive.get(node.name)?.size ?? 0) >= size - 1);
  const convergeMs = cluster.runUntil(everyoneKnowsEveryone, 600_000, 100);

  // Let the join storm's broadcasts drain (every node relays every join
  // retransmitMult x ceil(log10(n + 1)) times) before measuring the steady state.
  cluster.runUntil(() => nodes.every((node) => node.shell.core.queuedBroadcasts() === 0), 600_000, 1_000);
  cluster.sim.runFor(5_000);
  const bytesBefore = cluster.totalBytesSent();
  const streamBytesBefore = cluster.totalStreamBytesSent();
  const windowMs = steadyWindowMs(size);
  cluster.sim.runFor(windowMs);
  const perNodePerSec = (bytes: number) => bytes / size / (windowMs / 1000);
  const steadyBytesPerNodePerSec = perNodePerSec(cluster.totalBytesSent() - bytesBefore);
  const steadyStreamBytesPerNodePerSec = perNodePerSec(cluster.totalStreamBytesSent() - streamBytesBefore);

  // A newcomer joins: until every one of the others knows it alive.
  newcomer.sim.start();
  const joinSpreadMs = cluster.runUntil(() => (knowsAlive.get(newcomer.name)?.size ?? 0) >= size, 300_000, 10);
  cluster.sim.runFor(30_000);

  // A node crashes: until every live node declared it dead.
  const victim = nodes[size - 1]!;
  cluster.crash(victim);
  const liveCount = size; // the others plus the newcomer
  const deathSpreadMs = cluster.runUntil(() => (declaredDead.get(victim.name)?.size ?? 0) >= liveCount, 600_000, 10);

  return {
    size,
    compress,
    convergeMs,
    steadyBytesPerNodePerSec,
    steadyStreamBytesPerNodePerSec,
    joinSpreadMs,
    deathSpreadMs,
    wallMs: performance.now() - started,
    events: cluster.sim.executed,
  };
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? "timeout" : `${(ms / 1000).toFixed(1)} s`;
}

/** Seeds per size: small clusters are cheap and vary more from run to run. */
function seedsFor(size: number): number {
  return size <= 10 ? 5 : size <= 100 ? 3 : 1;
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** "median / worst" of a time column, or the one value; "timeout" if any run timed out. */
function timeCell(values: (number | undefined)[]): string {
  if (values.some((v) => v === undefined)) return "timeout";
  const known = values as number[];
  if (known.length === 1) return seconds(known[0]);
  return `${seconds(median(known))} / ${seconds(Math.max(...known))}`;
}

const args = process.argv.slice(2);
const sizes = args.map(Number).filter((n) => Number.isInteger(n) && n > 1);
const forced = args.includes("--compress") ? true : args.includes("--no-compress") ? false : undefined;
const rows: string[][] = [];
for (const size of sizes.length > 0 ? sizes : [10, 100, 1000]) {
  const compress = forced ?? size < 1000;
  const runs: Result[] = [];
  for (let seed = 1; seed <= seedsFor(size); seed++) {
    const r = measure(size, compress, seed);
    runs.push(r);
    console.error(`n=${size} seed ${seed}: ${(r.wallMs / 1000).toFixed(1)} s wall, ${r.events} simulated events`);
  }
  rows.push([
    String(size),
    String(runs.length),
    compress ? "on" : "off",
    timeCell(runs.map((r) => r.convergeMs)),
    timeCell(runs.map((r) => r.joinSpreadMs)),
    timeCell(runs.map((r) => r.deathSpreadMs)),
    median(runs.map((r) => r.steadyBytesPerNodePerSec)).toFixed(0),
    median(runs.map((r) => r.steadyStreamBytesPerNodePerSec)).toFixed(0),
    `${(runs.reduce((sum, r) => sum + r.wallMs, 0) / 1000).toFixed(1)} s`,
  ]);
}

const header = ["nodes", "seeds", "compress", "all know all", "newcomer known by all", "crash dead at all", "UDP B/node/s", "TCP B/node/s", "wall time"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i]!)).join("  ");
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(
  "\nVirtual times, median / worst over the seeds (all know all: from the simultaneous start; newcomer:" +
    "\nfrom its start; crash: from the crash). B/node/s: bytes each node sends per second at steady state" +
    "\n(median); UDP as the shell counts it (probes, gossip), TCP the stream bytes it writes (push/pull)." +
    "\nCompression is off at 1,000 nodes unless --compress is given, to keep the run short: push/pull" +
    "\nbytes at that size are therefore uncompressed.",
);
