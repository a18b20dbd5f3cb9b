// Docker health to Traefik routing across real agents: three agent processes
// on loopback (local profile, each on its own 127.0.0.x address) share one
// dockerd and each watch only the containers carrying their scope label.
// Prints two figures and asserts nothing:
//
// 1. Health flip to routing. A container on alpha has a healthcheck that
//    tests a file in a directory mounted from the host; the benchmark
//    removes the file, Docker's probe fails, and the engine emits
//    `health_status: unhealthy`. Measured: from that event's own timestamp
//    (its timeNano, on the same host clock as this process) to the first
//    answer of beta's and gamma's /api/dynamic, polled with If-None-Match,
//    in which the instance is out of the load balancer; then the same for
//    `health_status: healthy` after the file is put back. The time from
//    removing the file to the event (the healthcheck's own delay, set by its
//    interval) is printed apart, as it is Docker's and not the agent's.
// 2. Docker API calls per minute that alpha makes at steady state with N
//    containers in its scope, counted twice: by the agent's own client
//    (api_calls in the counters of GET /api/v1/containers) and by a
//    counting unix-socket proxy between alpha and the engine (HTTP requests
//    by kind). The agent runs with its default Docker settings (full resync
//    every 60 s, WARP check in auto mode), except that the WARP container
//    name matches no container and its trace URL is on loopback.
//
//   npm run bench:docker
//   npx bun bench/docker.ts [--flips 20] [--probe-ms 200] [--poll-ms 20] [--containers 50]
//                           [--container-probe-seconds 10] [--steady-seconds 120]
//
// Every container and network it creates carries the test labels and is
// removed at the end, on failure and on Ctrl-C too; the test image is
// removed again if this run had to import it. Containers sit on an internal
// network; no request is sent to them.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { meshPortDefault } from "../src/routing/options.ts";
import { checkTraefikDocument, type TraefikDocument } from "../src/routing/traefik-schema.ts";
import { AgentProcesses, getJson, type AgentProcess } from "../test/support/agent-process.ts";
import { DockerTestEnv, dockerReady, dockerSocket, runLabel } from "../test/support/docker.ts";
import { SocketProxy, scopeKey } from "../test/support/docker-harness.ts";
import { waitFor } from "../test/support/wait.ts";
import { boundedFlag, summarise, tableRow, tableRule, tripleCells } from "./support/figures.ts";

const flips = boundedFlag("flips", 20, 1, 1000);
const probeMs = boundedFlag("probe-ms", 200, 50, 10_000);
const pollMs = boundedFlag("poll-ms", 20, 5, 1000);
const containerCount = boundedFlag("containers", 50, 1, 500);
const containerProbeSeconds = boundedFlag("container-probe-seconds", 10, 1, 300);
const steadySeconds = boundedFlag("steady-seconds", 120, 10, 3600);

const domain = "constellation.test";
const servicePort = 8080;
/** Engine events kept for the figures; a run makes a few thousand at most. */
const eventsKeptMax = 100_000;
/** Bound on one change reaching an observer; a flip that takes longer fails the run. */
const visibleMaxMs = 30_000;

// ------------------------------------------------------------------ cluster

interface Node {
  name: string;
  address: string;
  scope: string;
  process: AgentProcess;
}

/** Polls one node's /api/dynamic with If-None-Match; a 304 costs no parse. */
class Poller {
  private etag = "";
  private document: TraefikDocument | undefined;

  constructor(readonly node: Node) {}

  /** The node's current document, and the wall time its answer had fully arrived (before any parsing or checking). */
  async fetch(): Promise<{ document: TraefikDocument; atMs: number }> {
    const headers: Record<string, string> = this.etag ? { "if-none-match": this.etag } : {};
    const response = await fetch(`http://${this.node.address}:${this.node.process.provider}/api/dynamic`, { headers, signal: AbortSignal.timeout(2000) });
    if (response.status === 304 && this.document) return { document: this.document, atMs: Date.now() };
    if (response.status !== 200) throw new Error(`${this.node.name}: /api/dynamic answered ${response.status}`);
    const body = await response.text();
    const atMs = Date.now();
    const document = JSON.parse(body) as TraefikDocument;
    const errors = checkTraefikDocument(document);
    if (errors.length > 0) throw new Error(`${this.node.name} served a document Traefik would refuse: ${errors.join("; ")}`);
    this.etag = response.headers.get("etag") ?? "";
    this.document = document;
    return { document, atMs };
  }

  /** Polls until `served(document)` is `want`; returns the wall time the answer that showed it arrived. */
  async until(want: boolean, served: (document: TraefikDocument) => boolean): Promise<number> {
    const deadline = Date.now() + visibleMaxMs;
    for (;;) {
      const { document, atMs } = await this.fetch();
      if (served(document) === want) return atMs;
      if (atMs > deadline) throw new Error(`${this.node.name}: no change within ${visibleMaxMs} ms`);
      await Bun.sleep(pollMs);
    }
  }
}

