// The provider as Traefik meets it: the real Elysia server on a loopback port,
// fed by the routing service over a real replicated state store that learns
// another node's services through a push/pull merge, as gossip delivers them.
// Then the addresses it listens on: loopback and bindAddr at start, the Docker
// bridge gateway when Docker names one (simulated with 127.0.0.x addresses and
// an engine stand-in on a unix socket), a configured list instead; and against
// the dockerd the tests start, the real gateway, reached from the host and from
// a container on the default bridge, as a Traefik container reaches it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { providerApi } from "../../src/api/provider.ts";
import { DockerClient } from "../../src/adapters/docker-client.ts";
import { embeddedDefaultEnv } from "../support/agent-process.ts";
import { RoutingService } from "../../src/node/routing-service.ts";
import {
  bridgeGatewayOf,
  defaultProviderAddresses,
  lookupBridgeGateway,
  ProviderListeners,
  type GatewayLookup,
} from "../../src/node/provider-listeners.ts";
import type { Wakeups } from "../../src/node/wakeups.ts";
import { Logger } from "../../src/lib/log.ts";
import { StateStore, storeDefaults } from "../../src/state/store.ts";
import { StateReplicator } from "../../src/state/replicator.ts";
import { checkTraefikDocument, type TraefikDocument } from "../../src/routing/traefik-schema.ts";
import type { NodeMetadata, ServiceHealth } from "../../src/state/model.ts";
import { instance, node } from "../support/cluster-views.ts";
import { testWith } from "../support/components.ts";
import { DockerTestEnv, dockerReady, dockerSocket } from "../support/docker.ts";
import { freePort, freePorts } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";

const on = { "traefik.enable": "true", "traefik.http.routers.web.middlewares": "security-headers" };

function replica(name: string) {
  const store = new StateStore(name, 1, storeDefaults);
  const replicator = new StateReplicator(store, () => 0, 4, () => 2);
  return { store, replicator };
}

const alpha = replica("alpha");
const beta = replica("beta");
const routing = new RoutingService(
  { nodeName: "alpha", domain: "example.com", traefik: { entryPoints: ["websecure"], certResolver: "letsencrypt" } },
  () => alpha.store.view(() => true),
  (listener) => alpha.replicator.subscribe(listener),
  { synchronised: () => alpha.replicator.counters.fullStatesMerged > 0, maxAgeMs: 60_000 },
);
const app = providerApi(routing);
let base = "";

function publish(side: ReturnType<typeof replica>, metadata: NodeMetadata, services: ServiceHealth[]) {
  side.replicator.publish(`node/${metadata.name}`, metadata);
  for (const service of services) side.replicator.publishService(service);
}

beforeAll(() => {
  app.listen({ hostname: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${app.server!.port}`;
  publish(alpha, node("alpha", "100.64.0.1"), [instance("web", "alpha", { labels: on, endpoints: { http: "http://10.76.0.5:80" } })]);
});
afterAll(() => {
  routing.stop();
  void app.stop(true);
});

/** Every document served here is held to the schema, whatever the test looks at. */
async function dynamic(headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/api/dynamic`, { headers });
  if (response.status === 200) expect(checkTraefikDocument(await response.clone().json())).toEqual([]);
  return response;
}

async function document(response: Response): Promise<TraefikDocument> {
  expect(response.status).toBe(200);
  const parsed = (await response.json()) as TraefikDocument;
  expect(checkTraefikDocument(parsed)).toEqual([]);
  return parsed;
}

test("503 until the first push/pull merge, then the whole cluster's routes", async () => {
  const early = await dynamic();
  expect(early.status).toBe(503);
  expect(await early.json()).toEqual({ error: "no routing table yet: cluster state has not been synchronised on this node" });

  publish(beta, node("beta", "100.64.0.2"), [instance("web", "beta", { labels: on, endpoints: { http: "http://10.76.0.6:80" } })]);
  alpha.replicator.mergeRemoteState(beta.replicator.localState());
  const parsed = await document(await dynamic());
  expect(parsed.http?.services?.["web-with-failover"]?.loadBalancer.servers).toEqual([{ url: "http://10.76.0.5:80" }, { url: "http://100.64.0.2:8090" }]);
  expect(parsed.http?.routers?.["web-mesh"]?.service).toBe("web-alpha-direct");
});

test("a health flip gossiped from the other node changes the document and its ETag; 304 otherwise", async () => {
  const before = await dynamic();
  const etag = before.headers.get("etag")!;
  expect((await dynamic({ "if-none-match": etag })).status).toBe(304);

  beta.replicator.publishService(instance("web", "beta", { labels: on, status: "unhealthy", endpoints: { http: "http://10.76.0.6:80" } }));
  alpha.replicator.mergeRemoteState(beta.replicator.localState());
  const after = await dynamic({ "if-none-match": etag });
  const parsed = await document(after);
  expect(after.headers.get("etag")).not.toBe(etag);
  expect(parsed.http?.services?.["web-with-failover"]?.loadBalancer.servers).toEqual([{ url: "http://10.76.0.5:80" }]);
  expect(parsed.http?.services?.["web-beta-direct"]?.loadBalancer.servers).toEqual([]);
});

test("gzip over the wire, and concurrent pollers all get the same bytes", async () => {
  const plain = await (await dynamic({ "accept-encoding": "identity" })).text();
  const zipped = await dynamic({ "accept-encoding": "gzip" });
  expect(zipped.headers.get("content-encoding")).toBe("gzip");
  // fetch decompresses transparently, as Traefik's Go client does.
  expect(await zipped.text()).toBe(plain);
  const responses = await Promise.all(Array.from({ length: 32 }, () => dynamic({ "accept-encoding": "identity" })));
  const bodies = new Set(await Promise.all(responses.map((response) => response.text())));
  expect(bodies).toEqual(new Set([plain]));
});

test("section endpoints and /health over the wire", async () => {
  expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: "ok" });
  const routers = (await (await fetch(`${base}/api/http/routers`)).json()) as Record<string, unknown>;
  expect(Object.keys(routers)).toEqual(["web-alpha-direct", "web-beta-direct", "web-mesh", "web-with-failover"]);
  expect(await (await fetch(`${base}/api/udp/services`)).json()).toEqual({});
  expect((await fetch(`${base}/api/nope`)).status).toBe(404);
});

