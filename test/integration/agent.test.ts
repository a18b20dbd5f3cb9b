// The embedded default as an operator runs it: a real agent process on
// loopback, asked through the CLI, stopped with SIGTERM.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "../support/ports.ts";
import { embeddedDefaultEnv } from "../support/agent-process.ts";
import { waitFor } from "../support/wait.ts";

const repo = join(import.meta.dir, "..", "..");
const main = join(repo, "src", "main.ts");
const dataDir = mkdtempSync(join(tmpdir(), "constellation-agent-test-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

test("the embedded default agent serves health on both ports and stops cleanly", async () => {
  const [gossip, raft, api, provider] = (await freePorts(4)) as [number, number, number, number];
  const env = embeddedDefaultEnv({ gossip, raft, api, provider }, dataDir, "test-node");
  const agent = Bun.spawn([process.execPath, main, "agent"], { env, stdout: "pipe", stderr: "pipe" });
  try {
    await waitFor("control API health", async () => (await fetch(`http://127.0.0.1:${api}/health`)).ok || undefined);
    const providerHealth = await fetch(`http://127.0.0.1:${provider}/health`);
    expect(await providerHealth.json()).toEqual({ status: "ok" });
    // A lone node is the whole cluster: it serves a (still empty) document at once, with an ETag.
    const dynamic = await fetch(`http://127.0.0.1:${provider}/api/dynamic`);
    expect(dynamic.status).toBe(200);
    expect(dynamic.headers.get("etag")).toBeTruthy();

    const status = Bun.spawnSync([process.execPath, main, "status", "--json", "--api", `http://127.0.0.1:${api}`]);
    expect(status.exitCode).toBe(0);
    const view = JSON.parse(status.stdout.toString());
    expect(view.node).toBe("test-node");
    expect(view.profile).toBe("lan");

    // Without --api the CLI finds the local agent from the same configuration.
    const local = Bun.spawnSync([process.execPath, main, "status"], { env });
    expect(local.exitCode).toBe(0);
    expect(local.stdout.toString()).toContain("node:     test-node");
  } finally {
    agent.kill("SIGTERM");
  }
  expect(await agent.exited).toBe(0);
  const log = await new Response(agent.stdout).text();
  const lines = log.trim().split("\n").map((line) => JSON.parse(line));
  expect(lines.map((l) => l.msg)).toContain("agent ready");
  expect(lines.at(-1).msg).toBe("stopped");
});

test("a port already in use fails start-up with a clear message", async () => {
  const [gossip, raft, api, provider] = await freePorts(4);
  const blocker = Bun.serve({ hostname: "127.0.0.1", port: api!, fetch: () => new Response("busy") });
  try {
    const result = Bun.spawnSync(
      [process.execPath, main, "agent", "--gossip-port", String(gossip), "--raft-port", String(raft),
        "--api-port", String(api), "--provider-port", String(provider), "--data-dir", join(dataDir, "port-in-use")],
      { stdout: "pipe", stderr: "pipe", timeout: 20_000 },
    );
    expect(result.exitCode).toBe(1);
    expect(result.stderr.toString()).toContain(`port ${api} on 127.0.0.1 is already in use`);
  } finally {
    blocker.stop(true);
  }
});

test("an invalid configuration value stops start-up and names key and source", () => {
  const result = Bun.spawnSync([process.execPath, main, "agent", "--data-dir", dataDir], {
    env: { ...process.env, NODE_PRIORITY: "-5" },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(result.exitCode).toBe(1);
  expect(result.stderr.toString()).toContain('priority = -5 (from environment variable NODE_PRIORITY): expected an integer from 0 to 1000000');
});