/** Container events of this run's containers, with Docker's own timestamps (timeNano, in ms). */
class EngineEvents {
  readonly seen: { id: string; action: string; scope: string; atMs: number }[] = [];
  private close: () => void = () => {};

  async open(env: DockerTestEnv): Promise<void> {
    const filters = JSON.stringify({ type: ["container"], label: [`${runLabel}=${env.runId}`] });
    const stream = (await env.docker.getEvents({ filters } as {})) as unknown as NodeJS.ReadableStream & { destroy(): void };
    let buffer = "";
    stream.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        const event = JSON.parse(line) as { id?: string; Action?: string; timeNano?: number; Actor?: { Attributes?: Record<string, string> } };
        if (!event.id || typeof event.timeNano !== "number") continue;
        const action = event.Action ?? "";
        // Every health probe makes exec_* events; the agent never asks for those, and keeping them would only cost memory.
        if (action.startsWith("exec_") || this.seen.length >= eventsKeptMax) continue;
        this.seen.push({ id: event.id, action, scope: event.Actor?.Attributes?.[scopeKey] ?? "", atMs: event.timeNano / 1e6 });
      }
    });
    stream.on("error", () => {});
    this.close = () => stream.destroy();
  }

  /** The time of the first `action` event of the container at or after `afterMs`. */
  async next(id: string, action: string, afterMs: number): Promise<number> {
    const event = await waitFor(action, () => this.seen.find((e) => e.id === id && e.action === action && e.atMs >= afterMs), visibleMaxMs, 5);
    return event.atMs;
  }

  /** Events of containers in `scope` between two wall times, counted by action. */
  countsBetween(scope: string, fromMs: number, toMs: number): Map<string, number> {
    const counts = new Map<string, number>();
    for (const event of this.seen) {
      if (event.scope !== scope || event.atMs < fromMs || event.atMs >= toMs) continue;
      counts.set(event.action, (counts.get(event.action) ?? 0) + 1);
    }
    return counts;
  }

  stop(): void {
    this.close();
  }
}

// ------------------------------------------------------------------ run

const ready = await dockerReady();
if (!ready.image) {
  console.error(`bench/docker.ts: ${ready.missing}`);
  process.exit(1);
}
const env = new DockerTestEnv(ready.image);
const agents = new AgentProcesses("constellation-bench-docker-");
const flagsDir = mkdtempSync(join(tmpdir(), "constellation-bench-flags-"));
const proxy = new SocketProxy(join(agents.dir, "docker.sock"));
const events = new EngineEvents();

let cleaned: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    events.stop();
    await agents.close();
    await proxy.stop();
    await env.cleanup();
    const filters = JSON.stringify({ label: [`${runLabel}=${env.runId}`] });
    const left = [
      ...(await env.docker.listContainers({ all: true, filters }).catch(() => [])).map((container) => `container ${container.Names[0] ?? container.Id}`),
      ...(await env.docker.listNetworks({ filters }).catch(() => [])).map((network) => `network ${network.Name}`),
    ];
    if (left.length > 0) console.error(`could not remove: ${left.join(", ")} (the next Docker test run sweeps them once this process is gone)`);
    // Only an image this run imported; one still in use elsewhere stays (Docker refuses, and that is fine).
    if (ready.built) await env.docker.getImage(ready.image!).remove().catch(() => {});
    rmSync(flagsDir, { recursive: true, force: true });
  })();
  return cleaned;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`${signal}: removing what the benchmark created`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function startCluster(network: string): Promise<Node[]> {
  await proxy.start();
  const make = async (name: string, address: string, priority: number): Promise<Node> => {
    const agent = await agents.make(name, priority);
    agent.api = `http://${address}:${agent.apiPort}`;
    return { name, address, scope: env.name(name), process: agent };
  };
  const nodes = [await make("alpha", "127.0.0.2", 10), await make("beta", "127.0.0.3", 20), await make("gamma", "127.0.0.4", 30)];
  const [alpha] = nodes as [Node];
  for (const node of nodes) {
    const join = node === alpha ? [] : ["--join", `${alpha.address}:${alpha.process.gossip}`];
    agents.start(node.process, ["--bind-addr", node.address, "--domain", domain, ...join], {
      // Alpha reaches the engine through the counting proxy.
      CONSTELLATION_DOCKER_SOCKET_PATH: node === alpha ? proxy.path : dockerSocket,
      CONSTELLATION_DOCKER_SCOPE_LABEL: `${scopeKey}=${node.scope}`,
      CONSTELLATION_DOCKER_PROXY_NETWORK: network,
      CONSTELLATION_DOCKER_WARP_CONTAINER_NAME: env.name("warp"),
      CONSTELLATION_DOCKER_WARP_TRACE_URL: "http://127.0.0.1:9/trace",
      CONSTELLATION_DOCKER_EDGE_CONTAINER_NAME: env.name("edge"),
    });
  }
  for (const node of nodes) {
    await waitFor(`${node.name} to see three nodes`, async () => Object.keys((await getJson<{ nodes: object }>(node.process, "/api/v1/nodes")).nodes).length === 3, 60_000, 200);
  }
  return nodes;
}

