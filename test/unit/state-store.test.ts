// The replicated state store: owner versions, tombstones, epochs, validation, views.

import { describe, expect, test } from "bun:test";
import { StateStore, compareVersions, healthKey, parseKey, serviceKey, type Entry } from "../../src/state/store.ts";
import { decodeStateMessage, encodeDelta, encodeFullState } from "../../src/state/wire.ts";
import { StateReplicator } from "../../src/state/replicator.ts";
import type { ServiceSpec, ServiceState } from "../../src/state/model.ts";

function health(service: string, node: string): ServiceSpec {
  return { service_name: service, node_name: node, endpoints: { http: "http://10.76.0.5:8080" }, networks: ["publicnet"] };
}

function state(status: ServiceState["status"] = "healthy", failures = 0): ServiceState {
  return { status, consecutive_failures: failures, checked_at_ms: 1_795_000_000_000, last_success_ms: 1_795_000_000_000 };
}

function remote(key: string, owner: string, epoch: number, counter: number, value?: Entry["value"]): Omit<Entry, "storedAtMs"> {
  return { key, owner, version: { epoch, counter }, value };
}

describe("state store", () => {
  test("keys name their owner", () => {
    expect(parseKey("svc/web@node-a")).toEqual({ kind: "svc", owner: "node-a", service: "web" });
    expect(parseKey("node/node-a")).toEqual({ kind: "node", owner: "node-a" });
    expect(parseKey("svc/web")).toBeUndefined();
    expect(parseKey("bogus/x")).toBeUndefined();
    expect(compareVersions({ epoch: 2, counter: 1 }, { epoch: 1, counter: 99 })).toBeGreaterThan(0);
  });

  test("the owner's newest version wins, whatever order versions arrive in", () => {
    const store = new StateStore("self", 1);
    const key = healthKey("web", "b");
    store.merge(0, remote(serviceKey("web", "b"), "b", 5, 1, health("web", "b")));
    expect(store.merge(0, remote(key, "b", 5, 3, state("unhealthy", 2)))).toBe("applied");
    expect(store.merge(0, remote(key, "b", 5, 2, state("healthy")))).toBe("ignored");
    expect(store.merge(0, remote(key, "b", 5, 3, state("healthy")))).toBe("ignored");
    const view = store.view(() => true).service_health["web@b"]!;
    expect([view.status, view.healthy, view.consecutive_failures]).toEqual(["unhealthy", false, 2]);
    expect(store.merge(0, remote(key, "b", 5, 4, undefined))).toBe("applied");
    expect(store.view(() => true).service_health).toEqual({});
    // The deleted entry does not come back from an older copy.
    expect(store.merge(0, remote(key, "b", 5, 3, state()))).toBe("ignored");
  });

  test("only the owner may author an entry, and values are validated", () => {
    const store = new StateStore("self", 1);
    expect(store.merge(0, remote(serviceKey("web", "b"), "c", 1, 1, health("web", "b")))).toBe("owner-mismatch");
    expect(store.merge(0, remote(serviceKey("web", "b"), "b", 1, 1, health("web", "c")))).toBe("invalid-value");
    expect(store.merge(0, remote("health/web@b", "b", 1, 1, { status: "great" } as never))).toBe("invalid-value");
    expect(store.merge(0, remote("nonsense", "b", 1, 1, undefined))).toBe("malformed-key");
    expect(store.rejected["owner-mismatch"] + store.rejected["invalid-value"] + store.rejected["malformed-key"]).toBe(4);
    expect(store.size).toBe(0);
  });

  test("a restarted owner's new epoch drops everything it wrote before", () => {
    const store = new StateStore("self", 1);
    store.merge(0, remote(serviceKey("old", "b"), "b", 100, 7, health("old", "b")));
    store.merge(0, remote(healthKey("web", "b"), "b", 100, 8, state("unhealthy")));
    expect(store.merge(0, remote(healthKey("web", "b"), "b", 200, 1, state("healthy")))).toBe("applied");
    expect(store.get(serviceKey("old", "b"))).toBeUndefined();
    expect(store.merge(0, remote(serviceKey("old", "b"), "b", 100, 7, health("old", "b")))).toBe("stale");
    expect((store.get(healthKey("web", "b"))!.value as ServiceState).status).toBe("healthy");
  });

  test("local writes count up; deleting twice is a no-op", () => {
    const store = new StateStore("self", 9);
    const a = store.writeLocal(0, serviceKey("web", "self"), health("web", "self"));
    const b = store.writeLocal(0, serviceKey("web", "self"), undefined);
    expect(a.version).toEqual({ epoch: 9, counter: 1 });
    expect(b.version).toEqual({ epoch: 9, counter: 2 });
    expect(store.writeLocal(0, serviceKey("web", "self"), undefined).version.counter).toBe(2);
    expect(() => store.writeLocal(0, serviceKey("web", "other"), undefined)).toThrow(/not owned/);
  });

  test("views hide members that are not live; collection removes old tombstones and gone owners", () => {
    const store = new StateStore("self", 1, { tombstoneMs: 1000, deadOwnerRetentionMs: 5000, entriesMax: 100 });
    store.merge(0, remote(serviceKey("web", "b"), "b", 1, 1, health("web", "b")));
    store.merge(0, remote(healthKey("web", "b"), "b", 1, 2, state()));
    store.merge(0, remote(serviceKey("db", "c"), "c", 1, 1, health("db", "c")));
    store.merge(0, remote(healthKey("db", "c"), "c", 1, 2, state()));
    store.merge(0, remote(serviceKey("gone", "c"), "c", 1, 3, undefined));
    expect(Object.keys(store.view((owner) => owner !== "b").service_health)).toEqual(["db@c"]);
    expect(store.collect(2000, () => undefined)).toEqual(["svc/gone@c"]);
    expect(store.collect(10_000, (owner) => (owner === "b" ? 0 : undefined)).sort()).toEqual(["health/web@b", "svc/web@b"]);
    expect(store.size).toBe(2);
  });

  test("the store is bounded", () => {
    const store = new StateStore("self", 1, { tombstoneMs: 1000, deadOwnerRetentionMs: 1000, entriesMax: 2 });
    store.merge(0, remote(serviceKey("a", "b"), "b", 1, 1, health("a", "b")));
    store.merge(0, remote(serviceKey("c", "b"), "b", 1, 2, health("c", "b")));
    expect(store.merge(0, remote(serviceKey("d", "b"), "b", 1, 3, health("d", "b")))).toBe("full");
  });

  test("equal replicas have equal digests", () => {
    const x = new StateStore("x", 1);
    const y = new StateStore("y", 1);
    const entries = [remote(serviceKey("web", "b"), "b", 1, 1, health("web", "b")), remote("node/z", "z", 3, 1, undefined)];
    for (const entry of entries) x.merge(0, entry);
    for (const entry of [...entries].reverse()) y.merge(5, entry);
    expect(x.digest()).toBe(y.digest());
    y.merge(5, remote(serviceKey("web", "b"), "b", 1, 2, undefined));
    expect(x.digest()).not.toBe(y.digest());
  });
});

