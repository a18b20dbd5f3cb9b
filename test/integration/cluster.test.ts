// Three real agent processes on loopback form a cluster: members, replicated
// node metadata, and a killed node leaving every view.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";

const main = join(import.meta.dir, "..", "..", "src", "main.ts");
const dir = mkdtempSync(join(tmpdir(), "constellation-cluster-"));
const processes: Array<ReturnType<typeof Bun.spawn>> = [];
afterAll(async () => {
  for (const child of processes) child.kill("SIGKILL");
  await Promise.all(processes.map((child) => child.exited));
  rmSync(dir, { recursive: true, force: true });
});

async function agent(name: string, priority: number, join?: number) {
  const [gossip, raft, api, provider] = await freePorts(4);
  const args = [process.execPath, main, "agent", "--profile", "local", "--node-name", name, "--priority", String(priority),
    "--gossip-port", String(gossip), "--raft-port", String(raft), "--api-port", String(api),
    "--provider-port", String(provider), "--data-dir", `${dir}/${name}`];
  if (join) args.push("--join", `127.0.0.1:${join}`);
  const child = Bun.spawn(args, { stdout: "ignore", stderr: "inherit" });
  processes.push(child);
  await waitFor(`${name} health`, async () => (await fetch(`http://127.0.0.1:${api}/health`)).ok || undefined);
  return { name, child, gossip: gossip!, api: `http://127.0.0.1:${api}` };
}

async function json(url: string): Promise<any> {
  return await (await fetch(url)).json();
}

test("agents replicate node metadata and drop a killed node from every view", async () => {
  const a = await agent("alpha", 10);
  const b = await agent("beta", 20, a.gossip);
  const c = await agent("gamma", 30, a.gossip);
  for (const node of [a, b, c]) {
    await waitFor(`${node.name} sees three nodes`, async () => Object.keys((await json(`${node.api}/api/v1/nodes`)).nodes).length === 3 || undefined);
  }
  const nodes = (await json(`${c.api}/api/v1/nodes`)).nodes;
  expect(nodes.alpha.priority).toBe(10);
  expect(nodes.beta.tailscale_ip).toBe("127.0.0.1");
  const status = await json(`${b.api}/api/v1/status`);
  expect(status.cluster.nodes).toBe(3);

  const cli = Bun.spawnSync([process.execPath, main, "nodes", "--api", a.api]);
  expect(cli.stdout.toString()).toMatch(/alpha\s+127\.0\.0\.1\s+-\s+10/);

  c.child.kill("SIGKILL");
  for (const node of [a, b]) {
    await waitFor(`${node.name} drops gamma`, async () => !("gamma" in (await json(`${node.api}/api/v1/nodes`)).nodes) || undefined, 40_000);
  }
  const members = (await json(`${a.api}/api/v1/members`)).members as Array<{ name: string; state: string }>;
  expect(members.find((m) => m.name === "gamma")?.state).toBe("dead");
}, 90_000);