interface FlipFigures {
  toEvent: number[];
  unhealthy: Map<string, number[]>;
  healthy: Map<string, number[]>;
}

async function measureFlips(network: string, alpha: Node, observers: Node[]): Promise<FlipFigures> {
  const flagDir = join(flagsDir, "flip");
  mkdirSync(flagDir);
  const flagFile = join(flagDir, "ok");
  writeFileSync(flagFile, "");
  const service = "flip";
  const container = await env.container({
    name: env.name("flip"),
    cmd: ["sleep", "36000"],
    networks: [network],
    binds: [`${flagDir}:/flag:ro`],
    labels: { [scopeKey]: alpha.scope, "constellation.service": service, "traefik.enable": "true", [`traefik.http.services.${service}.loadbalancer.server.port`]: String(servicePort) },
    health: { test: "test -f /flag/ok", intervalMs: probeMs, retries: 1 },
  });
  const pollers = observers.map((node) => new Poller(node));
  // Seen from another node, alpha's instance is alpha's mesh entry in the service's load balancer.
  const meshUrl = `http://${alpha.address}:${meshPortDefault}`;
  const served = (document: TraefikDocument) => (document.http?.services?.[`${service}-with-failover`]?.loadBalancer.servers ?? []).some((server) => server.url === meshUrl);
  await Promise.all(pollers.map((poller) => poller.until(true, served)));
  const figures: FlipFigures = { toEvent: [], unhealthy: new Map(), healthy: new Map() };
  for (const node of observers) {
    figures.unhealthy.set(node.name, []);
    figures.healthy.set(node.name, []);
  }
  for (let flip = 0; flip < flips; flip++) {
    for (const [want, action] of [[false, "health_status: unhealthy"], [true, "health_status: healthy"]] as const) {
      const flippedAtMs = Date.now();
      if (want) writeFileSync(flagFile, "");
      else rmSync(flagFile);
      const seen = await Promise.all(pollers.map((poller) => poller.until(want, served)));
      const eventMs = await events.next(container.id, action, flippedAtMs - 5);
      if (!want) figures.toEvent.push(eventMs - flippedAtMs);
      pollers.forEach((poller, i) => (want ? figures.healthy : figures.unhealthy).get(poller.node.name)!.push(seen[i]! - eventMs));
    }
  }
  await container.remove({ force: true });
  return figures;
}

interface CallCounts {
  agentCalls: number;
  agentFailures: number;
  proxyRequests: Map<string, number>;
  counters: Record<string, number>;
}

async function callCounts(alpha: Node): Promise<CallCounts> {
  const view = await getJson<{ counters: Record<string, number> }>(alpha.process, "/api/v1/containers");
  return { agentCalls: view.counters.api_calls ?? 0, agentFailures: view.counters.api_failures ?? 0, proxyRequests: new Map(proxy.requests), counters: view.counters };
}

