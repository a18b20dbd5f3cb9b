// The generated Traefik document: whole documents as inline snapshots, the
// traffic rules (healthy, cordoned, unknown node, unreachable), the mesh's
// loop-freedom, determinism, and hostile labels. Every document produced here
// passes the schema of the Traefik v3 subset we emit.

import { describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { generateRouting } from "../../src/routing/generate.ts";
import { routingOptionsFromConfig, routingOptionsProblems, type RoutingOptions } from "../../src/routing/options.ts";
import { checkTraefikDocument, TraefikDocumentV30, TraefikDocumentV34, type TraefikDocument } from "../../src/routing/traefik-schema.ts";
import { routesTable } from "../../src/routing/table.ts";
import { RoutingCache } from "../../src/routing/plan.ts";
import { Prng } from "../../src/lib/prng.ts";
import type { ClusterView } from "../../src/state/model.ts";
import { instance, node, syntheticView, view } from "../support/cluster-views.ts";

const options: RoutingOptions = routingOptionsFromConfig({
  nodeName: "alpha",
  domain: "example.com",
  traefik: { entryPoints: ["websecure"], certResolver: "letsencrypt" },
});
const on = { "traefik.enable": "true" };
const alpha = node("alpha", "100.64.0.1");
const beta = node("beta", "100.64.0.2");
const gamma = node("gamma", "100.64.0.3");

/** Generate, and hold the document Traefik would read to the schema. */
function generate(clusterView: ClusterView, routing: RoutingOptions = options) {
  const result = generateRouting(clusterView, routing);
  const document = JSON.parse(result.json) as TraefikDocument;
  expect(checkTraefikDocument(document, routing.traefikMinorVersion)).toEqual([]);
  return { ...result, parsed: document };
}

function servers(document: TraefikDocument, service: string): string[] {
  return (document.http?.services?.[service]?.loadBalancer.servers ?? []).map((server) => server.url);
}

describe("whole documents", () => {
  test("one node, one service", () => {
    const { parsed } = generate(view([alpha], [instance("web", "alpha", { labels: on })]));
    expect(parsed).toMatchInlineSnapshot(`
      {
        "http": {
          "middlewares": {
            "compress": {
              "compress": {},
            },
            "cors": {
              "headers": {
                "accessControlAllowHeaders": [
                  "*",
                ],
                "accessControlAllowMethods": [
                  "DELETE",
                  "GET",
                  "OPTIONS",
                  "PATCH",
                  "POST",
                  "PUT",
                ],
                "accessControlAllowOriginListRegex": [
                  "^https://([a-z0-9-]+\\.)*example\\.com$",
                ],
                "accessControlMaxAge": 600,
                "addVaryHeader": true,
              },
            },
            "security-headers": {
              "headers": {
                "contentTypeNosniff": true,
                "frameDeny": true,
                "referrerPolicy": "strict-origin-when-cross-origin",
                "stsIncludeSubdomains": true,
                "stsSeconds": 31536000,
              },
            },
          },
          "routers": {
            "web-alpha-direct": {
              "entryPoints": [
                "websecure",
              ],
              "rule": "Host(\`web.alpha.example.com\`)",
              "service": "web-alpha-direct",
              "tls": {
                "certResolver": "letsencrypt",
              },
            },
            "web-mesh": {
              "entryPoints": [
                "mesh",
              ],
              "rule": "Host(\`web.example.com\`) || Host(\`web.alpha.example.com\`)",
              "service": "web-alpha-direct",
            },
            "web-with-failover": {
              "entryPoints": [
                "websecure",
              ],
              "rule": "Host(\`web.example.com\`)",
              "service": "web-with-failover",
              "tls": {
                "certResolver": "letsencrypt",
              },
            },
          },
          "services": {
            "web-alpha-direct": {
              "loadBalancer": {
                "servers": [
                  {
                    "url": "http://10.76.0.5:8080",
                  },
                ],
              },
            },
            "web-with-failover": {
              "loadBalancer": {
                "healthCheck": {
                  "hostname": "web.example.com",
                  "path": "/",
                  "timeout": "10s",
                },
                "servers": [
                  {
                    "url": "http://10.76.0.5:8080",
                  },
                ],
              },
            },
          },
        },
      }
    `);
  });

  test("three nodes: local, remote, cordoned and unhealthy instances", () => {
    const labels = {
      ...on,
      "traefik.http.services.app.loadbalancer.server.port": "3000",
      "traefik.http.services.app.loadbalancer.healthcheck.path": "/healthz",
      "traefik.http.routers.app.middlewares": "security-headers,compress",
    };
    const { parsed } = generate(
      view(
        [alpha, beta, { ...gamma, cordoned: true }],
        [
          instance("app", "alpha", { labels, endpoints: { http: "http://10.76.0.10:3000" } }),
          instance("app", "beta", { labels, endpoints: { http: "http://10.76.0.11:3000" } }),
          instance("app", "gamma", { labels, endpoints: { http: "http://10.76.0.12:3000" } }),
          instance("api", "beta", { labels: on, status: "unhealthy" }),
        ],
      ),
    );
    expect(parsed.http?.routers).toMatchInlineSnapshot(`
      {
        "api-beta-direct": {
          "entryPoints": [
            "websecure",
          ],
          "rule": "Host(\`api.beta.example.com\`)",
          "service": "api-beta-direct",
          "tls": {
            "certResolver": "letsencrypt",
          },
        },
        "api-with-failover": {
          "entryPoints": [
            "websecure",
          ],
          "rule": "Host(\`api.example.com\`)",
          "service": "api-with-failover",
          "tls": {
            "certResolver": "letsencrypt",
          },
        },
        "app-alpha-direct": {
          "entryPoints": [
            "websecure",
          ],
          "middlewares": [
            "security-headers",
            "compress",
          ],
          "rule": "Host(\`app.alpha.example.com\`)",
          "service": "app-alpha-direct",
          "tls": {
            "certResolver": "letsencrypt",
          },
        },
        "app-beta-direct": {
          "entryPoints": [
            "websecure",
          ],
          "middlewares": [
            "security-headers",
            "compress",
          ],
          "rule": "Host(\`app.beta.example.com\`)",
          "service": "app-beta-direct",
          "tls": {
            "certResolver": "letsencrypt",
          },
        },
        "app-gamma-direct": {
          "entryPoints": [
            "websecure",
          ],
          "middlewares": [
            "security-headers",
            "compress",
          ],
          "rule": "Host(\`app.gamma.example.com\`)",
          "service": "app-gamma-direct",
          "tls": {
            "certResolver": "letsencrypt",
          },
        },
        "app-mesh": {
          "entryPoints": [
            "mesh",
          ],
          "rule": "Host(\`app.example.com\`) || Host(\`app.alpha.example.com\`)",
          "service": "app-alpha-direct",
        },
        "app-with-failover": {
          "entryPoints": [
            "websecure",
          ],
          "middlewares": [
            "security-headers",
            "compress",
          ],
          "rule": "Host(\`app.example.com\`)",
          "service": "app-with-failover",
          "tls": {
            "certResolver": "letsencrypt",
          },
        },
      }
    `);
    expect(parsed.http?.services).toMatchInlineSnapshot(`
      {
        "api-beta-direct": {
          "loadBalancer": {
            "servers": [],
          },
        },
        "api-with-failover": {
          "loadBalancer": {
            "healthCheck": {
              "hostname": "api.example.com",
              "path": "/",
              "timeout": "10s",
            },
            "servers": [],
          },
        },
        "app-alpha-direct": {
          "loadBalancer": {
            "servers": [
              {
                "url": "http://10.76.0.10:3000",
              },
            ],
          },
        },
        "app-beta-direct": {
          "loadBalancer": {
            "servers": [
              {
                "url": "http://100.64.0.2:8090",
              },
            ],
          },
        },
        "app-gamma-direct": {
          "loadBalancer": {
            "servers": [],
          },
        },
        "app-with-failover": {
          "loadBalancer": {
            "healthCheck": {
              "hostname": "app.example.com",
              "path": "/healthz",
              "timeout": "10s",
            },
            "servers": [
              {
                "url": "http://10.76.0.10:3000",
              },
              {
                "url": "http://100.64.0.2:8090",
              },
            ],
          },
        },
      }
    `);
  });

  test("TCP with TLS passthrough and UDP", () => {
    const { parsed } = generate(
      view(
        [alpha, beta],
        [
          instance("db", "alpha", { labels: { ...on, "traefik.tcp.services.db.loadbalancer.server.port": "5432" }, endpoints: { tcp: "tcp://10.76.0.20:5432" } }),
          instance("db", "beta", { labels: { ...on, "traefik.tcp.services.db.loadbalancer.server.port": "5432" }, endpoints: { tcp: "tcp://10.76.0.21:5432" } }),
          instance("dns", "alpha", { labels: { ...on, "traefik.udp.routers.dns.entrypoints": "dns", "constellation.udp.hostport": "5353" }, endpoints: { udp: "udp://10.76.0.30:53" } }),
          instance("dns", "beta", { labels: { ...on, "traefik.udp.routers.dns.entrypoints": "dns", "constellation.udp.hostport": "5353" }, endpoints: { udp: "udp://10.76.0.31:53" } }),
        ],
      ),
    );
    expect({ tcp: parsed.tcp, udp: parsed.udp }).toMatchInlineSnapshot(`
      {
        "tcp": {
          "routers": {
            "db-alpha-tcp-direct": {
              "entryPoints": [
                "websecure",
              ],
              "rule": "HostSNI(\`db.alpha.example.com\`)",
              "service": "db-alpha-tcp-direct",
              "tls": {
                "passthrough": true,
              },
            },
            "db-beta-tcp-direct": {
              "entryPoints": [
                "websecure",
              ],
              "rule": "HostSNI(\`db.beta.example.com\`)",
              "service": "db-beta-tcp-direct",
              "tls": {
                "passthrough": true,
              },
            },
            "db-tcp-mesh": {
              "entryPoints": [
                "mesh",
              ],
              "rule": "HostSNI(\`db.example.com\`) || HostSNI(\`db.alpha.example.com\`)",
              "service": "db-alpha-tcp-direct",
              "tls": {
                "passthrough": true,
              },
            },
            "db-tcp-with-failover": {
              "entryPoints": [
                "websecure",
              ],
              "rule": "HostSNI(\`db.example.com\`)",
              "service": "db-tcp-with-failover",
              "tls": {
                "passthrough": true,
              },
            },
          },
          "services": {
            "db-alpha-tcp-direct": {
              "loadBalancer": {
                "servers": [
                  {
                    "address": "10.76.0.20:5432",
                  },
                ],
              },
            },
            "db-beta-tcp-direct": {
              "loadBalancer": {
                "servers": [
                  {
                    "address": "100.64.0.2:8090",
                  },
                ],
              },
            },
            "db-tcp-with-failover": {
              "loadBalancer": {
                "servers": [
                  {
                    "address": "10.76.0.20:5432",
                  },
                  {
                    "address": "100.64.0.2:8090",
                  },
                ],
              },
            },
          },
        },
        "udp": {
          "routers": {
            "dns-udp": {
              "entryPoints": [
                "dns",
              ],
              "service": "dns-udp",
            },
          },
          "services": {
            "dns-udp": {
              "loadBalancer": {
                "servers": [
                  {
                    "address": "10.76.0.30:53",
                  },
                  {
                    "address": "100.64.0.2:5353",
                  },
                ],
              },
            },
          },
        },
      }
    `);
  });

  test("no services: only the middlewares, no empty sections", () => {
    const { json } = generate(view([alpha], []));
    expect(json).toMatchInlineSnapshot(`"{"http":{"middlewares":{"compress":{"compress":{}},"cors":{"headers":{"accessControlAllowHeaders":["*"],"accessControlAllowMethods":["DELETE","GET","OPTIONS","PATCH","POST","PUT"],"accessControlAllowOriginListRegex":["^https://([a-z0-9-]+\\\\.)*example\\\\.com$"],"accessControlMaxAge":600,"addVaryHeader":true}},"security-headers":{"headers":{"contentTypeNosniff":true,"frameDeny":true,"referrerPolicy":"strict-origin-when-cross-origin","stsIncludeSubdomains":true,"stsSeconds":31536000}}}}}"`);
  });
});

describe("who gets traffic", () => {
  test("a service with no healthy instance keeps its routers, with no servers (503, not 404)", () => {
    const { parsed } = generate(view([alpha, beta], [instance("web", "beta", { labels: on, status: "stopped" })]));
    expect(Object.keys(parsed.http?.routers ?? {})).toEqual(["web-beta-direct", "web-with-failover"]);
    expect(servers(parsed, "web-with-failover")).toEqual([]);
    expect(servers(parsed, "web-beta-direct")).toEqual([]);
  });

  test.each([
    ["healthy local", "alpha", {}, ["http://10.76.0.5:8080"]],
    ["healthy remote, through its mesh entry point", "beta", {}, ["http://100.64.0.2:8090"]],
    ["unhealthy", "beta", { status: "unhealthy" }, []],
    ["stopped", "alpha", { status: "stopped" }, []],
    ["on a cordoned node", "gamma", {}, []],
    ["on a node with no metadata", "delta", {}, []],
    ["without a usable endpoint", "alpha", { endpoints: { http: "not a url" } }, []],
  ] as const)("%s", (_name, nodeName, extra, expected) => {
    const { parsed } = generate(view([alpha, beta, { ...gamma, cordoned: true }], [instance("web", nodeName, { labels: on, ...extra })]));
    expect(servers(parsed, "web-with-failover")).toEqual([...expected]);
  });

  test("a remote node without a usable Tailscale address is left out and reported", () => {
    const { parsed, plan } = generate(view([alpha, { ...beta, tailscale_ip: "not-an-ip" }], [instance("web", "beta", { labels: on })]));
    expect(servers(parsed, "web-with-failover")).toEqual([]);
    expect(plan.problems.map((p) => p.message).join()).toContain("is not an IP address");
  });

  test("IPv6 addresses are bracketed", () => {
    const { parsed } = generate(
      view([alpha, { ...beta, tailscale_ip: "fd7a:115c:a1e0::2" }], [
        instance("web", "alpha", { labels: on, endpoints: { http: "http://[fd00::5]:8080" } }),
        instance("web", "beta", { labels: on }),
      ]),
    );
    expect(servers(parsed, "web-with-failover")).toEqual(["http://[fd00::5]:8080", "http://[fd7a:115c:a1e0::2]:8090"]);
  });

  test("the port label wins over the first exposed port, which is the lowest", () => {
    const endpoints = { metrics: "http://10.76.0.5:9100", http: "http://10.76.0.5:8080" };
    const first = generate(view([alpha], [instance("web", "alpha", { labels: on, endpoints })])).parsed;
    expect(servers(first, "web-with-failover")).toEqual(["http://10.76.0.5:8080"]);
    const labelled = generate(view([alpha], [instance("web", "alpha", { labels: { ...on, "traefik.http.services.web.loadbalancer.server.port": "9000", "traefik.http.services.web.loadbalancer.server.scheme": "https" }, endpoints })])).parsed;
    expect(servers(labelled, "web-with-failover")).toEqual(["https://10.76.0.5:9000"]);
  });

  test("containers that did not opt in are not routed", () => {
    const { parsed } = generate(view([alpha], [instance("web", "alpha"), instance("db", "alpha", { labels: { "traefik.enable": "false" } })]));
    expect(parsed.http?.routers).toBeUndefined();
  });
});

describe("the mesh", () => {
  test("mesh routers exist only for local instances and target only this node's containers", () => {
    const clusterView = syntheticView(60, 4, 2);
    for (const self of ["node-1", "node-2", "node-3", "node-4"]) {
      const routing = { ...options, nodeName: self };
      const { parsed } = generate(clusterView, routing);
      const meshRouters = Object.entries(parsed.http?.routers ?? {}).filter(([, router]) => router.entryPoints.includes("mesh"));
      const localInstances = Object.values(clusterView.service_health).filter((health) => health.node_name === self);
      expect(meshRouters.length).toBe(localInstances.length);
      for (const [, router] of meshRouters) {
        expect(router.entryPoints).toEqual(["mesh"]);
        expect(router.tls).toBeUndefined();
        // No hop from the mesh leaves the node: every server is a container address, none a Traefik.
        for (const url of servers(parsed, router.service)) expect(url).not.toContain(":8090");
      }
      // Public routers never listen on the mesh.
      for (const router of Object.values(parsed.http?.routers ?? {})) {
        if (!router.rule.includes("||")) expect(router.entryPoints).not.toContain("mesh");
      }
    }
  });

  test("the failover health check names the public host, so a remote mesh router matches it", () => {
    const { parsed } = generate(view([alpha, beta], [instance("web", "beta", { labels: on })]));
    expect(parsed.http?.services?.["web-with-failover"]?.loadBalancer.healthCheck?.hostname).toBe("web.example.com");
    // The Host header is passed on by Traefik's default (passHostHeader true), so the key is absent and never false.
    expect(parsed.http?.services?.["web-with-failover"]?.loadBalancer).not.toHaveProperty("passHostHeader");
  });
});

describe("names and problems", () => {
  test("a service name that is not a DNS label is reported, not routed", () => {
    const { parsed, plan } = generate(view([alpha], [instance("my_app", "alpha", { labels: on })]));
    expect(parsed.http?.routers).toBeUndefined();
    expect(plan.problems[0]?.message).toContain("is not a DNS label");
  });

  test("two direct routes that would share a name: the first keeps it, the second is reported", () => {
    const { parsed, plan } = generate(
      view([alpha, node("c", "100.64.0.9"), node("b-c", "100.64.0.8")], [instance("a-b", "c", { labels: on }), instance("a", "b-c", { labels: on })]),
    );
    expect(parsed.http?.routers?.["a-b-c-direct"]?.rule).toBe("Host(`a.b-c.example.com`)");
    expect(plan.problems.map((p) => p.message).join()).toContain("already taken");
  });

  test("a kept plan gives up its direct name to a service before it that now claims it", () => {
    const cache = new RoutingCache(options);
    const nodes = [alpha, node("c", "100.64.0.9"), node("b-c", "100.64.0.8")];
    // The same record, as the state hands out for an instance that did not change.
    const unchanged = instance("a-b", "c", { labels: on });
    const before = generateRouting(view(nodes, [unchanged]), options, cache);
    expect(before.document.http?.routers?.["a-b-c-direct"]?.rule).toBe("Host(`a-b.c.example.com`)");
    const now = view(nodes, [unchanged, instance("a", "b-c", { labels: on })]);
    const after = generateRouting(now, options, cache);
    expect(after.json).toBe(generateRouting(now, options).json);
    expect(after.document.http?.routers?.["a-b-c-direct"]?.rule).toBe("Host(`a.b-c.example.com`)");
    expect(after.plan.problems.map((p) => p.message).join()).toContain("already taken");
  });

  test("node names differing only in case share no host", () => {
    const { plan } = generate(view([alpha, node("Beta", "100.64.0.2"), node("beta", "100.64.0.3")], [instance("web", "beta", { labels: on })]));
    expect(plan.problems.map((p) => p.message).join()).toContain('give the same host name label "beta"');
  });

  test("instances that disagree on service-wide labels are reported", () => {
    const { plan } = generate(
      view([alpha, beta], [
        instance("web", "alpha", { labels: { ...on, "traefik.http.routers.web.middlewares": "compress" } }),
        instance("web", "beta", { labels: on }),
      ]),
    );
    expect(plan.problems.map((p) => p.message)).toEqual(["instances on beta carry routing labels that differ from those on alpha; the service follows alpha's"]);
  });

  test("a local instance labelled for another protocol than the service is reached with the service's port and scheme", () => {
    // aardvark sorts first, so the service is HTTP; alpha's own labels say TCP.
    const { parsed, plan } = generate(
      view([alpha, node("aardvark", "100.64.0.9")], [
        instance("db", "aardvark", { labels: on }),
        instance("db", "alpha", { labels: { ...on, "traefik.tcp.services.db.loadbalancer.server.port": "5432" }, endpoints: { tcp: "tcp://10.76.0.7:5432" } }),
      ]),
    );
    expect(servers(parsed, "db-with-failover")).toEqual(["http://100.64.0.9:8090", "http://10.76.0.7:5432"]);
    expect(parsed.tcp).toBeUndefined();
    expect(plan.problems.map((p) => p.message)).toContain("instances on alpha carry routing labels that differ from those on aardvark; the service follows aardvark's");
  });

  test("the routing table says why an instance gets no traffic", () => {
    const { plan } = generate(view([alpha, { ...beta, cordoned: true }], [instance("web", "alpha", { labels: on }), instance("web", "beta", { labels: on })]));
    const failover = routesTable(plan).routes.find((route) => route.router === "web-with-failover");
    expect(failover?.backends).toEqual([
      { node: "alpha", status: "healthy", via: "local", target: "http://10.76.0.5:8080", serving: true, reason: null },
      { node: "beta", status: "healthy", via: "mesh", target: "http://100.64.0.2:8090", serving: false, reason: "node is cordoned" },
    ]);
  });
});

describe("configuration", () => {
  test("entry points, resolver and no TLS", () => {
    const noTls = { ...options, entryPoints: ["web", "websecure"], certResolver: "" };
    const { parsed } = generate(view([alpha], [instance("web", "alpha", { labels: on })]), noTls);
    expect(parsed.http?.routers?.["web-with-failover"]).toEqual({ entryPoints: ["web", "websecure"], rule: "Host(`web.example.com`)", service: "web-with-failover" });
  });

  test.each([
    ["Traefik's defaults are left out", { interval: "30s", timeout: "5s" }, { hostname: "web.example.com", path: "/healthz" }],
    ["others are written", { interval: "1m", timeout: "10s" }, { hostname: "web.example.com", interval: "1m", path: "/healthz", timeout: "10s" }],
  ])("health check timing: %s", (_name, timing, expected) => {
    const labels = {
      ...on,
      "traefik.http.services.web.loadbalancer.healthcheck.path": "/healthz",
      "traefik.http.services.web.loadbalancer.healthcheck.interval": timing.interval,
      "traefik.http.services.web.loadbalancer.healthcheck.timeout": timing.timeout,
    };
    const { parsed } = generate(view([alpha], [instance("web", "alpha", { labels })]));
    expect(parsed.http?.services?.["web-with-failover"]?.loadBalancer.healthCheck).toEqual(expected);
  });

  test("a node name that is not a DNS label gets no direct routes and is reported", () => {
    const odd = { ...node("x", "100.64.0.7"), name: 'bad"name' };
    const { parsed, plan } = generate(view([alpha, odd], [instance("web", 'bad"name', { labels: on }), instance("web", "alpha", { labels: on })]));
    expect(Object.keys(parsed.http?.routers ?? {})).toEqual(["web-alpha-direct", "web-mesh", "web-with-failover"]);
    expect(servers(parsed, "web-with-failover")).toEqual(["http://10.76.0.5:8080", "http://100.64.0.7:8090"]);
    expect(plan.problems.map((p) => p.message)).toContain('node name "bad\\"name" is not a DNS label; it gets no direct routes');
  });

  test("a strategy is emitted only for Traefik 3.4 and later", () => {
    const labels = { ...on, "traefik.http.services.web.loadbalancer.strategy": "p2c" };
    const older = generate(view([alpha], [instance("web", "alpha", { labels })])).parsed;
    expect(older.http?.services?.["web-with-failover"]?.loadBalancer.strategy).toBeUndefined();
    const newer = generate(view([alpha], [instance("web", "alpha", { labels })]), { ...options, traefikMinorVersion: 4 }).parsed;
    expect(newer.http?.services?.["web-with-failover"]?.loadBalancer.strategy).toBe("p2c");
    expect(Value.Check(TraefikDocumentV30, newer)).toBe(false);
  });

  test("bad options are all reported", () => {
    expect(routingOptionsProblems({ ...options, domain: "Example..com", entryPoints: ["mesh", "a b"], certResolver: "x y", meshPort: 0 })).toHaveLength(5);
    expect(routingOptionsProblems(options)).toEqual([]);
  });
});

describe("determinism", () => {
  test("identical state gives identical bytes, whatever order the view was built in", () => {
    const clusterView = syntheticView(50, 5, 3);
    const reversed: ClusterView = {
      ...clusterView,
      nodes: Object.fromEntries(Object.entries(clusterView.nodes).reverse()),
      service_health: Object.fromEntries(Object.entries(clusterView.service_health).reverse()),
    };
    const a = generateRouting(clusterView, options).json;
    expect(generateRouting(structuredClone(clusterView), options).json).toBe(a);
    expect(generateRouting(reversed, options).json).toBe(a);
  });

  test.each([
    ["Traefik 3.0", options],
    ["Traefik 3.4", { ...options, traefikMinorVersion: 4 }],
  ])("a cache kept across rebuilds changes no byte (%s): 300 random edits, each checked against a build without it", (_name, routing) => {
    const prng = new Prng(11);
    const names = ["a", "a-b", "a-b-c", "ab", "b", "web", "web-api", "api"];
    // "a-b" on c and "a" on b-c both make "a-b-c-direct"; a node may lose its Tailscale address.
    const nodes = [alpha, beta, gamma, node("b-c", "100.64.0.4"), node("c", "100.64.0.6"), node("Delta", "100.64.0.5")];
    const labelSets = [
      on,
      { ...on, "traefik.http.routers.x.middlewares": "compress,cors" },
      { ...on, "traefik.http.services.x.loadbalancer.healthcheck.interval": "1m", "traefik.http.services.x.loadbalancer.healthcheck.timeout": "5s" },
      { ...on, "traefik.http.services.x.loadbalancer.strategy": "p2c", "traefik.http.routers.x.entrypoints": "web" },
      { ...on, "traefik.tcp.services.x.loadbalancer.server.port": "5432" },
      { ...on, "traefik.udp.routers.x.entrypoints": "dns", "constellation.udp.hostport": "5353" },
    ];
    let current: ClusterView = view(nodes, [instance("web", "alpha", { labels: on }), instance("a", "b-c", { labels: on })]);
    const cache = new RoutingCache(routing);
    for (let step = 0; step < 300; step++) {
      const instances = { ...current.service_health };
      const nodeMap = { ...current.nodes };
      const keys = Object.keys(instances);
      const edit = prng.intBetween(0, 5);
      if (edit === 0 || keys.length === 0) {
        const service = prng.pick(names);
        const nodeName = prng.pick(nodes).name;
        instances[`${service}@${nodeName}`] = instance(service, nodeName, { labels: { ...prng.pick(labelSets) }, endpoints: { http: `http://10.76.0.${prng.intBetween(2, 250)}:8080` } });
      } else if (edit === 1) {
        const key = prng.pick(keys);
        instances[key] = { ...instances[key]!, status: prng.pick(["healthy", "unhealthy", "stopped"] as const) };
      } else if (edit === 2) {
        delete instances[prng.pick(keys)];
      } else if (edit === 3) {
        const key = prng.pick(keys);
        instances[key] = { ...instances[key]!, labels: { ...prng.pick(labelSets) } };
      } else if (edit === 4) {
        const name = prng.pick(nodes).name;
        if (nodeMap[name]) nodeMap[name] = { ...nodeMap[name]!, cordoned: !nodeMap[name]!.cordoned, tailscale_ip: prng.pick(["100.64.0.9", "not-an-ip", nodeMap[name]!.tailscale_ip]) };
      } else {
        const name = prng.pick(nodes).name;
        if (name !== "alpha" && nodeMap[name]) delete nodeMap[name];
        else nodeMap[name] = nodes.find((n) => n.name === name)!;
      }
      current = { ...current, nodes: nodeMap, service_health: instances };
      const cached = generateRouting(current, routing, cache);
      const fresh = generateRouting(current, routing);
      expect(cached.json).toBe(fresh.json);
      expect(cached.plan.problems).toEqual(fresh.plan.problems);
    }
    expect(checkTraefikDocument(JSON.parse(generateRouting(current, routing, cache).json), routing.traefikMinorVersion)).toEqual([]);
    // A cache made for other options is not used for these.
    const other = { ...routing, domain: "example.org" };
    expect(generateRouting(current, other, cache).json).toBe(generateRouting(current, other).json);
  });

  test("every object's keys are in sorted order", () => {
    const { json } = generate(syntheticView(30, 3, 2), { ...options, nodeName: "node-2" });
    const sortKeys = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(sortKeys)
        : value !== null && typeof value === "object"
          ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]))
          : value;
    expect(JSON.stringify(sortKeys(JSON.parse(json)))).toBe(json);
  });
});

