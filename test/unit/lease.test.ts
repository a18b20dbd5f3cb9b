// The lease table (replicated, pure) and one node's lease manager: grants,
// renewals, releases and fencing tokens; when a leader proposes, how long it
// waits out another holder, and when a node may act.

import { describe, expect, test } from "bun:test";
import { type LeaseCommand, LeaseTable, commandBytesMax, decodeLeaseCommand, encodeLeaseCommand } from "../../src/lease/table.ts";
import { LeaseManager } from "../../src/lease/manager.ts";

const encoder = new TextEncoder();
const timing = { ttlMs: 2000, renewIntervalMs: 500, clockDriftMax: 0.01 };

describe("lease commands", () => {
  test("round-trip every operation", () => {
    const commands: LeaseCommand[] = [
      { op: "acquire", lease: "lb_leader", holder: "a", ttlMs: 2000, expect: 7, nonce: "x.1" },
      { op: "renew", lease: "dns_writer", holder: "b", ttlMs: 8000, token: 9, nonce: "y.2" },
      { op: "release", lease: "lb_leader", holder: "c", token: 11, nonce: "z.3" },
    ];
    for (const command of commands) expect(decodeLeaseCommand(encodeLeaseCommand(command))).toEqual({ ok: true, command });
  });

  test.each([
    ["not JSON", "{", "not JSON"],
    ["an array", "[]", "not a JSON object"],
    ["another format", '{"v":2}', "command format 2"],
    ["an unknown lease", '{"v":1,"op":"acquire","lease":"boss","holder":"a","nonce":""}', "unknown lease"],
    ["no holder", '{"v":1,"op":"acquire","lease":"lb_leader","holder":"","nonce":""}', "holder"],
    ["a zero TTL", '{"v":1,"op":"acquire","lease":"lb_leader","holder":"a","nonce":"","ttl_ms":0,"expect":0}', "ttl_ms"],
    ["a fractional token", '{"v":1,"op":"renew","lease":"lb_leader","holder":"a","nonce":"","ttl_ms":5,"token":1.5}', "token"],
    ["an unknown operation", '{"v":1,"op":"steal","lease":"lb_leader","holder":"a","nonce":""}', "unknown operation"],
  ])("refuses %s", (_, text, error) => {
    const decoded = decodeLeaseCommand(encoder.encode(text));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toContain(error);
  });

  test("refuses an oversized command", () => {
    expect(decodeLeaseCommand(new Uint8Array(commandBytesMax + 1))).toMatchObject({ ok: false });
  });
});

describe("the lease table", () => {
  test("grants a free lease, renews and releases it, with growing tokens", () => {
    const table = new LeaseTable();
    expect(table.apply(3, { op: "acquire", lease: "lb_leader", holder: "a", ttlMs: 2000, expect: 0, nonce: "" })).toMatchObject({ ok: true, state: { holder: "a", token: 3, version: 3 } });
    expect(table.apply(5, { op: "renew", lease: "lb_leader", holder: "a", ttlMs: 2000, token: 3, nonce: "" })).toMatchObject({ ok: true, state: { token: 3, version: 5 } });
    expect(table.apply(6, { op: "renew", lease: "lb_leader", holder: "b", ttlMs: 2000, token: 3, nonce: "" })).toMatchObject({ ok: false, reason: "held by a under token 3" });
    expect(table.apply(7, { op: "release", lease: "lb_leader", holder: "a", token: 3, nonce: "" })).toMatchObject({ ok: true, state: { holder: "", released: true, version: 7 } });
    expect(table.apply(8, { op: "acquire", lease: "lb_leader", holder: "b", ttlMs: 2000, expect: 0, nonce: "" })).toMatchObject({ ok: true, state: { holder: "b", token: 8 } });
    expect(table.get("dns_writer").holder).toBe("");
  });

  test("a takeover succeeds only at the version it waited out", () => {
    const table = new LeaseTable();
    table.apply(3, { op: "acquire", lease: "dns_writer", holder: "a", ttlMs: 2000, expect: 0, nonce: "" });
    table.apply(4, { op: "renew", lease: "dns_writer", holder: "a", ttlMs: 2000, token: 3, nonce: "" });
    expect(table.apply(6, { op: "acquire", lease: "dns_writer", holder: "b", ttlMs: 2000, expect: 3, nonce: "" })).toMatchObject({ ok: false });
    expect(table.apply(7, { op: "acquire", lease: "dns_writer", holder: "b", ttlMs: 2000, expect: 4, nonce: "" })).toMatchObject({ ok: true, state: { holder: "b", token: 7 } });
    // The old holder's renewal after the takeover is refused.
    expect(table.apply(8, { op: "renew", lease: "dns_writer", holder: "a", ttlMs: 2000, token: 3, nonce: "" })).toMatchObject({ ok: false });
  });

  test("image and restore", () => {
    const table = new LeaseTable();
    table.apply(3, { op: "acquire", lease: "lb_leader", holder: "a", ttlMs: 2000, expect: 0, nonce: "" });
    const copy = new LeaseTable();
    expect(copy.restore(JSON.parse(JSON.stringify(table.image())))).toBeUndefined();
    expect(copy.get("lb_leader")).toEqual(table.get("lb_leader"));
    expect(copy.restore({ lb_leader: { holder: "a", token: -1 } })).toContain("malformed");
    expect(copy.get("lb_leader").holder).toBe("");
  });
});

