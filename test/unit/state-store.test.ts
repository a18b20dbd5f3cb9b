// The replicated state store: owner versions, tombstones, epochs, validation, views.

import { describe, expect, test } from "bun:test";
import { StateStore, compareVersions, parseKey, serviceKey, type Entry } from "../../src/state/store.ts";
import { decodeStateMessage, encodeDelta, encodeFullState } from "../../src/state/wire.ts";
import type { ServiceHealth } from "../../src/state/model.ts";

function health(service: string, node: string, status: ServiceHealth["status"] = "healthy"): ServiceHealth {
  return {
    service_name: service,
    node_name: node,
    status,
    healthy: status === "healthy",
    checked_at: "2026-11-27T10:00:00.000Z",
    endpoints: { http: "http://10.76.0.5:8080" },
    networks: ["publicnet"],
    consecutive_failures: 0,
  };
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
    const key = serviceKey("web", "b");
    expect(store.merge(0, remote(key, "b", 5, 2, health("web", "b", "unhealthy")))).toBe("applied");
    expect(store.merge(0, remote(key, "b", 5, 1, health("web", "b", "healthy")))).toBe("ignored");
    expect(store.merge(0, remote(key, "b", 5, 2, health("web", "b", "healthy")))).toBe("ignored");
    expect((store.get(key)!.value as ServiceHealth).status).toBe("unhealthy");
    expect(store.merge(0, remote(key, "b", 5, 3, undefined))).toBe("applied");
    expect(store.view(() => true).service_health).toEqual({});
    // The deleted entry does not come back from an older copy.
    expect(store.merge(0, remote(key, "b", 5, 2, health("web", "b")))).toBe("ignored");
  });

  test("only the owner may author an entry, and values are validated", () => {
    const store = new StateStore("self", 1);
    expect(store.merge(0, remote(serviceKey("web", "b"), "c", 1, 1, health("web", "b")))).toBe("owner-mismatch");
    expect(store.merge(0, remote(serviceKey("web", "b"), "b", 1, 1, health("web", "c")))).toBe("invalid-value");
    expect(store.merge(0, remote("svc/web@b", "b", 1, 1, { status: "great" } as never))).toBe("invalid-value");
    expect(store.merge(0, remote("nonsense", "b", 1, 1, undefined))).toBe("malformed-key");
    expect(store.rejected["owner-mismatch"] + store.rejected["invalid-value"] + store.rejected["malformed-key"]).toBe(4);
    expect(store.size).toBe(0);
  });

  test("a restarted owner's new epoch drops everything it wrote before", () => {
    const store = new StateStore("self", 1);
    store.merge(0, remote(serviceKey("old", "b"), "b", 100, 7, health("old", "b")));
    store.merge(0, remote(serviceKey("web", "b"), "b", 100, 8, health("web", "b", "unhealthy")));
    expect(store.merge(0, remote(serviceKey("web", "b"), "b", 200, 1, health("web", "b")))).toBe("applied");
    expect(store.get(serviceKey("old", "b"))).toBeUndefined();
    expect(store.merge(0, remote(serviceKey("old", "b"), "b", 100, 7, health("old", "b")))).toBe("stale");
    expect((store.get(serviceKey("web", "b"))!.value as ServiceHealth).status).toBe("healthy");
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
    store.merge(0, remote(serviceKey("db", "c"), "c", 1, 1, health("db", "c")));
    store.merge(0, remote(serviceKey("gone", "c"), "c", 1, 2, undefined));
    expect(Object.keys(store.view((owner) => owner !== "b").service_health)).toEqual(["db@c"]);
    expect(store.collect(2000, () => undefined)).toEqual(["svc/gone@c"]);
    expect(store.collect(10_000, (owner) => (owner === "b" ? 0 : undefined))).toEqual(["svc/web@b"]);
    expect(store.size).toBe(1);
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
