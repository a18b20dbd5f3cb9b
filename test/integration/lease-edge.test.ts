// The lb_leader lease moving the public ports, in real agents on the real
// engine: three agents on loopback, each limited to its own containers by a
// scope label and given its own stand-in edge proxy (busybox httpd) and its
// own loopback port as "the public port". Once leadership settles on the
// best priority, exactly the lease holder's proxy publishes; after kill -9 of the holder another agent takes the lease and
// its proxy publishes, within a bounded time (printed, not asserted).

import { afterAll, expect } from "bun:test";
import { testWith } from "../support/components.ts";
import { DockerTestEnv, dockerReady, dockerSocket } from "../support/docker.ts";
import { type AgentProcess, AgentProcesses, getJson } from "../support/agent-process.ts";
import { freePorts } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";
import type { LeasesView } from "../../src/api/lease-api.ts";

const ready = await dockerReady();
const dockerTest = testWith(ready.missing);
const env = ready.image ? new DockerTestEnv(ready.image) : undefined;
const agents = new AgentProcesses("constellation-lease-edge-");
afterAll(async () => {
  await agents.close();
  await env?.cleanup();
});

async function answers(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function published(env: DockerTestEnv, name: string): Promise<boolean> {
  const inspected = await env.docker.getContainer(name).inspect();
  return Object.keys(inspected.HostConfig.PortBindings ?? {}).length > 0;
}

async function holder(agent: AgentProcess): Promise<string | undefined> {
  const view = await getJson<LeasesView>(agent, "/api/v1/leases").catch(() => undefined);
  return view?.leases.find((lease) => lease.lease === "lb_leader" && lease.acting) ? agent.name : undefined;
}

dockerTest(
  "the lb_leader's edge proxy publishes the public port, and the port moves with the lease after kill -9",
  async () => {
    const network = await env!.network("lease-edge", { internal: false });
    const ports = await freePorts(3);
    const nodes: Array<{ agent: AgentProcess; proxy: string; port: number; env: Record<string, string> }> = [];
    for (const [i, name] of ["alpha", "bravo", "charlie"].entries()) {
      const agent = await agents.make(name, 10 * (i + 1));
      const scope = `${env!.runId}-${name}`;
      const proxy = env!.name(`edge-${name}`);
      await env!.container({
        name: proxy,
        networks: [network],
        labels: { "constellation.test.scope": scope },
        cmd: ["sh", "-c", "echo ok > /www/index.html && exec httpd -f -p 80 -h /www"],
      });
      nodes.push({
        agent,
        proxy,
        port: ports[i]!,
        env: {
          CONSTELLATION_DOCKER_SOCKET_PATH: dockerSocket,
          CONSTELLATION_DOCKER_SCOPE_LABEL: `constellation.test.scope=${scope}`,
          CONSTELLATION_DOCKER_EDGE_CONTAINER_NAME: proxy,
          CONSTELLATION_DOCKER_EDGE_BINDINGS: `127.0.0.1:${ports[i]}:80`,
          CONSTELLATION_DOCKER_RESTART_STOP_TIMEOUT_SECONDS: "1",
        },
      });
    }
    const seeds = nodes.map((node) => `127.0.0.1:${node.agent.gossip}`).join(",");
    for (const node of nodes) agents.start(node.agent, ["--bootstrap-expect", "3", "--join", seeds], node.env);

    // Whoever leads first, leadership (and with it the lease) settles on the best priority: alpha.
    const leader = nodes[0]!;
    await waitFor("alpha to act on lb_leader", () => holder(leader.agent), 60_000);
    await waitFor("alpha's proxy to answer on its public port", () => answers(leader.port) || undefined, 60_000);
    for (const other of nodes.slice(1)) {
      await waitFor(`${other.agent.name}'s proxy to publish nothing`, async () => !(await published(env!, other.proxy)) || undefined, 60_000);
      expect(await answers(other.port)).toBe(false);
    }

    const killedAt = performance.now();
    await agents.kill(leader.agent, "SIGKILL");
    const survivors = nodes.filter((node) => node !== leader);
    const next = await waitFor("a survivor to act on lb_leader", async () => (await Promise.all(survivors.map((n) => holder(n.agent)))).find(Boolean), 30_000, 20);
    const leaseMs = performance.now() - killedAt;
    const successor = survivors.find((node) => node.agent.name === next)!;
    await waitFor("the successor's proxy to answer on its public port", () => answers(successor.port) || undefined, 30_000, 20);
    const portMs = performance.now() - killedAt;
    console.log(`lb_leader ${leader.agent.name} killed: ${successor.agent.name} acts after ${Math.round(leaseMs)} ms, its proxy publishes after ${Math.round(portMs)} ms`);
    const remaining = survivors.find((node) => node !== successor)!;
    expect(await published(env!, remaining.proxy)).toBe(false);
    const views = await Promise.all(survivors.map((node) => getJson<LeasesView>(node.agent, "/api/v1/leases")));
    for (const view of views) expect(view.leases.find((lease) => lease.lease === "lb_leader")!.holder).toBe(successor.agent.name);
  },
  120_000,
);