/** A manager with its own table and an in-order log it applies proposals through. */
function node(self: string, table = new LeaseTable(), startMs = 0) {
  const manager = new LeaseManager(self, timing, table, `${self}-run`, startMs);
  let index = 10;
  const apply = (command: LeaseCommand, nowMs: number) => manager.applied(command, table.apply(++index, command), nowMs);
  return { manager, table, apply };
}

describe("the lease manager", () => {
  test("a ready leader acquires both leases, acts until its deadline from sending, and renews", () => {
    const { manager, apply } = node("a");
    expect(manager.tick(0).proposals).toEqual([]); // not the leader
    manager.setRole(true, false, 0);
    expect(manager.tick(0).proposals).toEqual([]); // leader, but its table may be old
    manager.setRole(true, true, 100);
    const { proposals } = manager.tick(100);
    expect(proposals.map((p) => [p.command.op, p.command.lease])).toEqual([["acquire", "lb_leader"], ["acquire", "dns_writer"]]);
    expect(manager.mayAct("lb_leader", 100)).toBe(false);
    const events = apply(proposals[0]!.command, 150);
    expect(events).toEqual([{ kind: "gained", lease: "lb_leader", token: 11, reason: "granted" }]);
    expect(manager.mayAct("lb_leader", 2099)).toBe(true);
    expect(manager.mayAct("lb_leader", 2099, 11)).toBe(true);
    expect(manager.mayAct("lb_leader", 2099, 10)).toBe(false);
    expect(manager.mayAct("lb_leader", 2100)).toBe(false); // 100 (sent) + 2000
    expect(manager.tick(400).proposals.map((p) => p.command.op)).toEqual([]); // interval not yet elapsed
    const renew = manager.tick(600).proposals;
    expect(renew.map((p) => [p.command.op, p.command.lease])).toEqual([["renew", "lb_leader"], ["acquire", "dns_writer"]]);
    apply(renew[0]!.command, 700);
    expect(manager.mayAct("lb_leader", 2599)).toBe(true);
    expect(manager.tick(2600).events).toEqual([{ kind: "lost", lease: "lb_leader", token: 11, reason: "not renewed before its deadline" }]);
  });

  test("losing leadership stops acting at once", () => {
    const { manager, apply } = node("a");
    manager.setRole(true, true, 0);
    apply(manager.tick(0).proposals[0]!.command, 10);
    expect(manager.mayAct("lb_leader", 20)).toBe(true);
    expect(manager.setRole(false, false, 30)).toEqual([{ kind: "lost", lease: "lb_leader", token: 11, reason: "no longer the Raft leader" }]);
    expect(manager.mayAct("lb_leader", 31)).toBe(false);
  });

  test("a new leader waits out another holder's lease, widened by the drift bound, from when it applied the last renewal", () => {
    const table = new LeaseTable();
    const a = node("a", table);
    a.manager.setRole(true, true, 0);
    for (const { command } of a.manager.tick(0).proposals) a.apply(command, 5);
    // b shares the table (as a replica would) and saw the grants applied at its time 5.
    const b = new LeaseManager("b", timing, table, "b-run", 0);
    b.restored(5);
    b.setRole(true, true, 10);
    expect(b.tick(10).proposals).toEqual([]);
    expect(b.tick(2024).proposals).toEqual([]); // 5 + 2000 x 1.01 = 2025
    const takeovers = b.tick(2025).proposals;
    expect(takeovers.map((p) => [p.command.op, p.command.op === "acquire" ? p.command.expect : 0])).toEqual([["acquire", 11], ["acquire", 12]]);
    expect(b.views(2025)[0]).toMatchObject({ lease: "lb_leader", holder: "a", acting: false, takeoverInMs: 0 });
  });

  test("a released lease is taken at once", () => {
    const table = new LeaseTable();
    const a = node("a", table);
    a.manager.setRole(true, true, 0);
    for (const { command } of a.manager.tick(0).proposals) a.apply(command, 5);
    const released = a.manager.release(10);
    expect(released.events.map((e) => [e.kind, e.reason])).toEqual([["lost", "released"], ["lost", "released"]]);
    expect(a.manager.mayAct("lb_leader", 11)).toBe(false);
    for (const { command } of released.proposals) a.apply(command, 20);
    const b = new LeaseManager("b", timing, table, "b-run", 20);
    b.setRole(true, true, 30);
    expect(b.tick(30).proposals.map((p) => p.command.op)).toEqual(["acquire", "acquire"]);
  });

  test("after a restart the holder does not act before a fresh renewal applies", () => {
    const table = new LeaseTable();
    const before = node("a", table);
    before.manager.setRole(true, true, 0);
    const earlier = before.manager.tick(0).proposals;
    for (const { command } of earlier) before.apply(command, 5);
    const after = new LeaseManager("a", timing, table, "a-run2", 100);
    after.setRole(true, true, 100);
    expect(after.mayAct("lb_leader", 100)).toBe(false);
    // The earlier run's proposals carry another run's nonce: seeing one applied grants nothing here.
    after.applied(earlier[0]!.command, table.apply(15, earlier[0]!.command), 105);
    expect(after.mayAct("lb_leader", 105)).toBe(false);
    const renewals = after.tick(105).proposals;
    expect(renewals.map((p) => p.command.op)).toEqual(["renew", "renew"]);
    after.applied(renewals[0]!.command, table.apply(20, renewals[0]!.command), 110);
    expect(after.mayAct("lb_leader", 110)).toBe(true);
    expect(after.mayAct("dns_writer", 110)).toBe(false);
  });

  test("a paused holder resumes past its deadline and does not act", () => {
    const { manager, apply } = node("a");
    manager.setRole(true, true, 0);
    apply(manager.tick(0).proposals[0]!.command, 1);
    expect(manager.mayAct("lb_leader", 1999)).toBe(true);
    expect(manager.mayAct("lb_leader", 60_000)).toBe(false);
  });

  test("a refused proposal can be retried at once; a late grant never extends past its own deadline", () => {
    const { manager, apply } = node("a");
    manager.setRole(true, true, 0);
    const first = manager.tick(0).proposals;
    for (const { nonce } of first) manager.proposalRefused(nonce);
    const second = manager.tick(1).proposals;
    expect(second.length).toBe(2);
    apply(second[0]!.command, 5000); // applied long after sending: its deadline (2001) already passed
    expect(manager.mayAct("lb_leader", 5000)).toBe(false);
  });
});

