// Three real agent processes on loopback share one dockerd, each watching
// only the containers that carry its own scope label, and form one cluster.
// Containers of the locally imported test image run the service `web` on
// alpha and beta and `api` on gamma; their healthcheck tests a file in a
// directory mounted from the host, so the test turns a container unhealthy
// by removing that file. Every node's /api/dynamic is held to the strict
// Traefik schema and compared with what the routing rules say it must be
// (local instances by container address, remote ones through their node's
// mesh entry point), through a health flip, a stop and start, and a kill -9
// of one agent. Before its first synchronisation a node answers 503.
//
// Each agent binds its own 127.0.0.x address, so the mesh targets of the
// three nodes differ. Containers sit on an internal network the test
// creates; no request is ever sent to them.

import { afterAll, expect } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { meshPortDefault } from "../../src/routing/options.ts";
import { checkTraefikDocument, type TraefikDocument } from "../../src/routing/traefik-schema.ts";
import { AgentProcesses, getJson, type AgentProcess } from "../support/agent-process.ts";
import { testWith } from "../support/components.ts";
import { DockerTestEnv, dockerReady, dockerSocket } from "../support/docker.ts";
import { scopeKey } from "../support/docker-harness.ts";
import { waitFor } from "../support/wait.ts";

const ready = await dockerReady();
const dockerTest = testWith(ready.missing);
const env = ready.image ? new DockerTestEnv(ready.image) : undefined;
const agents = new AgentProcesses("constellation-docker-cluster-");
const flagsDir = mkdtempSync(join(tmpdir(), "constellation-flags-"));

afterAll(async () => {
  await agents.close();
  await env?.cleanup();
  rmSync(flagsDir, { recursive: true, force: true });
});

const domain = "constellation.test";
const servicePort = 8080;
/** A healthcheck probe runs this often; a flip shows in Docker's health within about one interval. */
const probeIntervalMs = 300;
/** Bound on a change reaching every node's document (event, inspect, gossip, rebuild). */
const convergeMs = 15_000;
/** Bound on the others declaring a killed agent dead (local profile; generous on a loaded machine). */
const deathMs = 60_000;

interface Node {
  name: string;
  /** Its own loopback address: gossip, Raft, APIs and its mesh target. */
  address: string;
  scope: string;
  process: AgentProcess;
  alive: boolean;
}

interface Instance {
  service: string;
  node: Node;
  container: Docker.Container;
  /** Host directory mounted at /flag; the healthcheck passes while /flag/ok exists. */
  flagDir: string;
  /** The container's address on the test network. */
  address: string;
  served: boolean;
}

/** Documents that failed the schema, with the node that served them; must stay empty. */
const schemaViolations: string[] = [];
/** How long each step took to show on every node, printed at the end (not asserted). */
const stepTimes: string[] = [];

function providerUrl(node: Node): string {
  return `http://${node.address}:${node.process.provider}/api/dynamic`;
}

async function dynamic(node: Node): Promise<TraefikDocument> {
  const response = await fetch(providerUrl(node), { signal: AbortSignal.timeout(2000) });
  if (response.status !== 200) throw new Error(`${node.name}: /api/dynamic answered ${response.status}`);
  const document = (await response.json()) as TraefikDocument;
  const errors = checkTraefikDocument(document);
  if (errors.length > 0) schemaViolations.push(`${node.name}: ${errors.join("; ")}`);
  return document;
}

interface RouterSummary {
  entryPoints: string[];
  rule: string;
  service: string;
  servers: string[];
}

/** Every HTTP router of a document with the servers of the service it names. */
function summary(document: TraefikDocument): Record<string, RouterSummary> {
  const result: Record<string, RouterSummary> = {};
  for (const [name, router] of Object.entries(document.http?.routers ?? {})) {
    const servers = document.http?.services?.[router.service]?.loadBalancer.servers.map((server) => server.url) ?? ["<missing service>"];
    result[name] = { entryPoints: router.entryPoints, rule: router.rule, service: router.service, servers };
  }
  return result;
}