async function measureSteadyState(network: string, alpha: Node): Promise<void> {
  const beforeRamp = await callCounts(alpha);
  const rampStartMs = Date.now();
  for (let i = 1; i <= containerCount; i++) {
    const service = `svc-${String(i).padStart(3, "0")}`;
    await env.container({
      name: env.name(service),
      cmd: ["sleep", "36000"],
      networks: [network],
      labels: { [scopeKey]: alpha.scope, "constellation.service": service, "traefik.enable": "true", [`traefik.http.services.${service}.loadbalancer.server.port`]: String(servicePort) },
      // Docker's default probe timeout (30 s): a loaded machine must not make a quiet container flap.
      health: { test: "true", intervalMs: containerProbeSeconds * 1000, retries: 3, timeoutMs: 30_000 },
    });
  }
  type View = { containers: { status: string | null; published: boolean }[] };
  const allHealthy = async () => {
    const view = await getJson<View>(alpha.process, "/api/v1/containers");
    return view.containers.length === containerCount && view.containers.every((c) => c.published && c.status === "healthy");
  };
  await waitFor(`alpha to publish ${containerCount} healthy containers`, allHealthy, containerProbeSeconds * 1000 + 120_000, 500);
  // Settled: the agent made no call for a few seconds (the last inspects are done).
  let last = await callCounts(alpha);
  await waitFor("alpha's Docker calls to settle", async () => {
    await Bun.sleep(3000);
    const now = await callCounts(alpha);
    const settled = now.agentCalls === last.agentCalls;
    last = now;
    return settled;
  }, 60_000, 0);
  const rampMs = Date.now() - rampStartMs;
  const start = await callCounts(alpha);
  const startMs = performance.now();
  const startWallMs = Date.now();
  await Bun.sleep(steadySeconds * 1000);
  const end = await callCounts(alpha);
  const minutes = (performance.now() - startMs) / 60_000;
  const engineEvents = events.countsBetween(alpha.scope, startWallMs, Date.now());

  console.log(`\n(2) Docker API calls by alpha at steady state: ${containerCount} healthy containers in its scope (healthcheck every ${containerProbeSeconds} s), over ${steadySeconds} s`);
  const widths = [58, 8, 10];
  const row = (cells: string[]) => tableRow(cells, widths);
  console.log(row(["counted at", "calls", "per minute"]));
  console.log(tableRule(widths));
  const agentCalls = end.agentCalls - start.agentCalls;
  const proxyCalls = proxy.requestCount(end.proxyRequests) - proxy.requestCount(start.proxyRequests);
  console.log(row(["the agent's Docker client (api_calls)", String(agentCalls), (agentCalls / minutes).toFixed(2)]));
  console.log(row(["the engine socket (counting proxy, HTTP requests)", String(proxyCalls), (proxyCalls / minutes).toFixed(2)]));
  if (proxyCalls !== agentCalls) {
    const outside = proxyCalls - agentCalls;
    console.log(row([`  of which not through the agent's Docker client`, String(outside), (outside / minutes).toFixed(2)]));
  }
  for (const kind of [...new Set([...end.proxyRequests.keys()])].sort()) {
    const count = (end.proxyRequests.get(kind) ?? 0) - (start.proxyRequests.get(kind) ?? 0);
    if (count > 0) console.log(row([`  ${kind}`, String(count), (count / minutes).toFixed(2)]));
  }
  const delta = (key: string) => (end.counters[key] ?? 0) - (start.counters[key] ?? 0);
  console.log(
    `agent counters over the window: resyncs ${delta("resyncs")}, inspects ${delta("inspects")}, events ${delta("events")} (ignored ${delta("eventsIgnored")}), ` +
      `WARP checks ${delta("warp_checks")}, call failures ${end.agentFailures - start.agentFailures}`,
  );
  const listed = [...engineEvents].sort(([a], [b]) => (a < b ? -1 : 1));
  console.log(
    `engine events of alpha's containers in the window (health probes' exec_* events left out): ${listed.length === 0 ? "none" : listed.map(([action, count]) => `${action} x${count}`).join(", ")}`,
  );
  const rampCalls = start.agentCalls - beforeRamp.agentCalls;
  console.log(`for comparison, starting the ${containerCount} containers until settled took ${(rampMs / 1000).toFixed(1)} s and ${rampCalls} calls by the agent (${proxy.requestCount(start.proxyRequests) - proxy.requestCount(beforeRamp.proxyRequests)} requests at the socket)`);
}

try {
  const network = await env.network("bench", { internal: true });
  await events.open(env);
  const nodes = await startCluster(network);
  const [alpha, beta, gamma] = nodes as [Node, Node, Node];
  console.log(`Docker health and routing: 3 agents on loopback (local profile), one dockerd (${(await env.docker.version()).Version})`);
  const figures = await measureFlips(network, alpha, [beta, gamma]);
  console.log(`\n(1) health flip of a container on alpha until another node's /api/dynamic shows it; ${flips} flips each way`);
  console.log(`    healthcheck probe every ${probeMs} ms; observers poll /api/dynamic every ${pollMs} ms (figures include up to that much polling delay)`);
  console.log(`    reference: the Docker event's own timestamp (timeNano), same host clock; target under 2000 ms`);
  const widths = [54, 6, 6, 6];
  const row = (cells: string[]) => tableRow(cells, widths);
  console.log(row(["from -> to", "p50 ms", "p99 ms", "max ms"]));
  console.log(tableRule(widths));
  const cells = (samples: readonly number[]) => tripleCells(summarise(samples));
  for (const node of [beta, gamma]) console.log(row([`health_status: unhealthy -> out of the LB on ${node.name}`, ...cells(figures.unhealthy.get(node.name)!)]));
  for (const node of [beta, gamma]) console.log(row([`health_status: healthy -> back in the LB on ${node.name}`, ...cells(figures.healthy.get(node.name)!)]));
  console.log(row(["flag file removed -> health_status: unhealthy (Docker)", ...cells(figures.toEvent)]));
  await measureSteadyState(network, alpha);
} catch (error) {
  console.error(`bench/docker.ts failed: ${(error as Error).stack ?? error}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
