// Routing labels: every supported label, its defaults, and the problem a bad
// or hostile value gives (never an exception, never an unchecked value).

import { describe, expect, test } from "bun:test";
import { formatDuration, parseDurationMs, parseInstanceLabels, type InstanceSettings } from "../../src/routing/labels.ts";

const context = { meshEntryPoint: "mesh", traefikMinorVersion: 0 };
const on = { "traefik.enable": "true" };

function parse(labels: Record<string, string> | undefined, minor = 0) {
  return parseInstanceLabels(labels, { ...context, traefikMinorVersion: minor });
}

describe("opt-in", () => {
  test.each([
    ["no labels", undefined, false, 0],
    ["enable=true", { "traefik.enable": "true" }, true, 0],
    ["enable=True (Go ParseBool)", { "traefik.enable": "True" }, true, 0],
    ["enable=1", { "traefik.enable": "1" }, true, 0],
    ["enable=false", { "traefik.enable": "false" }, false, 0],
    ["enable=yes is a problem", { "traefik.enable": "yes" }, false, 1],
    ["upper-case key", { "Traefik.Enable": "true" }, true, 0],
    ["labels of a container that did not opt in are not checked", { "traefik.http.services.x.loadbalancer.server.port": "nope" }, false, 0],
  ] as const)("%s", (_name, labels, enabled, problems) => {
    const result = parse(labels as Record<string, string> | undefined);
    expect(result.settings.enabled).toBe(enabled);
    expect(result.problems).toHaveLength(problems);
  });
});

type Case = [string, Record<string, string>, (settings: InstanceSettings) => unknown, unknown, string | undefined];

