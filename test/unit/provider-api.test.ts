// The routing service and the servers in front of it, called with
// app.handle(new Request(...)) and no socket: 503 until synchronised, ETag
// and 304, gzip, the section endpoints, /api/v1/routes and `constellation
// routes`. Every document served is held to the Traefik schema.

import { afterAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { providerApi, providerSections, acceptsGzip, ifNoneMatch } from "../../src/api/provider.ts";
import { controlApi, type ControlSource } from "../../src/api/control.ts";
import { RoutingService, type RoutingConfig } from "../../src/node/routing-service.ts";
import { checkTraefikDocument, type TraefikDocument } from "../../src/routing/traefik-schema.ts";
import type { RoutesResponse } from "../../src/routing/table.ts";
import { runCli } from "../../src/cli/run.ts";
import type { ClusterView } from "../../src/state/model.ts";
import type { Clock } from "../../src/lib/clock.ts";
import { instance, node, view } from "../support/cluster-views.ts";

const config: RoutingConfig = {
  nodeName: "alpha",
  domain: "example.com",
  traefik: { entryPoints: ["websecure"], certResolver: "letsencrypt" },
  gossip: { pushPullIntervalMs: 30_000 },
};
const on = { "traefik.enable": "true" };

class ManualClock implements Clock {
  nowMs = 0;
  monotonicMs() {
    return this.nowMs;
  }
  wallMs() {
    return 1_800_000_000_000 + this.nowMs;
  }
}

/** A stand-in for the state service: a view that tests edit, and its change subscription. */
class FakeState {
  current: ClusterView = view([node("alpha", "100.64.0.1"), node("beta", "100.64.0.2")], [instance("web", "alpha", { labels: on })]);
  views = 0;
  private listeners: ((keys: string[]) => void)[] = [];
  view = () => {
    this.views++;
    return this.current;
  };
  subscribe = (listener: (keys: string[]) => void) => {
    this.listeners.push(listener);
    return () => void (this.listeners = this.listeners.filter((l) => l !== listener));
  };
  change(next: ClusterView, keys: string[]) {
    this.current = next;
    for (const listener of this.listeners) listener(keys);
  }
  get subscribers() {
    return this.listeners.length;
  }
}

function setup(synchronised = true) {
  const state = new FakeState();
  const clock = new ManualClock();
  let synced = synchronised;
  const routing = new RoutingService(config, state.view, state.subscribe, { clock, synchronised: () => synced });
  const app = providerApi(routing);
  return { state, clock, routing, app, sync: () => (synced = true) };
}

/** Every document served here is held to the schema, whatever the test looks at. */
async function get(app: { handle(request: Request): Promise<Response> }, path: string, headers: Record<string, string> = {}) {
  const response = await app.handle(new Request(`http://provider${path}`, { headers }));
  if (path === "/api/dynamic" && response.status === 200) {
    const bytes = new Uint8Array(await response.clone().arrayBuffer());
    const text = response.headers.get("content-encoding") === "gzip" ? gunzipSync(bytes).toString() : new TextDecoder().decode(bytes);
    expect(checkTraefikDocument(JSON.parse(text))).toEqual([]);
  }
  return response;
}

async function servedDocument(response: Response) {
  expect(response.status).toBe(200);
  const document = (await response.json()) as TraefikDocument;
  expect(checkTraefikDocument(document)).toEqual([]);
  return document;
}

describe("provider", () => {
  test("503 with a reason until the node has synchronised once, then 200", async () => {
    const { app, sync } = setup(false);
    const before = await get(app, "/api/dynamic");
    expect(before.status).toBe(503);
    expect(before.headers.get("retry-after")).toBe("5");
    expect(((await before.json()) as { error: string }).error).toContain("has not been synchronised");
    for (const [protocol, section] of providerSections) expect((await get(app, `/api/${protocol}/${section}`)).status).toBe(503);
    expect((await get(app, "/health")).status).toBe(200);
    sync();
    const document = await servedDocument(await get(app, "/api/dynamic"));
    expect(Object.keys(document.http?.routers ?? {})).toEqual(["web-alpha-direct", "web-mesh", "web-with-failover"]);
  });

  test("a node that never hears from the cluster serves what it knows after two push/pull rounds", async () => {
    const { app, clock } = setup(false);
    expect((await get(app, "/api/dynamic")).status).toBe(503);
    clock.nowMs = 59_999;
    expect((await get(app, "/api/dynamic")).status).toBe(503);
    clock.nowMs = 60_000;
    await servedDocument(await get(app, "/api/dynamic"));
  });

  test("ETag: 304 for the current tag, a new tag when the state changes, the same tag for the same bytes", async () => {
    const { app, state } = setup();
    const first = await get(app, "/api/dynamic");
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.headers.get("cache-control")).toBe("no-cache");
    const revalidated = await get(app, "/api/dynamic", { "if-none-match": etag });
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe("");
    expect((await get(app, "/api/dynamic", { "if-none-match": `W/${etag}, "other"` })).status).toBe(304);
    expect((await get(app, "/api/dynamic", { "if-none-match": '"other"' })).status).toBe(200);

    state.change(view(Object.values(state.current.nodes), [instance("web", "alpha", { labels: on }), instance("web", "beta", { labels: on })]), ["svc/web@beta", "health/web@beta"]);
    const changed = await get(app, "/api/dynamic", { "if-none-match": etag });
    expect(changed.status).toBe(200);
    const newTag = changed.headers.get("etag")!;
    expect(newTag).not.toBe(etag);
    // A change that routes nothing differently keeps the bytes and the tag.
    state.change(structuredClone(state.current), ["node/beta"]);
    expect((await get(app, "/api/dynamic", { "if-none-match": newTag })).status).toBe(304);
  });

  test("changes are picked up on the next request; WARP health does not rebuild; a quiet view is looked at again after maxAgeMs", async () => {
    const { app, state, clock, routing } = setup();
    await get(app, "/api/dynamic");
    await get(app, "/api/dynamic");
    expect(routing.generations).toBe(1);
    state.change(state.current, ["warp/alpha"]);
    await get(app, "/api/dynamic");
    expect(routing.generations).toBe(1);
    // A member declared dead leaves the view without a state change: the age bound catches it.
    state.current = view([node("alpha", "100.64.0.1")], [instance("web", "alpha", { labels: on })]);
    clock.nowMs += 1_000;
    await get(app, "/api/dynamic");
    expect(routing.generations).toBe(2);
  });

  test("gzip when asked, with its own tag; identity otherwise", async () => {
    const { app } = setup();
    const plain = await get(app, "/api/dynamic");
    const zipped = await get(app, "/api/dynamic", { "accept-encoding": "gzip, deflate" });
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    expect(zipped.headers.get("vary")).toBe("accept-encoding");
    const body = new Uint8Array(await zipped.arrayBuffer());
    expect(gunzipSync(body).toString()).toBe(await plain.text());
    expect(zipped.headers.get("etag")).toBe(`"${plain.headers.get("etag")!.slice(1, -1)}-gzip"`);
    expect((await get(app, "/api/dynamic", { "accept-encoding": "gzip", "if-none-match": zipped.headers.get("etag")! })).status).toBe(304);
    expect((await get(app, "/api/dynamic", { "accept-encoding": "gzip;q=0" })).headers.get("content-encoding")).toBeNull();
  });

  test("section endpoints serve one map each, {} when empty, with a 304 of their own", async () => {
    const { app, routing } = setup();
    const document = routing.dynamicConfiguration()!;
    for (const [protocol, section] of providerSections) {
      const response = await get(app, `/api/${protocol}/${section}`);
      expect(response.status).toBe(200);
      const expected = (document as Record<string, Record<string, unknown> | undefined>)[protocol]?.[section] ?? {};
      expect(await response.json()).toEqual(JSON.parse(JSON.stringify(expected)));
      expect((await get(app, `/api/${protocol}/${section}`, { "if-none-match": response.headers.get("etag")! })).status).toBe(304);
    }
    expect((await get(app, "/api/tcp/middlewares")).status).toBe(404);
  });

  test("a source without a snapshot (the agent's placeholder) is still served with an ETag", async () => {
    const document = { http: { middlewares: { compress: { compress: {} } } } };
    const app = providerApi({ dynamicConfiguration: () => document, unavailableReason: () => "x" });
    const response = await get(app, "/api/dynamic");
    expect(await response.json()).toEqual(document);
    expect((await get(app, "/api/dynamic", { "if-none-match": response.headers.get("etag")! })).status).toBe(304);
    const placeholder = providerApi({ dynamicConfiguration: () => undefined, unavailableReason: () => "not yet" });
    expect((await get(placeholder, "/api/dynamic")).status).toBe(503);
  });

  test("the service stops listening to the state", () => {
    const { state, routing } = setup();
    expect(state.subscribers).toBe(1);
    routing.stop();
    expect(state.subscribers).toBe(0);
  });

  test("bad routing configuration is refused at start with every reason", () => {
    const state = new FakeState();
    expect(() => new RoutingService({ ...config, traefik: { entryPoints: ["mesh"], certResolver: "a b" } }, state.view, state.subscribe)).toThrow(
      /must not include the mesh entry point.*is not a resolver name/,
    );
  });

  test.each([
    [null, false],
    ["gzip", true],
    ["GZIP;q=0.5", true],
    ["br, gzip;q=0", false],
    ["deflate", false],
  ])("accept-encoding %p -> gzip %p", (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });

  test("if-none-match parsing", () => {
    expect(ifNoneMatch('"a", "b"', ['"b"'])).toBe(true);
    expect(ifNoneMatch("*", ['"b"'])).toBe(true);
    expect(ifNoneMatch('"a"', ['"b"'])).toBe(false);
    expect(ifNoneMatch(null, ['"b"'])).toBe(false);
  });
});

