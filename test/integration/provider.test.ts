// The provider as Traefik meets it: the real Elysia server on a loopback port,
// fed by the routing service over a real replicated state store that learns
// another node's services through a push/pull merge, as gossip delivers them.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { providerApi } from "../../src/api/provider.ts";
import { RoutingService } from "../../src/node/routing-service.ts";
import { StateStore, storeDefaults } from "../../src/state/store.ts";
import { StateReplicator } from "../../src/state/replicator.ts";
import { checkTraefikDocument, type TraefikDocument } from "../../src/routing/traefik-schema.ts";
import type { NodeMetadata, ServiceHealth } from "../../src/state/model.ts";
import { instance, node } from "../support/cluster-views.ts";

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
