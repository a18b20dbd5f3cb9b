// How the agent's Raft node reads gossip: addresses and preferences from
// member metadata, the autopilot's view (other clusters, graceful leaves,
// forgotten voters), which messages pass between clusters, and when an
// operator's remove-peer is refused.

import { describe, expect, test } from "bun:test";
import { encodeMemberMeta, type MemberMeta } from "../../src/state/member-meta.ts";
import {
  GoneMembers,
  admitMessage,
  autopilotMembers,
  describeMember,
  foundersInView,
  removePeerRefusal,
  sendAllowed,
  unknownPriority,
  type RaftMember,
} from "../../src/node/raft-peers.ts";
import type { NodeState } from "../../src/gossip/messages.ts";
import { Autopilot, autopilotDefaults, clusterIdOf } from "../../src/raft/autopilot.ts";

function meta(extra: Partial<MemberMeta> = {}): Uint8Array {
  return encodeMemberMeta({ v: 1, priority: 10, cordoned: false, raft_port: 8300, api_port: 8080, provider_port: 8081, public_ip: "", ...extra });
}

function member(name: string, extra: Partial<RaftMember> = {}): RaftMember {
  return { name, state: "alive", stateChangeMs: 0, raftAddress: `10.0.0.1:8300`, apiUrl: undefined, priority: 100, cordoned: false, clusterId: undefined, ...extra };
}

describe("describeMember", () => {
  test("reads the Raft address, API, priority, cordon and cluster from our metadata", () => {
    const info = describeMember({ name: "a", host: "fd7a::1", state: "suspect", stateChangeMs: 5, meta: meta({ raft_cluster: "abc123", cordoned: true }) });
    expect(info).toEqual({
      name: "a",
      state: "suspect",
      stateChangeMs: 5,
      raftAddress: "[fd7a::1]:8300",
      apiUrl: "http://[fd7a::1]:8080",
      priority: 10,
      cordoned: true,
      clusterId: "abc123",
    });
  });

  test.each([
    ["foreign metadata", new TextEncoder().encode("v2")],
    ["no metadata", new Uint8Array(0)],
    ["a malformed cluster id", meta({ raft_cluster: "NOT HEX" })],
  ])("%s: not Raft-capable, never preferred", (_, bytes) => {
    const info = describeMember({ name: "x", host: "10.0.0.2", state: "alive", stateChangeMs: 0, meta: bytes });
    expect(info.raftAddress).toBeUndefined();
    expect(info.priority).toBe(unknownPriority);
    expect(info.clusterId).toBeUndefined();
  });

  test("raft_port 0 means the node takes no part in Raft", () => {
    expect(describeMember({ name: "x", host: "10.0.0.2", state: "alive", stateChangeMs: 0, meta: meta({ raft_port: 0 }) }).raftAddress).toBeUndefined();
  });
});

describe("autopilotMembers", () => {
  test("members of another cluster are not Raft-capable once this node belongs to one", () => {
    const members = [member("b", { clusterId: "c2" }), member("a", { clusterId: "c1" }), member("c")];
    expect(autopilotMembers(members, "c1", []).map((m) => [m.name, m.raftCapable, m.clusterId])).toEqual([
      ["a", true, "c1"],
      ["b", false, "c2"],
      ["c", true, undefined],
    ]);
    // Before this node belongs to a cluster, every advertised cluster counts (it stops a bootstrap).
    expect(autopilotMembers(members, undefined, []).every((m) => m.raftCapable)).toBe(true);
  });

  test("a member that left counts as dead since it left, so a restart does not shrink the configuration", () => {
    const [view] = autopilotMembers([member("a", { state: "left", stateChangeMs: 1234 })], "c1", []);
    expect(view).toMatchObject({ name: "a", state: "dead", stateChangeMs: 1234 });
  });
});

describe("GoneMembers", () => {
  test("a voter gossip forgot stays dead since gossip last showed it dead", () => {
    const gone = new GoneMembers();
    expect(gone.standIns([member("b", { state: "dead", stateChangeMs: 100, priority: 7 })], ["a", "b"], "a", 150)).toEqual([]);
    expect(gone.standIns([], ["a", "b"], "a", 5000)).toEqual([
      { name: "b", raftCapable: true, state: "dead", stateChangeMs: 100, priority: 7, cordoned: false },
    ]);
  });

  test("a voter gossip never showed (this node restarted) counts as dead from when it was first missed", () => {
    const gone = new GoneMembers();
    expect(gone.standIns([], ["a", "b"], "a", 1000)[0]).toMatchObject({ name: "b", state: "dead", stateChangeMs: 1000 });
    expect(gone.standIns([], ["a", "b"], "a", 9000)[0]).toMatchObject({ stateChangeMs: 1000 });
  });

  test("one that left before gossip forgot it is dead since it left; one seen alive is dead from now", () => {
    const gone = new GoneMembers();
    gone.standIns([member("b", { state: "left", stateChangeMs: 40 }), member("c", { state: "alive", stateChangeMs: 10 })], ["b", "c"], "a", 50);
    expect(gone.standIns([], ["b", "c"], "a", 700).map((m) => [m.name, m.state, m.stateChangeMs])).toEqual([
      ["b", "dead", 40],
      ["c", "dead", 700],
    ]);
  });

  test("members that leave the configuration are forgotten", () => {
    const gone = new GoneMembers();
    gone.standIns([], ["a", "b"], "a", 1000);
    gone.standIns([], ["a"], "a", 2000);
    expect(gone.standIns([], ["a", "b"], "a", 3000)[0]).toMatchObject({ stateChangeMs: 3000 });
  });
});

