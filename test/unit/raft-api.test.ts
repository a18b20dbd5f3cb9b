// The Raft routes of the control API, without a socket: the original agent's
// status and leader paths, peers, and remove-peer behind the bearer token,
// passing the service's refusals through with their status and leader hint.

import { describe, expect, test } from "bun:test";
import { raftApi, type RaftControl, type RaftStatusView } from "../../src/api/raft-api.ts";
import type { MutationAuth } from "../../src/api/auth.ts";

const auth: MutationAuth = {
  configured: true,
  check: (header) => (header === "Bearer secret-token-123456" ? undefined : [401, "wrong bearer token"]),
};

const status: RaftStatusView = {
  is_leader: false,
  leader: "b",
  timestamp: "2026-01-01T00:00:00.000Z",
  node: "a",
  state: "running",
  cluster_id: "00ff",
  role: "follower",
  term: 3,
  voters: ["a", "b", "c"],
  learners: [],
  commit_index: 9,
  applied_index: 9,
  first_index: 1,
  last_index: 9,
  snapshot_index: 0,
  peers: {},
  counters: { messagesReceived: 4 },
};

const removals: Array<[string, boolean]> = [];
const control: RaftControl = {
  status: () => status,
  leader: () => ({ leader: "b", term: 3, timestamp: status.timestamp }),
  peers: () => ({ self: "a", leader: "b", term: 3, cluster_id: "00ff", last_index: 9, peers: [] }),
  removePeer(id, force) {
    removals.push([id, force]);
    if (id === "c") return { ok: true, accepted: { id, index: 10, term: 3 } };
    return { ok: false, status: 409, error: { error: "this node is not the leader; b is", leader: "b", leader_api: "http://10.0.0.2:8080" } };
  },
};

function request(app: ReturnType<typeof raftApi>, path: string, init?: RequestInit) {
  return app.handle(new Request(`http://agent${path}`, init));
}

function post(body: unknown, token = "secret-token-123456"): RequestInit {
  return { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) };
}

describe("raft API", () => {
  const app = raftApi({ raft: control, auth });

  test("status and leader keep the original agent's fields", async () => {
    const body = await (await request(app, "/api/v1/raft/status")).json();
    expect(body).toMatchObject({ is_leader: false, leader: "b", cluster_id: "00ff", voters: ["a", "b", "c"] });
    expect(await (await request(app, "/api/v1/raft/leader")).json()).toEqual({ leader: "b", term: 3, timestamp: status.timestamp });
    expect(((await (await request(app, "/api/v1/raft/peers")).json()) as { leader: string }).leader).toBe("b");
  });

  test("remove-peer needs the token, validates the body and passes refusals through", async () => {
    expect((await request(app, "/api/v1/raft/remove-peer", post({ id: "c" }, "wrong"))).status).toBe(401);
    expect((await request(app, "/api/v1/raft/remove-peer", post({ id: "" }))).status).toBe(422);
    const accepted = await request(app, "/api/v1/raft/remove-peer", post({ id: "c", force: true }));
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ id: "c", index: 10, term: 3 });
    const refused = await request(app, "/api/v1/raft/remove-peer", post({ id: "d" }));
    expect(refused.status).toBe(409);
    expect(await refused.json()).toEqual({ error: "this node is not the leader; b is", leader: "b", leader_api: "http://10.0.0.2:8080" });
    expect(removals).toEqual([["c", true], ["d", false]]);
  });

  test("without Raft every route answers 503", async () => {
    const none = raftApi({ auth });
    for (const path of ["/api/v1/raft/status", "/api/v1/raft/leader", "/api/v1/raft/peers"]) {
      expect((await request(none, path)).status).toBe(503);
    }
    expect((await request(none, "/api/v1/raft/remove-peer", post({ id: "c" }))).status).toBe(503);
  });
});
