// Replicated state over real gossip shells in the simulator. Random owners
// add, change and remove services while the network loses, duplicates and
// delays packets, partitions, and nodes crash and restart (coming back with
// a new epoch and republishing what they run, as the agent does). After the
// faults heal, every live replica must hold the same state (equal digests)
// within a bound, and every view must show exactly what each live owner last
// wrote: the owner's newest version wins, nothing deleted comes back, and a
// restarted owner's new writes beat its old ones. Dead owners are never shown.

import { describe, expect, test } from "bun:test";
import { Prng } from "../../../src/lib/prng.ts";
import { StateStore, storeDefaults } from "../../../src/state/store.ts";
import { StateReplicator } from "../../../src/state/replicator.ts";
import type { ServiceHealth, ServiceStatus } from "../../../src/state/model.ts";
import { forEachSeed } from "../seeds.ts";
import { GossipCluster, simTimeoutMs, type GossipNode } from "../gossip/harness.ts";

const statuses: ServiceStatus[] = ["healthy", "unhealthy", "stopped"];

/** What each owner currently runs: the truth every view must converge to. */
type Truth = Map<string, Map<string, ServiceHealth>>;

class StateWorld {
  readonly cluster: GossipCluster;
  readonly replicas = new Map<string, StateReplicator>();
  readonly truth: Truth = new Map();
  private readonly prng: Prng;

  constructor(readonly seed: number, size: number, lossMax: number) {
    this.prng = new Prng(seed * 7919 + 1);
    this.cluster = new GossipCluster({
      seed,
      size,
      profile: "lan",
      faults: { lossRate: this.prng.float() * lossMax, duplicateRate: 0.05, delayMinMs: 1, delayMaxMs: 40 },
      delegate: (node) => this.boot(node),
    });
  }

  /** A node's state process: a store whose epoch is this run's incarnation, republishing what the node runs. */
  private boot(node: GossipNode): StateReplicator {
    const bytes = node.sim.disk.read("gossip/incarnation");
    const epoch = bytes && bytes.length === 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) : 1;
    const store = new StateStore(node.name, epoch, storeDefaults);
    const replicator = new StateReplicator(store, () => node.sim.clock.monotonicMs(), this.cluster.gossip.retransmitMult, () =>
      node.process ? node.shell.core.liveMemberCount() : 1,
    );
    this.replicas.set(node.name, replicator);
    replicator.publish(`node/${node.name}`, {
      name: node.name, public_ip: "", tailscale_ip: node.host, priority: 100, capabilities: [], last_seen: "", cordoned: false,
    });
    for (const health of this.truth.get(node.name)?.values() ?? []) replicator.publishService(health);
    return replicator;
  }

  /** One random write by a random live owner. */
  randomWrite(): void {
    const live = this.cluster.liveNodes();
    if (live.length === 0) return;
    const owner = this.prng.pick(live);
    const replicator = this.replicas.get(owner.name)!;
    const services = this.truth.get(owner.name) ?? new Map<string, ServiceHealth>();
    this.truth.set(owner.name, services);
    const roll = this.prng.int(4);
    if (roll === 0 && services.size > 0) {
      const name = this.prng.pick([...services.keys()].sort());
      services.delete(name);
      replicator.removeService(name, owner.name);
      return;
    }
    const name = roll === 1 || services.size === 0 ? `svc${this.prng.int(8)}` : this.prng.pick([...services.keys()].sort());
    const status = this.prng.pick(statuses);
    const health: ServiceHealth = {
      service_name: name,
      node_name: owner.name,
      status,
      healthy: status === "healthy",
      checked_at: new Date(1_800_000_000_000 + this.cluster.sim.nowMs).toISOString(),
      endpoints: { http: `http://${owner.host}:${8000 + this.prng.int(3)}` },
      networks: ["publicnet"],
      consecutive_failures: status === "healthy" ? 0 : 1 + this.prng.int(5),
    };
    services.set(name, health);
    replicator.publishService(health);
  }

  /** Schedule random writes every `everyMs` until `untilMs`. */
  writeUntil(untilMs: number, everyMs: number): void {
    for (let at = this.cluster.sim.nowMs; at < untilMs; at += everyMs) {
      this.cluster.sim.at(at + this.prng.int(everyMs), "state write", () => this.randomWrite());
    }
  }

  liveReplicas(): Array<[GossipNode, StateReplicator]> {
    return this.cluster.liveNodes().map((node) => [node, this.replicas.get(node.name)!]);
  }

  digestsAgree(): boolean {
    const digests = new Set(this.liveReplicas().map(([, r]) => r.store.digest()));
    return digests.size === 1;
  }

  /** Every live replica's view of every live owner equals that owner's truth; dead owners are absent. */
  viewProblems(): string[] {
    const problems: string[] = [];
    const liveNames = new Set(this.cluster.liveNodes().map((n) => n.name));
    for (const [observer, replicator] of this.liveReplicas()) {
      const isLive = (owner: string) => owner === observer.name || ["alive", "suspect"].includes(this.cluster.stateIn(observer, owner) ?? "");
      const view = replicator.store.view(isLive);
      const expected: Record<string, string> = {};
      for (const [owner, services] of this.truth) {
        if (!liveNames.has(owner)) continue;
        for (const [name, h] of services) expected[`${name}@${owner}`] = `${h.status}/${h.consecutive_failures}/${h.endpoints.http}`;
      }
      const actual: Record<string, string> = {};
      for (const [key, h] of Object.entries(view.service_health)) actual[key] = `${h.status}/${h.consecutive_failures}/${h.endpoints.http}`;
      const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
      for (const key of [...keys].sort()) {
        if (expected[key] !== actual[key]) problems.push(`${observer.name} sees ${key} as ${actual[key] ?? "absent"}, owner has ${expected[key] ?? "nothing"}`);
      }
    }
    return problems;
  }
}

