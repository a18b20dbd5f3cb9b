// State replication in the simulator (LAN profile, real gossip shells and
// state replicators): for N nodes, the virtual time until 99 % and 100 % of
// nodes hold a new version written on one node; the bytes each node sends
// per second at steady state with 10 services per node, each changing health
// every 30 s; and the size of the replicated state.
//
//   npx bun bench/state-sim.ts [--sizes 10,100,1000] [--seed 1]
//                              [--services <per node>] [--window-s <seconds>]
//
// Two things differ at N >= 1000, and the table prints both:
// - 1 service per node instead of 10. Every replica holds every entry (two
//   per service), so 10 per node would be 20,000 entries on each of 1,000
//   simulated nodes: 20 million decoded entries in one process, about
//   450 bytes each (9 GB), on top of the 7 to 9 GB the run with 1 per node
//   already reaches (membership tables of 1,000 x 1,000 members, broadcast
//   queues): more than this machine can hold. The cluster-wide change rate
//   is then that of N = 100 with 10 per node, and the full state that
//   push/pull carries is 10 times smaller than with 10 per node, so the
//   push/pull share of the bytes per second is too.
// - A steady-state window of 30 s instead of 120 s: a simulated second costs
//   about 4 s of computing there. 30 s still holds exactly one health change
//   of every service (each flips every 30 s at its own phase); with seed 1 a
//   120-s window gave the same figure within 0.1 %.
// --services and --window-s set both for every size, to run the full
// workload where memory and time allow.

import { StateStore, storeDefaults, healthKey } from "../src/state/store.ts";
import { StateReplicator } from "../src/state/replicator.ts";
import type { ServiceHealth } from "../src/state/model.ts";
import { GossipCluster, type GossipNode } from "../test/sim/gossip/harness.ts";

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const sizes = flag("sizes", "10,100,1000").split(",").map(Number);
const seed = Number(flag("seed", "1"));
const servicesFlag = flag("services", "");
const windowFlag = flag("window-s", "");
const servicesPerNodeDefault = 10;
/** From this size on, the smaller workload and window described above. */
const largeClusterMin = 1000;
const changeEveryMs = 30_000;
const windowMsDefault = 120_000;
const writesMeasured = 5;

function servicesPerNodeFor(n: number): number {
  if (servicesFlag !== "") return Number(servicesFlag);
  return n >= largeClusterMin ? 1 : servicesPerNodeDefault;
}

function windowMsFor(n: number): number {
  if (windowFlag !== "") return Number(windowFlag) * 1000;
  return n >= largeClusterMin ? 30_000 : windowMsDefault;
}

const flagValues: Array<[string, number[]]> = [
  ["sizes", sizes],
  ["seed", [seed]],
  ["services", servicesFlag === "" ? [] : [Number(servicesFlag)]],
  ["window-s", windowFlag === "" ? [] : [Number(windowFlag)]],
];
for (const [name, values] of flagValues) {
  if (!values.every((v) => Number.isSafeInteger(v) && v > 0)) throw new Error(`--${name} takes positive integers, got ${JSON.stringify(values)}`);
}