const httpCases: Case[] = [
  ["defaults", {}, (s) => s.http, { port: undefined, scheme: "http", healthCheck: { path: "/", interval: "30s", timeout: "10s" }, middlewares: [], entryPoints: undefined, certResolver: undefined, strategy: "wrr" }, undefined],
  ["port", { "traefik.http.services.web.loadbalancer.server.port": "3000" }, (s) => s.http?.port, 3000, undefined],
  ["camel-case field names", { "traefik.http.services.web.loadBalancer.server.port": "3000" }, (s) => s.http?.port, 3000, undefined],
  ["port 0", { "traefik.http.services.web.loadbalancer.server.port": "0" }, (s) => s.http?.port, undefined, "expected a port number from 1 to 65535"],
  ["port 65536", { "traefik.http.services.web.loadbalancer.server.port": "65536" }, (s) => s.http?.port, undefined, "expected a port number"],
  ["port with junk", { "traefik.http.services.web.loadbalancer.server.port": "80; rm -rf /" }, (s) => s.http?.port, undefined, "expected a port number"],
  ["scheme https", { "traefik.http.services.web.loadbalancer.server.scheme": "https" }, (s) => s.http?.scheme, "https", undefined],
  ["scheme h2c", { "traefik.http.services.web.loadbalancer.server.scheme": "H2C" }, (s) => s.http?.scheme, "h2c", undefined],
  ["scheme ftp", { "traefik.http.services.web.loadbalancer.server.scheme": "ftp" }, (s) => s.http?.scheme, "http", "expected http, https or h2c"],
  ["health path", { "traefik.http.services.web.loadbalancer.healthcheck.path": "/healthz?full=1" }, (s) => s.http?.healthCheck.path, "/healthz?full=1", undefined],
  ["relative health path", { "traefik.http.services.web.loadbalancer.healthcheck.path": "healthz" }, (s) => s.http?.healthCheck.path, "/", "expected an absolute path"],
  ["health path with a quote", { "traefik.http.services.web.loadbalancer.healthcheck.path": '/x"}' }, (s) => s.http?.healthCheck.path, "/", "expected an absolute path"],
  ["health path with a newline", { "traefik.http.services.web.loadbalancer.healthcheck.path": "/a\nb" }, (s) => s.http?.healthCheck.path, "/", "expected an absolute path"],
  ["interval 1m", { "traefik.http.services.web.loadbalancer.healthcheck.interval": "1m" }, (s) => s.http?.healthCheck.interval, "1m", undefined],
  ["interval in seconds", { "traefik.http.services.web.loadbalancer.healthcheck.interval": "90" }, (s) => s.http?.healthCheck.interval, "90s", undefined],
  ["interval 1m30s", { "traefik.http.services.web.loadbalancer.healthcheck.interval": "1m30s" }, (s) => s.http?.healthCheck.interval, "90s", undefined],
  ["interval too short", { "traefik.http.services.web.loadbalancer.healthcheck.interval": "10ms" }, (s) => s.http?.healthCheck.interval, "30s", "expected a duration from 1s to 24h"],
  ["interval nonsense", { "traefik.http.services.web.loadbalancer.healthcheck.interval": "soon" }, (s) => s.http?.healthCheck.interval, "30s", "expected a duration"],
  ["timeout 500ms", { "traefik.http.services.web.loadbalancer.healthcheck.timeout": "500ms" }, (s) => s.http?.healthCheck.timeout, "500ms", undefined],
  ["middlewares", { "traefik.http.routers.web.middlewares": "security-headers, compress,cors" }, (s) => s.http?.middlewares, ["security-headers", "compress", "cors"], undefined],
  ["middlewares deduplicated, @http accepted", { "traefik.http.routers.web.middlewares": "compress,compress@http" }, (s) => s.http?.middlewares, ["compress"], undefined],
  ["foreign middleware", { "traefik.http.routers.web.middlewares": "auth@file,compress" }, (s) => s.http?.middlewares, ["auth@file", "compress"], undefined],
  ["unknown middleware keeps the others", { "traefik.http.routers.web.middlewares": "compress,gzip,`rm`" }, (s) => s.http?.middlewares, ["compress"], "are neither compress"],
  ["unknown @http middleware", { "traefik.http.routers.web.middlewares": "auth@http" }, (s) => s.http?.middlewares, [], "neither compress"],
  ["entry points", { "traefik.http.routers.web.entrypoints": "web,websecure" }, (s) => s.http?.entryPoints, ["web", "websecure"], undefined],
  ["the mesh entry point is refused", { "traefik.http.routers.web.entrypoints": "mesh" }, (s) => s.http?.entryPoints, undefined, "only carries traffic between nodes"],
  ["bad entry point", { "traefik.http.routers.web.entrypoints": "web secure" }, (s) => s.http?.entryPoints, undefined, "is not an entry point name"],
  ["cert resolver", { "traefik.http.routers.web.tls.certresolver": "staging" }, (s) => s.http?.certResolver, "staging", undefined],
  ["cert resolver with a backtick", { "traefik.http.routers.web.tls.certresolver": "a`b" }, (s) => s.http?.certResolver, undefined, "expected a certificate resolver name"],
  ["a rule is written by the provider", { "traefik.http.routers.web.rule": "Host(`evil.example`)" }, (s) => s.http?.entryPoints, undefined, "writes rules"],
  ["strategy p2c needs Traefik 3.4", { "traefik.http.services.web.loadbalancer.strategy": "p2c" }, (s) => s.http?.strategy, "wrr", "needs Traefik 3.4"],
  ["unknown field", { "traefik.http.services.web.loadbalancer.sticky.cookie": "true" }, (s) => s.http?.port, undefined, "not supported by the cluster provider"],
  ["middleware definitions by label", { "traefik.http.middlewares.x.basicauth.users": "u:p" }, (s) => s.http?.middlewares, [], "not defined by label"],
  ["docker provider labels", { "traefik.docker.network": "proxy" }, (s) => s.http?.port, undefined, "not used by the cluster provider"],
  ["bad router name", { "traefik.http.routers.a$b.middlewares": "compress" }, (s) => s.http?.middlewares, [], "is not a router or service name"],
  ["over-long value", { "traefik.http.routers.web.middlewares": "x".repeat(2000) }, (s) => s.http?.middlewares, [], "longer than 1024"],
];