describe("hostile labels", () => {
  const keys = [
    "traefik.enable",
    "traefik.http.services.x.loadbalancer.server.port",
    "traefik.http.services.x.loadbalancer.server.scheme",
    "traefik.http.services.x.loadbalancer.healthcheck.path",
    "traefik.http.services.x.loadbalancer.healthcheck.interval",
    "traefik.http.services.x.loadbalancer.healthcheck.timeout",
    "traefik.http.services.x.loadbalancer.strategy",
    "traefik.http.services.y.loadbalancer.server.port",
    "traefik.http.routers.x.middlewares",
    "traefik.http.routers.x.entrypoints",
    "traefik.http.routers.x.tls.certresolver",
    "traefik.http.routers.x.rule",
    "traefik.tcp.services.x.loadbalancer.server.port",
    "traefik.tcp.routers.x.tls.passthrough",
    "traefik.tcp.routers.x.entrypoints",
    "traefik.udp.services.x.loadbalancer.server.port",
    "traefik.udp.routers.x.entrypoints",
    "constellation.udp.hostport",
    "traefik.http.middlewares.evil.headers.customresponseheaders.x",
    "traefik.http.routers..middlewares",
    "traefik.",
    "Traefik.HTTP.Routers.X.Middlewares",
  ];
  const values = [
    "true", "false", "1", "", " ", "80", "0", "65536", "-1", "1e3", "08080", "http", "https", "h2c", "/", "/x", "x",
    "30s", "1m", "0s", "1h1h1h", "p2c", "wrr", "compress", "compress,cors,security-headers", "a@file", "a@http",
    "mesh", "websecure,mesh", "web", "Host(`evil.com`)", "`", '"', "\\", "}", "{\"http\":{}}", "\u0000", "\n", "\u202e",
    "x".repeat(1025), "../../etc/passwd", "%00", "a,".repeat(20), "${jndi:ldap://x}", "__proto__", "constructor",
  ];

  test("500 random label sets: no exception, always a valid document, bounded problems", () => {
    const prng = new Prng(7);
    for (let round = 0; round < 500; round++) {
      const instances = [];
      for (const nodeName of ["alpha", "beta"]) {
        const labels: Record<string, string> = { "traefik.enable": "true" };
        const count = prng.intBetween(0, 8);
        for (let i = 0; i < count; i++) labels[prng.pick(keys)] = prng.pick(values);
        const endpoints = prng.chance(0.2) ? { [prng.pick(["http", "__proto__", "x"])]: prng.pick(values) } : undefined;
        instances.push(instance(prng.pick(["web", "db", "Bad_Name", "a".repeat(64)]), nodeName, { labels, ...(endpoints ? { endpoints } : {}) }));
      }
      const { plan } = generate(view([alpha, beta], instances));
      expect(plan.problems.length).toBeLessThanOrEqual(256);
    }
  });

  test("a problem never carries a raw control character or an unbounded value", () => {
    const { plan } = generate(view([alpha], [instance("web", "alpha", { labels: { ...on, "traefik.http.services.x.loadbalancer.healthcheck.path": `/\u0000${"y".repeat(900)}` } })]));
    for (const problem of plan.problems) {
      expect(problem.message).not.toContain("\u0000");
      expect(problem.message.length).toBeLessThan(300);
    }
  });
});