/** The log lines a component wrote, parsed. */
function capturedLog() {
  const lines: { level: string; msg: string; [field: string]: unknown }[] = [];
  return { lines, log: new Logger((line) => lines.push(JSON.parse(line)), { wallMs: () => 0 }, "debug") };
}

/** Wake-ups that only record what was asked; the test runs the checks itself. */
function recordedWakeups() {
  const delays: number[] = [];
  const wakeups: Wakeups = { after: (delayMs) => (delays.push(delayMs), { cancel: () => {} }) };
  return { delays, wakeups };
}

async function answers(address: string, port: number): Promise<boolean> {
  const host = address.includes(":") ? `[${address}]` : address;
  try {
    const response = await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

describe("provider addresses", () => {
  const stops: (() => void)[] = [];
  afterAll(() => stops.forEach((stop) => stop()));

  test.each([
    ["127.0.0.1", ["127.0.0.1"]],
    ["127.0.0.5", ["127.0.0.5"]],
    ["::1", ["::1"]],
    ["100.64.0.1", ["127.0.0.1", "100.64.0.1"]],
    ["0.0.0.0", ["0.0.0.0"]],
    ["::", ["::"]],
  ])("bindAddr %s: %p at start", (bindAddr, expected) => {
    expect(defaultProviderAddresses(bindAddr)).toEqual(expected);
  });

  test("the gateway is read from the bridge network's IPAM config, IPv4 first", () => {
    expect(bridgeGatewayOf({ IPAM: { Config: [{ Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }] } })).toBe("172.17.0.1");
    expect(bridgeGatewayOf({ IPAM: { Config: [{ Gateway: "fd00::1" }, { Gateway: "10.5.0.1" }] } })).toBe("10.5.0.1");
    expect(bridgeGatewayOf({ IPAM: { Config: [{ Gateway: "fd00::1" }] } })).toBe("fd00::1");
    for (const bad of [null, {}, { IPAM: { Config: null } }, { IPAM: { Config: [{ Subnet: "172.17.0.0/16" }] } }, { IPAM: { Config: [{ Gateway: "not an ip" }] } }]) {
      expect(bridgeGatewayOf(bad)).toBeUndefined();
    }
  });

  test("asking the engine: the gateway, or a plain reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "constellation-engine-"));
    const socketPath = join(dir, "docker.sock");
    let answer: () => Response = () => Response.json({ Name: "bridge", IPAM: { Config: [{ Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }] } });
    const paths: string[] = [];
    const engine = Bun.serve({ unix: socketPath, fetch: (request) => (paths.push(new URL(request.url).pathname), answer()) });
    try {
      expect(await lookupBridgeGateway(new DockerClient(join(dir, "absent.sock"), 1000))).toEqual({ ok: false, reason: `Docker socket ${join(dir, "absent.sock")} does not exist` });
      expect(await lookupBridgeGateway(new DockerClient(socketPath, 1000))).toEqual({ ok: true, gateway: "172.17.0.1" });
      expect(paths).toEqual(["/networks/bridge"]);
      answer = () => Response.json({ message: "network bridge not found" }, { status: 404 });
      expect(await lookupBridgeGateway(new DockerClient(socketPath, 1000))).toEqual({ ok: false, reason: "Docker has no network named bridge" });
      answer = () => Response.json({ IPAM: { Config: [] } });
      expect(await lookupBridgeGateway(new DockerClient(socketPath, 1000))).toEqual({ ok: false, reason: "Docker's network bridge has no gateway address" });
    } finally {
      engine.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nothing configured: loopback at start, the gateway once Docker names it, and it follows a new one", async () => {
    const port = await freePort();
    let lookup: GatewayLookup = { ok: false, reason: "there is no Docker socket at /var/run/docker.sock" };
    const { lines, log } = capturedLog();
    const { delays, wakeups } = recordedWakeups();
    // 127.0.0.2 and 127.0.0.3 stand in for the bridge gateway: local addresses this test may bind and call.
    const listeners = new ProviderListeners(app.fetch, { port, bindAddr: "127.0.0.1", configured: [], lookupGateway: async () => lookup, log, wakeups });
    stops.push(() => listeners.stop());
    listeners.start();
    expect(delays).toEqual([0]);
    expect(listeners.addresses()).toEqual(["127.0.0.1"]);
    expect(await answers("127.0.0.1", port)).toBe(true);

    await listeners.checkGateway();
    await listeners.checkGateway();
    const reasons = lines.filter((line) => line.msg.includes("cannot reach"));
    expect(reasons.map((line) => line.msg)).toEqual([
      "the provider listens on 127.0.0.1 only, which a Traefik container on Docker's default bridge cannot reach, because there is no Docker socket at /var/run/docker.sock; looking again every 30 s",
    ]);

    lookup = { ok: true, gateway: "127.0.0.2" };
    await listeners.checkGateway();
    expect(listeners.addresses()).toEqual(["127.0.0.1", "127.0.0.2"]);
    expect(await answers("127.0.0.2", port)).toBe(true);
    const served = await fetch(`http://127.0.0.2:${port}/api/dynamic`);
    expect(checkTraefikDocument(await served.json())).toEqual([]);

    lookup = { ok: true, gateway: "127.0.0.3" };
    await listeners.checkGateway();
    expect(listeners.addresses()).toEqual(["127.0.0.1", "127.0.0.3"]);
    expect(await answers("127.0.0.3", port)).toBe(true);
    expect(await answers("127.0.0.2", port)).toBe(false);
    expect(lines.some((line) => line.msg === "Docker bridge gateway changed; provider follows it" && line.to === "127.0.0.3")).toBe(true);

    listeners.stop();
    expect(await answers("127.0.0.1", port)).toBe(false);
    expect(await answers("127.0.0.3", port)).toBe(false);
  });

  test("a configured list is used as given, and Docker is not asked", async () => {
    const port = await freePort();
    const { wakeups, delays } = recordedWakeups();
    const { log } = capturedLog();
    const listeners = new ProviderListeners(app.fetch, {
      port,
      bindAddr: "127.0.0.1",
      configured: ["127.0.0.4"],
      lookupGateway: () => Promise.reject(new Error("Docker must not be asked")),
      log,
      wakeups,
    });
    stops.push(() => listeners.stop());
    listeners.start();
    expect(delays).toEqual([]);
    expect(listeners.addresses()).toEqual(["127.0.0.4"]);
    expect(await answers("127.0.0.4", port)).toBe(true);
    expect(await answers("127.0.0.1", port)).toBe(false);
    listeners.stop();
  });

  test("a port in use stops start-up with a sentence; a gateway that cannot be bound is reported and tried again", async () => {
    const port = await freePort();
    const blocker = Bun.serve({ hostname: "127.0.0.6", port, fetch: () => new Response("busy") });
    try {
      const { log, lines } = capturedLog();
      const options = { port, bindAddr: "127.0.0.1", configured: [], log, wakeups: recordedWakeups().wakeups };
      const blocked = new ProviderListeners(app.fetch, { ...options, configured: ["127.0.0.6"], lookupGateway: async (): Promise<GatewayLookup> => ({ ok: false, reason: "x" }) });
      expect(() => blocked.start()).toThrow(`provider: port ${port} on 127.0.0.6 is already in use; choose another providerPort`);
      expect(() => new ProviderListeners(app.fetch, { ...options, configured: ["localhost"], lookupGateway: async () => ({ ok: false, reason: "x" }) }).start()).toThrow(
        'provider: "localhost" is not an IP address (providerBindAddrs)',
      );

      let gateway = "127.0.0.6";
      const listeners = new ProviderListeners(app.fetch, { ...options, lookupGateway: async () => ({ ok: true, gateway }) });
      stops.push(() => listeners.stop());
      listeners.start();
      await listeners.checkGateway();
      expect(listeners.addresses()).toEqual(["127.0.0.1"]);
      expect(lines.filter((line) => line.level === "warn").map((line) => line.msg)).toEqual([
        `provider: port ${port} on 127.0.0.6 is already in use; choose another providerPort; a Traefik container on Docker's default bridge cannot reach the provider; trying again every 30 s`,
      ]);
      blocker.stop(true);
      gateway = "127.0.0.6";
      await listeners.checkGateway();
      expect(listeners.addresses()).toEqual(["127.0.0.1", "127.0.0.6"]);
      listeners.stop();
    } finally {
      blocker.stop(true);
    }
  });
});

const docker = await dockerReady();
const dockerTest = testWith(docker.missing);
const dockerEnv = docker.image ? new DockerTestEnv(docker.image) : undefined;

describe("provider on the real Docker bridge gateway", () => {
  afterAll(async () => {
    await dockerEnv?.cleanup();
  });

  dockerTest("the agent's default finds the gateway and answers there, also to a container on the default bridge", async () => {
    const env = dockerEnv!;
    const network = await env.docker.getNetwork("bridge").inspect();
    const expected = bridgeGatewayOf(network);
    expect(expected).toBeDefined();
    expect(await lookupBridgeGateway(new DockerClient(dockerSocket, 5000))).toEqual({ ok: true, gateway: expected! });

    const port = await freePort();
    const { log } = capturedLog();
    const listeners = new ProviderListeners(app.fetch, {
      port,
      bindAddr: "127.0.0.1",
      configured: [],
      lookupGateway: () => lookupBridgeGateway(new DockerClient(dockerSocket, 5000)),
      log,
      wakeups: recordedWakeups().wakeups,
    });
    try {
      listeners.start();
      await listeners.checkGateway();
      expect(listeners.addresses()).toEqual(["127.0.0.1", expected!]);
      // The gateway is an address of this host, on the engine the tests use.
      const response = await fetch(`http://${expected}:${port}/api/dynamic`, { signal: AbortSignal.timeout(5000) });
      expect(response.status).toBe(200);
      expect(checkTraefikDocument(await response.json())).toEqual([]);

      const poller = await env.container({ name: env.name("traefik-stand-in"), cmd: ["sleep", "60"], networks: ["bridge"] });
      // busybox's own `wget -T` crashes in this image; `timeout` bounds the request instead.
      const fetched = await env.exec(poller, ["timeout", "10", "wget", "-q", "-O", "-", `http://${expected}:${port}/api/dynamic`]);
      expect(fetched.exitCode).toBe(0);
      expect(checkTraefikDocument(JSON.parse(fetched.output.slice(fetched.output.indexOf("{"))))).toEqual([]);
    } finally {
      listeners.stop();
    }
  });

  dockerTest("an agent with the embedded default serves its document on loopback and on the gateway", async () => {
    const gateway = bridgeGatewayOf(await dockerEnv!.docker.getNetwork("bridge").inspect())!;
    const [gossip, raft, api, provider] = (await freePorts(4)) as [number, number, number, number];
    const dataDir = mkdtempSync(join(tmpdir(), "constellation-provider-agent-"));
    const env = { ...embeddedDefaultEnv({ gossip, raft, api, provider }, dataDir, "gateway-test"), CONSTELLATION_DOCKER_SOCKET_PATH: dockerSocket };
    const agent = Bun.spawn([process.execPath, join(import.meta.dir, "..", "..", "src", "main.ts"), "agent"], { env, stdout: "pipe", stderr: "pipe" });
    try {
      await waitFor("the provider on loopback", () => answers("127.0.0.1", provider!));
      await waitFor("the provider on the Docker bridge gateway", () => answers(gateway, provider!));
      const response = await fetch(`http://${gateway}:${provider}/api/dynamic`, { signal: AbortSignal.timeout(5000) });
      expect(response.status).toBe(200);
      expect(checkTraefikDocument(await response.json())).toEqual([]);
    } finally {
      agent.kill("SIGTERM");
      await agent.exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
    const log = (await new Response(agent.stdout).text()).trim().split("\n").map((line) => JSON.parse(line) as { msg: string; server?: string; address?: string });
    const providerAddresses = log.filter((line) => line.msg === "listening" && line.server === "provider").map((line) => line.address);
    expect(providerAddresses).toEqual([`127.0.0.1:${provider}`, `${gateway}:${provider}`]);
  });
});