function controlSource(routes: ControlSource["routes"]): ControlSource {
  const unused = () => {
    throw new Error("not used in this test");
  };
  return {
    status: unused,
    members: unused,
    gossipStats: unused,
    keyring: unused,
    cluster: unused,
    changeKeyring: unused,
    auth: { configured: false, check: () => [403, "no"] },
    ...(routes ? { routes } : {}),
  };
}

describe("control API and CLI", () => {
  const servers: { stop(): void }[] = [];
  afterAll(() => servers.forEach((server) => server.stop()));

  test("GET /api/v1/routes: the table once routing has a document, 503 before and without routing", async () => {
    const { routing, sync } = (() => {
      const state = new FakeState();
      state.change(
        view([node("alpha", "100.64.0.1"), { ...node("beta", "100.64.0.2"), cordoned: true }], [instance("web", "alpha", { labels: on }), instance("web", "beta", { labels: on })]),
        [],
      );
      let synced = false;
      return { routing: new RoutingService(config, state.view, state.subscribe, { clock: new ManualClock(), synchronised: () => synced }), sync: () => (synced = true) };
    })();
    const app = controlApi(controlSource(() => routing.routes()));
    const early = await app.handle(new Request("http://control/api/v1/routes"));
    expect(early.status).toBe(503);
    expect(((await early.json()) as { error: string }).error).toContain("not been synchronised");
    sync();
    const response = await app.handle(new Request("http://control/api/v1/routes"));
    expect(response.status).toBe(200);
    const table = (await response.json()) as RoutesResponse;
    expect(table.routes.map((route) => route.host)).toEqual(["web.alpha.example.com", "web.beta.example.com", "web.example.com"]);
    const absent = controlApi(controlSource(undefined));
    const missing = await absent.handle(new Request("http://control/api/v1/routes"));
    expect(missing.status).toBe(503);
    expect(((await missing.json()) as { error: string }).error).toBe("routing is not running on this node");
  });

  test("`constellation routes` prints host -> backends with health, and problems; --json prints the response", async () => {
    const state = new FakeState();
    state.change(
      view([node("alpha", "100.64.0.1"), { ...node("beta", "100.64.0.2"), cordoned: true }], [
        instance("web", "alpha", { labels: { ...on, "traefik.http.routers.web.middlewares": "compress,gzip" } }),
        instance("web", "beta", { labels: { ...on, "traefik.http.routers.web.middlewares": "compress,gzip" } }),
      ]),
      [],
    );
    const routing = new RoutingService(config, state.view, state.subscribe, { clock: new ManualClock() });
    const app = controlApi(controlSource(() => routing.routes()));
    app.listen({ hostname: "127.0.0.1", port: 0 });
    servers.push({ stop: () => void app.stop(true) });
    const api = `http://127.0.0.1:${app.server!.port}`;
    let out = "";
    let err = "";
    const io = { out: (text: string) => (out += text), err: (text: string) => (err += text), env: {} };
    expect(await runCli(["routes", "--api", api], io)).toBe(0);
    expect(err).toBe("");
    expect(out).toMatchInlineSnapshot(`
      "node alpha, domain example.com, mesh entry point "mesh" on port 8090

      HOST                   PROTOCOL  ROUTER             NODE   STATUS   TRAFFIC  TARGET
      web.alpha.example.com  http      web-alpha-direct   alpha  healthy  yes      http://10.76.0.5:8080 (local)
      web.beta.example.com   http      web-beta-direct    beta   healthy  no       node is cordoned
      web.example.com        http      web-with-failover  alpha  healthy  yes      http://10.76.0.5:8080 (local)
                                                          beta   healthy  no       node is cordoned

      2 routing problems:
        web@alpha traefik.http.routers.web.middlewares: "gzip" is neither compress, security-headers, cors nor a name@provider reference; not attached
        web@beta traefik.http.routers.web.middlewares: "gzip" is neither compress, security-headers, cors nor a name@provider reference; not attached
      "
    `);
    out = "";
    expect(await runCli(["routes", "--json", "--api", api], io)).toBe(0);
    expect(JSON.parse(out).node).toBe("alpha");
  });
});