describe("the schema", () => {
  const valid = (): TraefikDocument => JSON.parse(generateRouting(view([alpha, beta], [instance("web", "alpha", { labels: on }), instance("web", "beta", { labels: on })]), options).json);

  test.each([
    ["an empty http section", (d: any) => (d.http = {})],
    ["an empty routers map", (d: any) => (d.http.routers = {})],
    ["an empty services map", (d: any) => (d.http.services = {})],
    ["an empty load balancer health check", (d: any) => (d.http.services["web-with-failover"].loadBalancer.healthCheck = {})],
    ["the original agent's load balancer method", (d: any) => (d.http.services["web-with-failover"].loadBalancer.method = "wrr")],
    ["an unknown top-level key", (d: any) => (d.tls = { options: {} })],
    ["a second kind on a service", (d: any) => (d.http.services["web-with-failover"].weighted = { services: [] })],
    ["a wrongly cased key", (d: any) => { const router = d.http.routers["web-with-failover"]; router.entrypoints = router.entryPoints; delete router.entryPoints; }],
    ["a router pointing at a missing service", (d: any) => (d.http.routers["web-with-failover"].service = "nope")],
    ["an undefined middleware", (d: any) => (d.http.routers["web-with-failover"].middlewares = ["gzip"])],
    ["a null", (d: any) => (d.http.routers["web-with-failover"].tls = null)],
    ["a number as a string", (d: any) => (d.http.middlewares.cors.headers.accessControlMaxAge = "600")],
  ])("refuses %s", (_name, mutate) => {
    const document = valid();
    expect(checkTraefikDocument(document)).toEqual([]);
    mutate(document);
    expect(checkTraefikDocument(document).length).toBeGreaterThan(0);
  });

  test("the 3.4 schema is the 3.0 schema plus a strategy", () => {
    const document = valid();
    expect(Value.Check(TraefikDocumentV30, document)).toBe(true);
    expect(Value.Check(TraefikDocumentV34, document)).toBe(true);
  });
});