/** What `observer` must serve, from the routing rules: one failover router per service, one direct router per instance, a mesh router per local instance. */
function expected(observer: Node, instances: Instance[]): Record<string, RouterSummary> {
  const result: Record<string, RouterSummary> = {};
  const live = instances.filter((instance) => instance.node.alive).sort((a, b) => (a.node.name < b.node.name ? -1 : 1));
  const target = (instance: Instance) =>
    instance.node === observer ? `http://${instance.address}:${servicePort}` : `http://${instance.node.address}:${meshPortDefault}`;
  for (const service of [...new Set(live.map((instance) => instance.service))].sort()) {
    const ofService = live.filter((instance) => instance.service === service);
    const failover = `${service}-with-failover`;
    result[failover] = { entryPoints: ["websecure"], rule: `Host(\`${service}.${domain}\`)`, service: failover, servers: ofService.filter((i) => i.served).map(target) };
    for (const instance of ofService) {
      const direct = `${service}-${instance.node.name}-direct`;
      const servers = instance.served ? [target(instance)] : [];
      const directHost = `${service}.${instance.node.name}.${domain}`;
      result[direct] = { entryPoints: ["websecure"], rule: `Host(\`${directHost}\`)`, service: direct, servers };
      if (instance.node === observer) {
        result[`${service}-mesh`] = { entryPoints: ["mesh"], rule: `Host(\`${service}.${domain}\`) || Host(\`${directHost}\`)`, service: direct, servers };
      }
    }
  }
  return result;
}

/**
 * The work, or a failure as soon as a node that should be running exits: an
 * agent that cannot start would otherwise show only as a timeout.
 */
async function whileRunning<T>(nodes: Node[], work: Promise<T>): Promise<T> {
  const exits = nodes
    .filter((node) => node.alive)
    .map(async (node) => {
      const code = await node.process.child!.exited;
      const logs = readdirSync(agents.dir).filter((file) => file.startsWith(`${node.name}-`) && file.endsWith(".log"));
      const tail = logs.flatMap((file) => readFileSync(join(agents.dir, file), "utf8").trim().split("\n").slice(-10));
      throw new Error(`${node.name} exited with code ${code}; its last log lines:\n${tail.join("\n")}`);
    });
  return await Promise.race([work, ...exits]);
}

/** Waits until every live node serves what the rules say, then checks it once more with a readable diff. */
async function converged(what: string, nodes: Node[], instances: Instance[], timeoutMs = convergeMs): Promise<void> {
  const live = nodes.filter((node) => node.alive);
  const startedMs = performance.now();
  const matches = async () => {
    for (const node of live) if (!Bun.deepEquals(summary(await dynamic(node)), expected(node, instances))) return false;
    return true;
  };
  try {
    await whileRunning(nodes, waitFor(what, matches, timeoutMs, 100));
  } catch (error) {
    // Show the difference of the first node that disagrees.
    for (const node of live) expect({ node: node.name, routers: summary(await dynamic(node)) }).toEqual({ node: node.name, routers: expected(node, instances) });
    throw error;
  }
  stepTimes.push(`${what}: ${(performance.now() - startedMs).toFixed(0)} ms`);
  expect(schemaViolations).toEqual([]);
}

async function addressOf(container: Docker.Container, network: string): Promise<string> {
  const info = await container.inspect();
  return info.NetworkSettings.Networks[network]?.IPAddress ?? "";
}

