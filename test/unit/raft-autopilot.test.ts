// Raft membership automation: bootstrap from exactly the expected set, growth
// through learners, removal of dead voters when quorum allows, and leadership
// preference without flapping.

import { describe, expect, test } from "bun:test";
import { Autopilot, autopilotDefaults, clusterIdOf, type AutopilotInput, type AutopilotMember, type AutopilotRaft } from "../../src/raft/autopilot.ts";

const config = { ...autopilotDefaults, bootstrapExpect: 3, maxVoters: 5 };

function member(name: string, extra: Partial<AutopilotMember> = {}): AutopilotMember {
  return { name, raftCapable: true, state: "alive", stateChangeMs: 0, priority: 100, cordoned: false, ...extra };
}

function leader(voters: string[], learners: string[] = [], extra: Partial<AutopilotRaft> = {}): AutopilotRaft {
  const match = Object.fromEntries([...voters, ...learners].map((id) => [id, 100]));
  return { isLeader: true, voters, learners, match, lastIndex: 100, changePending: false, ...extra };
}

function input(self: string, members: AutopilotMember[], raft?: AutopilotRaft, nowMs = 100_000, overrides = {}): AutopilotInput {
  return { nowMs, self, raft, members, config: { ...config, ...overrides } };
}

describe("bootstrap", () => {
  test("waits for the expected count and a stable view, then every founder picks the same set", () => {
    const members = ["c", "a", "d", "b"].map((n) => member(n));
    const views = ["a", "b", "c", "d"].map((self) => {
      const pilot = new Autopilot();
      expect(pilot.decide(input(self, members.slice(0, 2), undefined, 0))).toBeUndefined();
      expect(pilot.decide(input(self, members, undefined, 1000))).toBeUndefined();
      return pilot.decide(input(self, members, undefined, 1000 + config.bootstrapStableMs));
    });
    const founders = { kind: "bootstrap" as const, voters: ["a", "b", "c"], clusterId: clusterIdOf(["c", "b", "a"]) };
    expect(views).toEqual([founders, founders, founders, undefined]);
  });

  test("a change in the view restarts the wait", () => {
    const pilot = new Autopilot();
    const three = ["a", "b", "c"].map((n) => member(n));
    pilot.decide(input("a", three, undefined, 0));
    pilot.decide(input("a", [...three.slice(0, 2), member("aa")], undefined, 2000));
    expect(pilot.decide(input("a", [...three.slice(0, 2), member("aa")], undefined, 4000))).toBeUndefined();
  });

  test("one expected node bootstraps alone at once; an existing cluster is never re-founded", () => {
    expect(new Autopilot().decide(input("a", [member("a")], undefined, 0, { bootstrapExpect: 1 }))).toMatchObject({ kind: "bootstrap", voters: ["a"] });
    const existing = [member("a"), member("b"), member("c", { clusterId: "abc" })];
    expect(new Autopilot().decide(input("a", existing, undefined, 10_000))).toBeUndefined();
  });
});

describe("growth and repair", () => {
  test("newcomers join as learners, caught-up learners are promoted to an odd count", () => {
    const pilot = new Autopilot();
    const members = ["a", "b", "c", "d", "e", "f"].map((n) => member(n));
    expect(pilot.decide(input("a", members, leader(["a", "b", "c"])))).toEqual({ kind: "add-learner", id: "d" });
    expect(pilot.decide(input("a", members, leader(["a", "b", "c"], ["d", "e", "f"])))).toEqual({ kind: "promote", id: "d" });
    expect(pilot.decide(input("a", members, leader(["a", "b", "c", "d", "e"], ["f"])))).toBeUndefined();
    const behind = leader(["a", "b", "c"], ["d"], { match: { a: 100, b: 100, c: 100, d: 10 } });
    expect(pilot.decide(input("a", members.slice(0, 4), behind))).toBeUndefined();
    // Four eligible members give three voters, never four.
    expect(pilot.decide(input("a", members.slice(0, 4), leader(["a", "b", "c"], ["d"])))).toBeUndefined();
  });

  test("only a leader acts, and never while a change is pending", () => {
    const members = ["a", "b", "c", "d"].map((n) => member(n));
    expect(new Autopilot().decide(input("a", members, leader(["a", "b", "c"], [], { isLeader: false })))).toBeUndefined();
    expect(new Autopilot().decide(input("a", members, leader(["a", "b", "c"], [], { changePending: true })))).toBeUndefined();
  });

  test("dead voters are removed after the delay when the rest keep a majority", () => {
    const pilot = new Autopilot();
    const deadSince = (ms: number) => member("c", { state: "dead", stateChangeMs: ms });
    expect(pilot.decide(input("a", [member("a"), member("b"), deadSince(90_000)], leader(["a", "b", "c"])))).toBeUndefined();
    expect(pilot.decide(input("a", [member("a"), member("b"), deadSince(0)], leader(["a", "b", "c"])))).toMatchObject({ kind: "remove", id: "c" });
    // Two of three dead: removing one would leave {a, b} with b dead, no majority alive.
    const twoDead = [member("a"), member("b", { state: "dead" }), deadSince(0)];
    expect(pilot.decide(input("a", twoDead, leader(["a", "b", "c"])))).toBeUndefined();
    expect(pilot.decide(input("a", [member("a"), member("b"), member("c", { state: "left" })], leader(["a", "b", "c"])))).toMatchObject({
      kind: "remove",
      id: "c",
      reason: "voter left the cluster",
    });
  });
});

describe("leadership preference", () => {
  test("moves to a better priority, never between equals, and holds after a transfer", () => {
    const pilot = new Autopilot();
    const members = [member("a", { priority: 50 }), member("b", { priority: 10 }), member("c", { priority: 50 })];
    expect(pilot.decide(input("a", members, leader(["a", "b", "c"])))).toMatchObject({ kind: "transfer", to: "b" });
    pilot.noteTransfer(100_000);
    expect(pilot.decide(input("a", members, leader(["a", "b", "c"]), 105_000))).toBeUndefined();
    const equals = [member("a", { priority: 50 }), member("c", { priority: 50 })];
    expect(new Autopilot().decide(input("a", equals, leader(["a", "c"])))).toBeUndefined();
  });

  test("a cordoned leader hands over; lagging or cordoned candidates are skipped", () => {
    const members = [member("a", { cordoned: true }), member("b", { cordoned: true, priority: 1 }), member("c")];
    expect(new Autopilot().decide(input("a", members, leader(["a", "b", "c"])))).toMatchObject({ kind: "transfer", to: "c" });
    const lagging = leader(["a", "b", "c"], [], { match: { a: 100, b: 100, c: 50 } });
    expect(new Autopilot().decide(input("a", members, lagging))).toBeUndefined();
  });
});