function run(seed: number): void {
  const prng = new Prng(seed);
  const size = 4 + prng.int(7);
  const world = new StateWorld(seed, size, 0.2);
  const { cluster } = world;
  cluster.startAll();
  cluster.sim.runFor(5_000);
  // Fault phase: writes throughout, a partition, crashes and restarts.
  const faultEndMs = cluster.sim.nowMs + 60_000;
  world.writeUntil(faultEndMs, 150);
  const half = cluster.nodes.slice(0, Math.floor(size / 2));
  const rest = cluster.nodes.slice(Math.floor(size / 2));
  cluster.sim.at(cluster.sim.nowMs + 10_000 + prng.int(10_000), "partition", () => cluster.partition(half, rest, prng.chance(0.3)));
  cluster.sim.at(cluster.sim.nowMs + 35_000 + prng.int(5_000), "heal partition", () => cluster.heal());
  const victims = prng.shuffle(cluster.nodes.slice()).slice(0, 1 + prng.int(2));
  for (const victim of victims) {
    const crashAt = cluster.sim.nowMs + prng.int(40_000);
    cluster.sim.at(crashAt, `crash ${victim.name}`, () => victim.live && cluster.crash(victim));
    // Some victims come back during the fault phase, the rest stay down.
    if (prng.chance(0.6)) cluster.sim.at(crashAt + 2_000 + prng.int(15_000), `restart ${victim.name}`, () => !victim.live && cluster.restart(victim));
  }
  cluster.sim.runUntil(faultEndMs);
  cluster.heal();
  cluster.setFaults({ lossRate: 0.01, duplicateRate: 0.01, delayMinMs: 1, delayMaxMs: 20 });
  // Healed phase: no writes; replicas must agree within two push/pull rounds plus detection time.
  const boundMs = 2 * cluster.gossip.pushPullIntervalMs + 30_000;
  const tookMs = cluster.runUntil(() => world.digestsAgree() && world.viewProblems().length === 0, boundMs, 200);
  if (tookMs === undefined) {
    throw new Error(`replicas did not converge within ${boundMs} ms:\n${world.viewProblems().slice(0, 10).join("\n")}`);
  }
  expect(world.viewProblems()).toEqual([]);
}

describe("replicated state (simulated)", () => {
  test("replicas converge to the owners' latest writes after faults heal", () => {
    forEachSeed(import.meta.path, 10, run);
  }, simTimeoutMs(10, 2_000));
});