dockerTest(
  "three agents on one dockerd publish their own containers and every node routes the whole cluster",
  async () => {
    const docker = env!;
    const network = await docker.network("cluster", { internal: true });
    const node = async (name: string, address: string, priority: number): Promise<Node> => {
      const agent = await agents.make(name, priority);
      agent.api = `http://${address}:${agent.apiPort}`;
      return { name, address, scope: docker.name(name), process: agent, alive: false };
    };
    const alpha = await node("alpha", "127.0.0.2", 10);
    const beta = await node("beta", "127.0.0.3", 20);
    const gamma = await node("gamma", "127.0.0.4", 30);
    const nodes = [alpha, beta, gamma];

    const run = async (service: string, owner: Node): Promise<Instance> => {
      const flagDir = join(flagsDir, `${service}-${owner.name}`);
      mkdirSync(flagDir);
      writeFileSync(join(flagDir, "ok"), "");
      const container = await docker.container({
        name: docker.name(`${service}-${owner.name}`),
        cmd: ["sleep", "3600"],
        networks: [network],
        binds: [`${flagDir}:/flag:ro`],
        labels: {
          [scopeKey]: owner.scope,
          "constellation.service": service,
          "traefik.enable": "true",
          [`traefik.http.services.${service}.loadbalancer.server.port`]: String(servicePort),
        },
        health: { test: "test -f /flag/ok", intervalMs: probeIntervalMs, retries: 1 },
      });
      return { service, node: owner, container, flagDir, address: await addressOf(container, network), served: true };
    };
    const webAlpha = await run("web", alpha);
    const webBeta = await run("web", beta);
    const apiGamma = await run("api", gamma);
    const instances = [webAlpha, webBeta, apiGamma];

    const start = (node: Node, seed: Node) => {
      agents.start(node.process, ["--bind-addr", node.address, "--domain", domain, "--join", `${seed.address}:${seed.process.gossip}`], {
        CONSTELLATION_DOCKER_SOCKET_PATH: dockerSocket,
        CONSTELLATION_DOCKER_SCOPE_LABEL: `${scopeKey}=${node.scope}`,
        CONSTELLATION_DOCKER_PROXY_NETWORK: network,
        CONSTELLATION_DOCKER_WARP_CHECK: "off",
        // No container has this name: the edge action, wherever it runs, has nothing to touch.
        CONSTELLATION_DOCKER_EDGE_CONTAINER_NAME: docker.name("edge"),
      });
      node.alive = true;
    };

    // Beta seeds from alpha, which is not running yet: beta cannot synchronise, so it has no document.
    start(beta, alpha);
    const early = await whileRunning(nodes, waitFor("beta's provider to listen", async () => await fetch(providerUrl(beta)).catch(() => undefined), 30_000, 100));
    expect(early.status).toBe(503);
    expect(early.headers.get("retry-after")).toBe("5");
    expect(await early.json()).toEqual({ error: "no routing table yet: cluster state has not been synchronised on this node" });
    start(alpha, beta);
    start(gamma, alpha);
    for (const each of nodes) {
      const three = async () => Object.keys((await getJson<{ nodes: object }>(each.process, "/api/v1/nodes")).nodes).length === 3;
      await whileRunning(nodes, waitFor(`${each.name} to see three nodes`, three, 30_000, 200));
    }
    await converged("the first documents", nodes, instances, 30_000);
    const first = await dynamic(gamma);
    expect(first.http?.services?.["web-with-failover"]?.loadBalancer.servers).toEqual([{ url: `http://127.0.0.2:${meshPortDefault}` }, { url: `http://127.0.0.3:${meshPortDefault}` }]);
    const onAlpha = await dynamic(alpha);
    expect(onAlpha.http?.services?.["web-with-failover"]?.loadBalancer.servers).toEqual([{ url: `http://${webAlpha.address}:${servicePort}` }, { url: `http://127.0.0.3:${meshPortDefault}` }]);
    expect(Object.keys(onAlpha.http?.routers ?? {}).filter((name) => name.startsWith("api-"))).toEqual(["api-gamma-direct", "api-with-failover"]);

    // Each agent sees only the containers carrying its scope label.
    for (const each of nodes) {
      const view = await getJson<{ containers: { name: string; published: boolean }[] }>(each.process, "/api/v1/containers");
      const own = instances.filter((instance) => instance.node === each).map((instance) => docker.name(`${instance.service}-${instance.node.name}`));
      expect(view.containers.map((container) => container.name)).toEqual(own);
      expect(view.containers.every((container) => container.published)).toBe(true);
    }

    // Beta's web turns unhealthy: every node drops it from the load balancer and its direct route; then it recovers.
    rmSync(join(webBeta.flagDir, "ok"));
    webBeta.served = false;
    await converged("beta's web out after turning unhealthy", nodes, instances);
    writeFileSync(join(webBeta.flagDir, "ok"), "");
    webBeta.served = true;
    await converged("beta's web back after recovering", nodes, instances);

    // Stopped: out again; started: back, at whatever address it got.
    await webBeta.container.stop({ t: 0 });
    webBeta.served = false;
    await converged("beta's web out after stopping", nodes, instances);
    await webBeta.container.start();
    webBeta.address = await addressOf(webBeta.container, network);
    webBeta.served = true;
    await converged("beta's web back after starting", nodes, instances);

    // Alpha dies without a word: the others drop its node and its instance.
    await agents.kill(alpha.process, "SIGKILL");
    alpha.alive = false;
    await converged("alpha's instances gone from the survivors", nodes, instances, deathMs);
    const survivor = await dynamic(gamma);
    expect(survivor.http?.routers?.["web-alpha-direct"]).toBeUndefined();
    expect(survivor.http?.services?.["web-with-failover"]?.loadBalancer.servers).toEqual([{ url: `http://127.0.0.3:${meshPortDefault}` }]);
    expect(schemaViolations).toEqual([]);
    console.log(`seen on every live node:\n  ${stepTimes.join("\n  ")}`);
  },
  180_000,
);