function health(node: GossipNode, index: number, healthy: boolean, nowMs: number): ServiceHealth {
  return {
    service_name: `service-${index}`,
    node_name: node.name,
    status: healthy ? "healthy" : "unhealthy",
    healthy,
    checked_at: new Date(1_800_000_000_000 + nowMs).toISOString(),
    endpoints: { http: `http://${node.host}:${8000 + index}` },
    networks: ["constellation_publicnet"],
    consecutive_failures: healthy ? 0 : 1,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

interface Row {
  n: number;
  servicesPerNode: number;
  windowMs: number;
  p99Ms: number;
  p100Ms: number;
  bytesPerNodePerSecond: number;
  stateBytes: number;
  stateEntries: number;
  wallSeconds: number;
}

function measure(n: number): Row {
  const wallStart = performance.now();
  const servicesPerNode = servicesPerNodeFor(n);
  const replicas = new Map<string, StateReplicator>();
  const cluster: GossipCluster = new GossipCluster({
    seed,
    size: n,
    profile: "lan",
    recordEvents: false,
    compress: true,
    faults: { lossRate: 0, duplicateRate: 0, delayMinMs: 1, delayMaxMs: 10 },
    delegate: (node): StateReplicator => {
      const store = new StateStore(node.name, 1, storeDefaults);
      const replicator: StateReplicator = new StateReplicator(store, () => node.sim.clock.monotonicMs(), cluster.gossip.retransmitMult, () =>
        node.process ? node.shell.core.liveMemberCount() : 1,
      );
      replicas.set(node.name, replicator);
      return replicator;
    },
  });
  cluster.startAll();
  const joined = cluster.runUntil(() => cluster.allAliveAmongLive(), 600_000, 500);
  if (joined === undefined) throw new Error(`N=${n}: membership did not converge`);
  // Every node publishes its services; let the initial flood and one push/pull round settle.
  for (const node of cluster.nodes) {
    for (let i = 0; i < servicesPerNode; i++) replicas.get(node.name)!.publishService(health(node, i, true, cluster.sim.nowMs));
  }
  cluster.sim.runFor(cluster.gossip.pushPullIntervalMs * 2);

  // Propagation of single writes.
  const p99: number[] = [];
  const p100: number[] = [];
  for (let w = 0; w < writesMeasured; w++) {
    const owner = cluster.nodes[cluster.sim.prng.int(n)]!;
    const key = healthKey("service-0", owner.name);
    // Flip the current status, so the write is a real change and gets a new version.
    const healthy = replicas.get(owner.name)!.store.view(() => true).service_health[`service-0@${owner.name}`]?.status !== "healthy";
    replicas.get(owner.name)!.publishService(health(owner, 0, healthy, cluster.sim.nowMs));
    const target = replicas.get(owner.name)!.store.get(key)!.version;
    const startMs = cluster.sim.nowMs;
    const arrivals: number[] = [];
    const holds = (replica: StateReplicator) => {
      const version = replica.store.get(key)?.version;
      return version !== undefined && version.epoch === target.epoch && version.counter >= target.counter;
    };
    const pending = new Set(cluster.nodes.map((node) => node.name));
    cluster.runUntil(() => {
      for (const name of [...pending]) {
        if (holds(replicas.get(name)!)) {
          pending.delete(name);
          arrivals.push(cluster.sim.nowMs - startMs);
        }
      }
      return pending.size === 0;
    }, 120_000, 10);
    arrivals.sort((a, b) => a - b);
    p99.push(percentile(arrivals, 99));
    p100.push(arrivals.length === n ? arrivals[n - 1]! : Infinity);
    cluster.sim.runFor(5_000);
  }

  // Steady state: every service flips health every 30 s, at its own phase.
  const windowMs = windowMsFor(n);
  const endMs = cluster.sim.nowMs + windowMs;
  for (const node of cluster.nodes) {
    for (let i = 0; i < servicesPerNode; i++) {
      let healthy = true;
      for (let at = cluster.sim.nowMs + cluster.sim.prng.int(changeEveryMs); at < endMs; at += changeEveryMs) {
        cluster.sim.at(at, "health flip", () => {
          healthy = !healthy;
          if (node.live) replicas.get(node.name)!.publishService(health(node, i, healthy, cluster.sim.nowMs));
        });
      }
    }
  }
  const sentBytes = () => cluster.nodes.reduce((sum, node) => sum + node.shell.counters.bytesSent + node.shell.counters.streamBytesSent, 0);
  const before = sentBytes();
  cluster.sim.runUntil(endMs);
  const bytesPerNodePerSecond = (sentBytes() - before) / n / (windowMs / 1000);
  const sample = replicas.get(cluster.nodes[0]!.name)!;
  return {
    n,
    servicesPerNode,
    windowMs,
    p99Ms: p99.sort((a, b) => a - b)[Math.floor(p99.length / 2)]!,
    p100Ms: p100.sort((a, b) => a - b)[Math.floor(p100.length / 2)]!,
    bytesPerNodePerSecond,
    stateBytes: sample.localState().length,
    stateEntries: sample.store.size,
    wallSeconds: (performance.now() - wallStart) / 1000,
  };
}

console.log(`state replication, simulated, LAN profile, every service flipping health every ${changeEveryMs / 1000} s, seed ${seed}`);
console.log(
  "| N | services/node | write -> 99 % of nodes (median of 5) | write -> 100 % | bytes/node/s at steady state | steady window | state bytes (entries) | wall s |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
const notes: string[] = [];
for (const n of sizes) {
  const row = measure(n);
  const differences: string[] = [];
  if (row.servicesPerNode !== servicesPerNodeDefault) {
    differences.push(
      `${row.servicesPerNode} ${row.servicesPerNode === 1 ? "service" : "services"} per node instead of ${servicesPerNodeDefault} (${row.stateEntries} entries per replica, ` +
        "so push/pull carries a smaller full state)",
    );
  }
  if (row.windowMs !== windowMsDefault) differences.push(`steady state measured over ${row.windowMs / 1000} s instead of ${windowMsDefault / 1000} s`);
  const mark = differences.length > 0 ? " *" : "";
  console.log(
    `| ${row.n}${mark} | ${row.servicesPerNode} | ${row.p99Ms.toFixed(0)} ms | ${row.p100Ms.toFixed(0)} ms | ${row.bytesPerNodePerSecond.toFixed(0)} | ${row.windowMs / 1000} s | ${row.stateBytes} (${row.stateEntries}) | ${row.wallSeconds.toFixed(1)} |`,
  );
  if (differences.length > 0) notes.push(`* N = ${row.n}: ${differences.join("; ")}. Why: the header of bench/state-sim.ts.`);
}
for (const note of notes) console.log(note);