describe("HTTP labels", () => {
  test.each(httpCases)("%s", (_name, labels, pick, expected, problem) => {
    const result = parse({ ...on, ...labels });
    expect(pick(result.settings)).toEqual(expected as never);
    if (problem === undefined) expect(result.problems).toEqual([]);
    else expect(result.problems.map((p) => p.message).join("\n")).toContain(problem);
  });

  test("strategy p2c is taken when Traefik 3.4 is configured", () => {
    const result = parse({ ...on, "traefik.http.services.web.loadbalancer.strategy": "p2c" }, 4);
    expect(result.settings.http?.strategy).toBe("p2c");
    expect(result.problems).toEqual([]);
  });

  test("several service names: only the first is read, and that is said", () => {
    const result = parse({ ...on, "traefik.http.services.b.loadbalancer.server.port": "2", "traefik.http.services.a.loadbalancer.server.port": "1" });
    expect(result.settings.http?.port).toBe(1);
    expect(result.problems[0]?.message).toContain('one per container is supported, so only "a" is read');
  });

  test("a problem names the label and quotes the value, escaped and cut short", () => {
    const value = `8080\u0000${"9".repeat(100)}`;
    const result = parse({ ...on, "traefik.http.services.web.loadbalancer.server.port": value });
    expect(result.problems[0]?.label).toBe("traefik.http.services.web.loadbalancer.server.port");
    expect(result.problems[0]?.message).toContain('"8080\\u0000999');
    expect(result.problems[0]?.message.length).toBeLessThan(200);
  });
});

test("a label key with terminal escapes is reported escaped", () => {
  const key = "traefik.http.services.x\u001b[31m.loadbalancer.server.port";
  const { problems } = parse({ ...on, [key]: "80" });
  expect(problems).toHaveLength(1);
  expect(problems[0]?.label).toBe(JSON.stringify(key));
  expect(problems[0]?.message).not.toContain("\u001b[");
});

describe("protocols", () => {
  test.each([
    ["HTTP by default", {}, ["http"]],
    ["TCP labels make a TCP service", { "traefik.tcp.services.db.loadbalancer.server.port": "5432" }, ["tcp"]],
    ["UDP labels alone make a UDP service", { "traefik.udp.services.dns.loadbalancer.server.port": "53", "traefik.udp.routers.dns.entrypoints": "dns" }, ["udp"]],
    ["HTTP and UDP labels together", { "traefik.http.services.web.loadbalancer.server.port": "80", "traefik.udp.routers.dns.entrypoints": "dns" }, ["http", "udp"]],
    ["HTTP and TCP labels: TCP wins, with a problem", { "traefik.http.services.web.loadbalancer.server.port": "80", "traefik.tcp.services.db.loadbalancer.server.port": "5432" }, ["tcp"]],
    ["TCP without passthrough is refused", { "traefik.tcp.routers.db.tls.passthrough": "false" }, []],
    ["UDP without an entry point is refused", { "traefik.udp.services.dns.loadbalancer.server.port": "53" }, []],
  ] as const)("%s", (_name, labels, protocols) => {
    const { settings } = parse({ ...on, ...labels });
    const active = (["http", "tcp", "udp"] as const).filter((protocol) => settings[protocol] !== undefined);
    expect(active).toEqual([...protocols]);
  });

  test("UDP host port", () => {
    const { settings, problems } = parse({ ...on, "traefik.udp.routers.dns.entrypoints": "dns", "constellation.udp.hostport": "5353" });
    expect(settings.udp).toEqual({ port: undefined, entryPoints: ["dns"], hostPort: 5353 });
    expect(problems).toEqual([]);
  });

  test("a host port without a UDP route is reported", () => {
    const { problems } = parse({ ...on, "constellation.udp.hostport": "5353" });
    expect(problems.map((p) => p.message)).toEqual(["only UDP routes use a host port; ignored"]);
  });
});

describe("durations", () => {
  test.each([
    ["30s", 30_000, "30s"],
    ["30", 30_000, "30s"],
    ["1m30s", 90_000, "90s"],
    ["2h", 7_200_000, "2h"],
    ["1500ms", 1_500, "1500ms"],
    ["120s", 120_000, "2m"],
  ])("%s", (text, ms, canonical) => {
    expect(parseDurationMs(text)).toBe(ms);
    expect(formatDuration(ms)).toBe(canonical);
  });

  test.each(["", "s", "1.5s", "-1s", "1d", "1 s", "99999999s"])("%s is not a duration", (text) => {
    expect(parseDurationMs(text)).toBeUndefined();
  });
});