describe("handing leases over with the leadership", () => {
  test("the leader releases, stops acting, and takes them back only if it still leads later", () => {
    const { manager, apply } = node("a");
    manager.setRole(true, true, 0);
    for (const { command } of manager.tick(0).proposals) apply(command, 5);
    const { proposals, events } = manager.handover(10, 2000);
    expect(events.map((e) => e.reason)).toEqual(["released for a leadership handover", "released for a leadership handover"]);
    expect(proposals.map((p) => p.command.op)).toEqual(["release", "release"]);
    expect(manager.mayAct("lb_leader", 11)).toBe(false);
    for (const { command } of proposals) apply(command, 20);
    expect(manager.tick(1000).proposals).toEqual([]);
    // The transfer did not happen: still the leader after the window, so it acquires again at once.
    expect(manager.tick(2010).proposals.map((p) => p.command.op)).toEqual(["acquire", "acquire"]);
  });
});

test("a handover that did not start gives the leases back at the next tick", () => {
  const { manager, apply } = node("a");
  manager.setRole(true, true, 0);
  for (const { command } of manager.tick(0).proposals) apply(command, 5);
  for (const { command } of manager.handover(10, 2000).proposals) apply(command, 20);
  manager.handoverAborted();
  expect(manager.tick(30).proposals.map((p) => p.command.op)).toEqual(["acquire", "acquire"]);
});