describe("messages between clusters", () => {
  const conf = { voters: ["a", "b"], learners: ["n"] };
  test.each([
    ["same cluster", "c1", member("b", { clusterId: "c1" }), true],
    ["another cluster", "c1", member("b", { clusterId: "c2" }), false],
    ["no cluster yet, in the configuration (a founder or a new learner)", "c1", member("n"), true],
    ["no cluster, not in the configuration", "c1", member("x"), false],
    ["this node in no cluster, sender in one", undefined, member("x", { clusterId: "c9" }), true],
    ["neither in a cluster", undefined, member("x"), false],
    ["sender unknown to gossip", "c1", undefined, false],
  ])("%s", (_, self, sender, accepted) => {
    expect(admitMessage(self, conf, sender).accept).toBe(accepted);
  });

  test("a node in no cluster joins the sender's", () => {
    expect(admitMessage(undefined, { voters: [], learners: [] }, member("x", { clusterId: "c9" }))).toEqual({ accept: true, adopt: "c9" });
    expect(admitMessage("c1", conf, member("b", { clusterId: "c1" }))).toEqual({ accept: true, adopt: undefined });
  });

  test("nothing is sent into another cluster", () => {
    expect(sendAllowed("c1", member("b", { clusterId: "c2" }))).toBe(false);
    expect(sendAllowed("c1", member("b", { clusterId: "c1" }))).toBe(true);
    expect(sendAllowed("c1", member("b"))).toBe(true);
  });
});

describe("removePeerRefusal", () => {
  const conf = { voters: ["a", "b", "c"], learners: ["d"] };
  test.each<[string, string, NodeState | undefined, boolean, number | undefined, string]>([
    ["a dead voter", "c", "dead", false, undefined, ""],
    ["a voter gossip does not know", "c", undefined, false, undefined, ""],
    ["a live voter", "b", "alive", false, 409, "stop it first"],
    ["a suspect voter", "b", "suspect", false, 409, "suspect according to gossip"],
    ["a live voter, forced", "b", "alive", true, undefined, ""],
    ["the leader itself", "a", "alive", false, 409, "this node"],
    ["a dead learner", "d", "dead", false, undefined, ""],
    ["a non-member", "z", "dead", true, 404, "neither a voter nor a learner"],
  ])("%s", (_, id, state, force, status, error) => {
    const refusal = removePeerRefusal(conf, id, "a", state, force);
    expect(refusal?.status).toBe(status as 404 | 409 | undefined);
    if (error) expect(refusal?.error).toContain(error);
  });

  test("the last voter is never removed, even forced", () => {
    expect(removePeerRefusal({ voters: ["a"], learners: ["b"] }, "a", "a", "alive", true)).toMatchObject({ status: 409, error: expect.stringContaining("last voter") });
  });
});

describe("foundersInView", () => {
  const members = [member("d"), member("b"), member("x", { raftAddress: undefined }), member("a"), member("c", { state: "suspect" })];

  test("picks the founders the Autopilot picks, so an adopted cluster id can be checked against them", () => {
    const config = { ...autopilotDefaults, bootstrapExpect: 3, maxVoters: 5, bootstrapStableMs: 0 };
    const pilot = new Autopilot();
    const input = { nowMs: 0, self: "a", raft: undefined, members: autopilotMembers(members, undefined, []), config };
    expect(pilot.decide(input)).toBeUndefined(); // the first sight of a set starts its stability wait
    const action = pilot.decide(input);
    const founders = foundersInView(members, 3, "a");
    expect(founders).toEqual(["a", "b", "d"]);
    expect(action).toEqual({ kind: "bootstrap", voters: founders!, clusterId: clusterIdOf(founders!) });
  });

  test("none when this node is not among them or too few are live", () => {
    expect(foundersInView(members, 2, "d")).toBeUndefined();
    expect(foundersInView(members, 4, "a")).toBeUndefined();
  });
});