describe("state wire format", () => {
  test("health changes travel in a compact form", () => {
    for (const value of [state(), state("unhealthy", 7), undefined, { status: "stopped" as const, consecutive_failures: 0, checked_at_ms: 5 }]) {
      const entry = remote(healthKey("web", "node-b"), "node-b", 1_795_769_758, 123, value);
      const bytes = encodeDelta(entry);
      expect(bytes.length).toBeLessThan(80);
      expect(decodeStateMessage(bytes)).toEqual({ kind: "delta", entry });
    }
    expect(decodeStateMessage(encodeDelta(remote(healthKey("web", "b"), "b", 1, 1, state())).subarray(0, 20)).kind).toBe("error");
  });

  test("publishing a service writes the spec once and the health on every change", () => {
    const store = new StateStore("n1", 7);
    const replicator = new StateReplicator(store, () => 0, 4, () => 1);
    const changed: string[][] = [];
    replicator.subscribe((keys) => changed.push(keys));
    const record = {
      service_name: "web", node_name: "n1", status: "healthy" as const, healthy: true, checked_at: "2026-11-27T10:00:00.000Z",
      endpoints: { http: "http://10.0.0.2:80" }, networks: ["publicnet"], consecutive_failures: 0,
    };
    replicator.publishService(record);
    replicator.publishService({ ...record, checked_at: "2026-11-27T10:00:30.000Z" });
    replicator.publishService({ ...record, status: "unhealthy", healthy: false, consecutive_failures: 1 });
    expect(changed).toEqual([["svc/web@n1"], ["health/web@n1"], ["health/web@n1"]]);
    expect(store.view(() => true).service_health["web@n1"]?.status).toBe("unhealthy");
    replicator.removeService("web", "n1");
    expect(store.view(() => true).service_health).toEqual({});
  });

  test("round trips deltas and full states; refuses foreign and oversized messages", () => {
    const entry = remote(serviceKey("web", "b"), "b", 4, 2, health("web", "b"));
    expect(decodeStateMessage(encodeDelta(entry))).toEqual({ kind: "delta", entry });
    const full = decodeStateMessage(encodeFullState([{ ...entry, storedAtMs: 1 }]));
    expect(full).toEqual({ kind: "full", entries: [entry], malformed: 0 });
    expect(decodeStateMessage(new TextEncoder().encode("hello")).kind).toBe("foreign");
    const huge = encodeDelta({ ...entry, value: { ...health("web", "b"), networks: ["x".repeat(9000)] } });
    expect(decodeStateMessage(huge)).toMatchObject({ kind: "error" });
    expect(decodeStateMessage(Uint8Array.of(0xc5, 1, 1, 0x7b))).toMatchObject({ kind: "error" });
  });
});

describe("state size", () => {
  test("100 nodes with 1000 service instances in all stay under 1 MB", () => {
    const store = new StateStore("observer", 1_795_769_758);
    for (let n = 0; n < 100; n++) {
      const node = `node-${String(n).padStart(3, "0")}`;
      store.merge(0, remote(`node/${node}`, node, 1_795_769_758, 1, {
        name: node, public_ip: `203.0.113.${n}`, tailscale_ip: `100.64.0.${n}`, priority: 100, capabilities: ["raft", "lb"],
        last_seen: "2026-11-27T10:00:00.000Z", cordoned: false,
      }));
      for (let i = 0; i < 10; i++) {
        const service = `service-${String(n * 10 + i).padStart(4, "0")}`;
        store.merge(0, remote(serviceKey(service, node), node, 1_795_769_758, 2 + 2 * i, {
          service_name: service, node_name: node,
          endpoints: { http: `http://10.76.${n}.${i + 2}:8080` }, networks: ["constellation_publicnet", "constellation_backend"],
          labels: { "traefik.enable": "true", [`traefik.http.services.${service}.loadbalancer.server.port`]: "8080" },
        }));
        store.merge(0, remote(healthKey(service, node), node, 1_795_769_758, 3 + 2 * i, state("healthy")));
      }
    }
    const replicator = new StateReplicator(store, () => 0, 4, () => 100);
    expect(Object.keys(store.view(() => true).service_health)).toHaveLength(1000);
    expect(replicator.localState().length).toBeLessThan(1024 * 1024);
  });
});
