// The container monitor's pure core: service identity, labels, health
// classification and failure counting, endpoints, restart decisions
// (grace, backoff, hourly budget) in virtual time, the monitor's
// publications, the WARP trace verdict and exec output framing, the edge
// binding planner, the event line splitter and the Docker configuration
// checks.

import { describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { parseInspect, snapshotKey, summaryKey, type ContainerSnapshot } from "../../src/docker/container.ts";
import { classify, endpointsOf, nextFailureRecord, type FailureRecord } from "../../src/docker/health.ts";
import { labelProblemsMax, parseScopeLabel, publishedLabelsMax, readLabels, serviceIdentity } from "../../src/docker/labels.ts";
import { backoffDelayMs, decideRestart, hourMs, RestartTracker, type RestartOptions } from "../../src/docker/restart.ts";
import { MonitorCore, type MonitorEffect, type MonitorOptions, type Now } from "../../src/docker/monitor.ts";
import { demultiplex, parseTrace, traceCommand, traceVerdict } from "../../src/docker/warp.ts";
import { edgeTransientName, parseEdgeBinding, planEdge, recreateSpec, type EdgeBinding } from "../../src/docker/edge.ts";
import { EventLineSplitter, eventEffect, parseEvent } from "../../src/docker/events.ts";
import { dockerConfigProblems } from "../../src/docker/options.ts";
import { dockerConfigDefaults } from "../../src/config/schema.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ServiceHealth } from "../../src/state/model.ts";

const idA = "a".repeat(64);
const idB = "b".repeat(64);

function snap(overrides: Partial<ContainerSnapshot> = {}): ContainerSnapshot {
  return {
    id: idA,
    name: "web",
    image: "example/web:1",
    labels: {},
    state: "running",
    exitCode: 0,
    startedAtMs: 1_000_000,
    health: "none",
    failingStreak: 0,
    startPeriodMs: 0,
    restartPolicy: "unless-stopped",
    networkMode: "publicnet",
    networks: [{ name: "publicnet", ipv4: "10.76.0.5", ipv6: "" }],
    exposedPorts: [{ port: 8080, protocol: "tcp" }],
    ...overrides,
  };
}

describe("service identity", () => {
  test.each([
    ["constellation.service wins", "shop_web_1", { "constellation.service": "shop", "com.docker.compose.service": "web" }, "shop", "constellation.service"],
    ["then the Compose service", "shop-web-1", { "com.docker.compose.service": "web" }, "web", "com.docker.compose.service"],
    ["then the whole name, never split on _", "shop_web_1", {}, "shop_web_1", "container name"],
    ["Docker's leading slash is dropped", "/api", {}, "api", "container name"],
  ])("%s", (_what, name, labels, service, source) => {
    expect(serviceIdentity(name, labels)).toEqual({ kind: "service", name: service, source: source as never });
  });

  test.each([
    ["an invalid label is not passed over", "web", { "constellation.service": "bad name!" }, 'label constellation.service "bad name!" is not a service name'],
    ["an empty label", "web", { "constellation.service": "" }, "label constellation.service is empty"],
    ["an invalid Compose label", "web", { "com.docker.compose.service": "-x" }, "label com.docker.compose.service"],
    ["a name that is too long", "n".repeat(200), {}, "the container name is 200 characters long"],
  ])("%s", (_what, name, labels, problem) => {
    const identity = serviceIdentity(name, labels);
    expect(identity.kind).toBe("invalid");
    if (identity.kind === "invalid") expect(identity.problem).toContain(problem);
  });
});

describe("labels", () => {
  test("only routing labels are published, in bounds, with problems for the rest", () => {
    const labels: Record<string, string> = {
      "traefik.enable": "true",
      "constellation.service": "web",
      "deunhealth.restart.on.unhealthy": "true",
      "com.example.other": "x",
      "traefik.http.routers.web.rule": "r".repeat(2000),
      [`traefik.${"k".repeat(300)}`]: "v",
      "traefik.bad": "line\nbreak",
    };
    const reading = readLabels(labels);
    expect(reading.published).toEqual({ "constellation.service": "web", "deunhealth.restart.on.unhealthy": "true", "traefik.enable": "true" });
    expect(reading.restartOnUnhealthy).toBe(true);
    expect(reading.problems.slice(0, 2)).toEqual([
      'label "traefik.bad" contains control characters; ignored',
      "label traefik.http.routers.web.rule is 2000 characters long, more than 1024; ignored",
    ]);
    expect(reading.problems[2]).toStartWith('label key "traefik.kkkk');
    expect(reading.problems[2]).toEndWith("is 308 characters long, more than 256; ignored");
    expect(reading.problems.length).toBe(3);
  });

  test("more labels than an instance carries are left out and counted; problems are bounded", () => {
    const labels: Record<string, string> = {};
    for (let i = 0; i < 100; i++) labels[`traefik.http.routers.r${String(i).padStart(3, "0")}.priority`] = String(i);
    for (let i = 0; i < 30; i++) labels[`traefik.z${i}`] = "x".repeat(2000);
    const reading = readLabels(labels);
    expect(Object.keys(reading.published).length).toBe(publishedLabelsMax);
    expect(reading.problems.length).toBe(labelProblemsMax + 1);
    expect(reading.problems.at(-1)).toMatch(/^\.\.\. and \d+ more label problems$/);
    const many: Record<string, string> = {};
    for (let i = 0; i < 600; i++) many[`x${i}`] = "";
    expect(readLabels(many).problems[0]).toBe("the container has 600 labels; only the first 512 in sorted order are read");
  });

  test.each([
    ["true", true, 0],
    ["1", true, 0],
    ["false", false, 0],
    ["maybe", false, 1],
  ])("deunhealth.restart.on.unhealthy=%s", (value, restart, problems) => {
    const reading = readLabels({ "deunhealth.restart.on.unhealthy": value });
    expect(reading.restartOnUnhealthy).toBe(restart);
    expect(reading.problems.length).toBe(problems);
  });

  test.each([
    ["constellation.test.scope=a1", { key: "constellation.test.scope", value: "a1" }],
    ["agent=", { key: "agent", value: "" }],
    ["=x", "expected key=value"],
    ["novalue", "expected key=value"],
    ["bad key=x", "may hold only"],
    ["k=a,b", 'may not hold control characters or ","'],
  ])("scope label %s", (text, expected) => {
    const parsed = parseScopeLabel(text);
    if (typeof expected === "string") expect(parsed).toEqual(expect.stringContaining(expected));
    else expect(parsed).toEqual(expected);
  });
});

describe("classification", () => {
  test.each([
    ["running without healthcheck", { state: "running", health: "none" }, "running", "healthy", false],
    ["running and passing", { state: "running", health: "healthy" }, "healthy", "healthy", false],
    ["in its start period: not yet failing", { state: "running", health: "starting" }, "starting", "unhealthy", false],
    ["running and failing", { state: "running", health: "unhealthy" }, "unhealthy", "unhealthy", true],
    ["paused", { state: "paused" }, "paused", "unhealthy", true],
    ["one-shot done: not a service", { state: "exited", exitCode: 0, restartPolicy: "no" }, "finished", undefined, false],
    ["exited with an error", { state: "exited", exitCode: 1, restartPolicy: "no" }, "stopped", "stopped", true],
    ["exit 0 but meant to run", { state: "exited", exitCode: 0, restartPolicy: "always" }, "stopped", "stopped", true],
    ["created, never started", { state: "created" }, "stopped", "stopped", false],
    ["restarting", { state: "restarting" }, "stopped", "stopped", true],
    ["dead", { state: "dead" }, "stopped", "stopped", true],
  ] as const)("%s", (_what, overrides, phase, status, failing) => {
    expect(classify(snap(overrides as Partial<ContainerSnapshot>))).toEqual({ phase, status, failing });
  });

  test("failures count turns to failing since the last healthy observation", () => {
    const sequence = [
      { state: "created" },
      { state: "running", health: "starting" },
      { state: "running", health: "unhealthy" },
      { state: "running", health: "unhealthy" },
      { state: "exited", exitCode: 137 },
      { state: "running", health: "starting" },
      { state: "running", health: "unhealthy" },
      { state: "running", health: "healthy" },
      { state: "running", health: "unhealthy" },
    ] as const;
    let record: FailureRecord | undefined;
    let failing = false;
    const counts: number[] = [];
    sequence.forEach((overrides, i) => {
      const classification = classify(snap(overrides as Partial<ContainerSnapshot>));
      record = nextFailureRecord(record, failing, { ...classification, status: classification.status! }, 1000 * (i + 1));
      failing = classification.failing;
      counts.push(record.consecutiveFailures);
    });
    expect(counts).toEqual([0, 0, 1, 1, 1, 1, 2, 0, 1]);
    expect(record!.lastSuccessWallMs).toBe(8000);
    expect(record!.lastFailureWallMs).toBe(9000);
  });
});

describe("endpoints", () => {
  const options = { proxyNetworks: ["publicnet", "constellation_publicnet"] };
  const networks = [
    { name: "backend", ipv4: "10.0.7.3", ipv6: "" },
    { name: "constellation_publicnet", ipv4: "10.76.0.9", ipv6: "" },
  ];

  test.each([
    ["the first exposed TCP port on the proxy network", {}, {}, { http: "http://10.76.0.9:8080" }],
    ["a label port wins", { "traefik.http.services.web.loadbalancer.server.port": "9000" }, {}, { http: "http://10.76.0.9:9000" }],
    [
      "the service named like the instance is preferred",
      { "traefik.http.services.aaa.loadbalancer.server.port": "1111", "traefik.http.services.web.loadbalancer.server.port": "2222" },
      {},
      { http: "http://10.76.0.9:2222" },
    ],
    ["TCP and UDP labels", { "traefik.tcp.services.db.loadbalancer.server.port": "5432", "traefik.udp.services.dns.loadbalancer.server.port": "53" }, {}, { tcp: "tcp://10.76.0.9:5432", udp: "udp://10.76.0.9:53" }],
    ["traefik.docker.network names the network", { "traefik.docker.network": "backend" }, {}, { http: "http://10.0.7.3:8080" }],
    ["an IPv6-only network", {}, { networks: [{ name: "v6", ipv4: "", ipv6: "fd00::5" }] }, { http: "http://[fd00::5]:8080" }],
    ["no exposed port: no endpoint", {}, { exposedPorts: [] }, {}],
    ["no address (stopped): no endpoint", {}, { networks: [{ name: "publicnet", ipv4: "", ipv6: "" }] }, {}],
  ])("%s", (_what, labels, overrides, endpoints) => {
    const snapshot = snap({ networks, ...overrides, labels });
    const reading = readLabels(labels);
    expect(endpointsOf(snapshot, "web", reading.published, reading.dockerNetwork, options).endpoints).toEqual(endpoints);
  });

  test("a malformed port label is a problem and the exposed port is used", () => {
    const labels = { "traefik.http.services.web.loadbalancer.server.port": "http" };
    const result = endpointsOf(snap({ networks, labels }), "web", labels, undefined, options);
    expect(result.endpoints).toEqual({ http: "http://10.76.0.9:8080" });
    expect(result.problems).toEqual(['label traefik.http.services.web.loadbalancer.server.port = "http": expected a port from 1 to 65535; ignored']);
    expect(result.networks).toEqual(["backend", "constellation_publicnet"]);
  });
});

describe("inspect and list answers", () => {
  const inspect = {
    Id: idA,
    Name: "/web",
    Image: "sha256:abc",
    Config: { Image: "example/web:1", Labels: { a: "1", n: 5 }, ExposedPorts: { "443/tcp": {}, "80/tcp": {}, "53/udp": {}, "x/tcp": {} }, Healthcheck: { StartPeriod: 30_000_000_000 } },
    State: { Status: "running", Running: true, ExitCode: 0, StartedAt: "2024-05-01T10:00:00.123456789Z", Health: { Status: "healthy", FailingStreak: 0 } },
    HostConfig: { RestartPolicy: { Name: "" }, NetworkMode: "publicnet" },
    NetworkSettings: { Networks: { publicnet: { IPAddress: "10.76.0.5", GlobalIPv6Address: "" }, backend: { IPAddress: "10.0.7.5" } } },
  };

  test("an inspect answer becomes a snapshot; odd fields take neutral values", () => {
    const parsed = parseInspect(inspect);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.snapshot).toMatchObject({
      id: idA,
      name: "web",
      image: "example/web:1",
      labels: { a: "1" },
      state: "running",
      startedAtMs: Date.parse("2024-05-01T10:00:00.123Z"),
      health: "healthy",
      startPeriodMs: 30_000,
      restartPolicy: "no",
    });
    expect(parsed.snapshot.networks.map((n) => n.name)).toEqual(["backend", "publicnet"]);
    expect(parsed.snapshot.exposedPorts).toEqual([
      { port: 53, protocol: "udp" },
      { port: 80, protocol: "tcp" },
      { port: 443, protocol: "tcp" },
    ]);
    expect(parseInspect({ Name: "/x" })).toEqual({ ok: false, error: "inspect answer without a container id" });
    expect(parseInspect(null).ok).toBe(false);
    const never = parseInspect({ Id: idB, Name: "/n", State: { Status: "created", StartedAt: "0001-01-01T00:00:00Z" } });
    expect(never.ok && never.snapshot.startedAtMs).toBeUndefined();
  });

  test("a list entry and an inspect of the same container compare equal; a change does not", () => {
    const entry = {
      Id: idA,
      Names: ["/web", "/other/alias"],
      State: "running",
      Status: "Up 3 minutes (healthy)",
      NetworkSettings: { Networks: { publicnet: { IPAddress: "10.76.0.5" }, backend: { IPAddress: "10.0.7.5" } } },
    };
    const parsed = parseInspect(inspect);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(summaryKey(entry)?.key).toBe(snapshotKey(parsed.snapshot));
    expect(summaryKey({ ...entry, Status: "Up 3 minutes (unhealthy)" })?.key).not.toBe(snapshotKey(parsed.snapshot));
    // A stopped container's last health is not part of the key on either side.
    const stoppedInspect = parseInspect({ ...inspect, State: { ...inspect.State, Status: "exited" } });
    if (!stoppedInspect.ok) throw new Error(stoppedInspect.error);
    expect(summaryKey({ ...entry, State: "exited", Status: "Exited (1) 2 seconds ago" })?.key).toBe(snapshotKey(stoppedInspect.snapshot));
    expect(summaryKey({ Id: "nope" })).toBeUndefined();
  });
});

describe("restart decisions", () => {
  const options: RestartOptions = { dryRun: false, graceMs: 60_000, backoffBaseMs: 10_000, backoffMaxMs: 40_000, budgetPerHour: 3 };

  test.each([
    [0, 0],
    [1, 10_000],
    [2, 20_000],
    [3, 40_000],
    [10, 40_000],
    [2000, 40_000],
  ])("backoff after %i restarts in a streak: %i ms", (streak, delay) => {
    expect(backoffDelayMs(streak, options)).toBe(delay);
  });

  test("grace (the longer of start period and graceMs), then backoff, then the hourly budget", () => {
    const tracker = new RestartTracker(options.budgetPerHour);
    // Wall and monotonic clocks advance together; they start at different origins.
    let mono = 500;
    const wallOf = (m: number) => 1_700_000_000_000 + m;
    const input = (startedAtMono: number, startPeriodMs = 0) => ({
      optedIn: true,
      phase: "unhealthy" as const,
      startedAtWallMs: wallOf(startedAtMono),
      startPeriodMs,
      nowWallMs: wallOf(mono),
      nowMs: mono,
    });
    expect(decideRestart(tracker, { ...input(0), phase: "healthy" }, options)).toEqual({ kind: "none" });
    expect(decideRestart(tracker, { ...input(0), optedIn: false }, options)).toEqual({ kind: "none" });
    expect(decideRestart(tracker, input(0), options)).toEqual({ kind: "wait", reason: "grace", untilMs: 60_000 });
    expect(decideRestart(tracker, input(0, 90_000), options)).toEqual({ kind: "wait", reason: "grace", untilMs: 90_000 });
    mono = 60_000;
    expect(decideRestart(tracker, input(0), options)).toEqual({ kind: "restart", attempt: 1 });
    tracker.restarted(mono);
    // It comes back unhealthy: grace first, then the backoff from the last restart.
    mono = 60_000 + 60_000;
    expect(decideRestart(tracker, input(60_000), options)).toEqual({ kind: "restart", attempt: 2 });
    tracker.restarted(mono);
    mono += 60_000;
    expect(decideRestart(tracker, input(120_000), options)).toEqual({ kind: "restart", attempt: 3 });
    tracker.restarted(mono);
    mono += 60_000;
    expect(decideRestart(tracker, input(180_000), options)).toEqual({ kind: "budget-exhausted", untilMs: 60_000 + hourMs, restartsInHour: 3 });
    // The oldest restart leaves the window after an hour.
    mono = 60_000 + hourMs;
    expect(decideRestart(tracker, input(180_000), options)).toEqual({ kind: "restart", attempt: 4 });
    tracker.inFlight = true;
    expect(decideRestart(tracker, input(180_000), options)).toEqual({ kind: "none" });
  });

  test("the backoff grows while the streak lasts and resets when the container recovers", () => {
    const fast = { ...options, graceMs: 1 };
    const tracker = new RestartTracker(100);
    const at = (mono: number) => ({ optedIn: true, phase: "unhealthy" as const, startedAtWallMs: undefined, startPeriodMs: 0, nowWallMs: mono, nowMs: mono });
    tracker.restarted(0);
    expect(decideRestart(tracker, at(5000), { ...fast, budgetPerHour: 100 })).toEqual({ kind: "wait", reason: "backoff", untilMs: 10_000 });
    tracker.restarted(10_000);
    expect(decideRestart(tracker, at(15_000), { ...fast, budgetPerHour: 100 })).toEqual({ kind: "wait", reason: "backoff", untilMs: 30_000 });
    tracker.recovered();
    expect(decideRestart(tracker, at(15_000), { ...fast, budgetPerHour: 100 })).toEqual({ kind: "restart", attempt: 1 });
  });

  test("a zero budget never restarts", () => {
    const decision = decideRestart(new RestartTracker(0), { optedIn: true, phase: "unhealthy", startedAtWallMs: undefined, startPeriodMs: 0, nowWallMs: 0, nowMs: 0 }, { ...options, budgetPerHour: 0 });
    expect(decision.kind).toBe("budget-exhausted");
  });
});

describe("monitor core", () => {
  const monitorOptions = (overrides: Partial<MonitorOptions> = {}): MonitorOptions => ({
    nodeName: "node-a",
    proxyNetworks: ["publicnet"],
    scope: undefined,
    restart: { dryRun: false, graceMs: 1000, backoffBaseMs: 1000, backoffMaxMs: 4000, budgetPerHour: 2 },
    containersMax: 100,
    historyMax: 10,
    ...overrides,
  });
  let mono = 0;
  const now = (): Now => ({ wallMs: 1_000_000 + mono, monoMs: mono });
  const of = <K extends MonitorEffect["kind"]>(effects: MonitorEffect[], kind: K) => effects.filter((e): e is Extract<MonitorEffect, { kind: K }> => e.kind === kind);

  test("publishes valid records once per change and withdraws a service when its container goes", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions());
    const first = core.observe(snap({ labels: { "traefik.enable": "true" } }), now());
    const published = of(first.effects, "publish");
    expect(published.length).toBe(1);
    const health = published[0]!.health;
    expect(Value.Check(ServiceHealth, health)).toBe(true);
    expect(health).toMatchObject({ service_name: "web", node_name: "node-a", status: "healthy", healthy: true, endpoints: { http: "http://10.76.0.5:8080" }, networks: ["publicnet"], labels: { "traefik.enable": "true" } });
    // The same state seen again publishes nothing.
    mono += 1000;
    expect(of(core.observe(snap({ labels: { "traefik.enable": "true" } }), now()).effects, "publish")).toEqual([]);
    expect(of(core.gone(idA).effects, "remove")).toEqual([{ kind: "remove", service: "web" }]);
    expect(of(core.gone(idA).effects, "remove")).toEqual([]);
  });

  test("several containers of one service: the healthiest is published, ties to the first name", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions());
    const labels = { "constellation.service": "api" };
    core.observe(snap({ id: idA, name: "api-2", labels, health: "unhealthy" }), now());
    const out = core.observe(snap({ id: idB, name: "api-1", labels, health: "healthy", networks: [{ name: "publicnet", ipv4: "10.76.0.6", ipv6: "" }] }), now());
    expect(of(out.effects, "publish").at(-1)!.health).toMatchObject({ service_name: "api", status: "healthy", endpoints: { http: "http://10.76.0.6:8080" } });
    const view = core.view(now());
    expect(view.map((c) => [c.name, c.published])).toEqual([["api-1", true], ["api-2", false]]);
    expect(view[1]!.problems).toEqual(["another container on this node, api-1, is published for the service api; this one is not"]);
    // When the published one goes, the other takes over.
    const after = core.gone(idB);
    expect(of(after.effects, "publish")[0]!.health).toMatchObject({ status: "unhealthy", endpoints: { http: "http://10.76.0.5:8080" } });
    // Equally healthy: the name that sorts first, whatever the order they were seen in.
    const tie = new MonitorCore(monitorOptions());
    tie.observe(snap({ id: idA, name: "zeta", labels }), now());
    const tied = tie.observe(snap({ id: idB, name: "alpha", labels, networks: [{ name: "publicnet", ipv4: "10.76.0.7", ipv6: "" }] }), now());
    expect(of(tied.effects, "publish")[0]!.health.endpoints).toEqual({ http: "http://10.76.0.7:8080" });
  });

  test("a resync forgets containers the listing lacks, but not ones observed after it was taken", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions());
    core.observe(snap({ id: idA, name: "a" }), now());
    const listedAfter = core.observationSeq;
    core.observe(snap({ id: idB, name: "b" }), now());
    const out = core.resynced(new Set(), listedAfter);
    expect(of(out.effects, "remove")).toEqual([{ kind: "remove", service: "a" }]);
    expect(core.knows(idB)).toBe(true);
  });

  test("scope, transient edge names and one-shot containers are not published", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions({ scope: { key: "agent", value: "a" } }));
    expect(of(core.observe(snap({ labels: { agent: "b" } }), now()).effects, "publish")).toEqual([]);
    expect(core.counters.outOfScope).toBe(1);
    expect(of(core.observe(snap({ name: edgeTransientName("traefik", "next", "0a1b2c3d"), labels: { agent: "a" } }), now()).effects, "publish")).toEqual([]);
    expect(core.size).toBe(0);
    expect(of(core.observe(snap({ labels: { agent: "a" } }), now()).effects, "publish").length).toBe(1);
    // The container finishes its one-shot job: withdrawn, still listed.
    const done = core.observe(snap({ labels: { agent: "a" }, state: "exited", exitCode: 0, restartPolicy: "no" }), now());
    expect(of(done.effects, "remove")).toEqual([{ kind: "remove", service: "web" }]);
    expect(core.view(now())[0]!.phase).toBe("finished");
  });

  test("restarts: grace, then a restart effect, backoff, budget, all recorded", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions());
    const sick = (startedAtMs: number) => snap({ health: "unhealthy", startedAtMs, labels: { "deunhealth.restart.on.unhealthy": "true" } });
    let out = core.observe(sick(now().wallMs), now());
    expect(of(out.effects, "restart")).toEqual([]);
    expect(out.wakeAtMs).toBe(1000);
    expect(core.view(now())[0]!.next_restart_at).toBe(new Date(now().wallMs + 1000).toISOString());
    mono = 1000;
    out = core.tick(now());
    expect(of(out.effects, "restart")).toEqual([{ kind: "restart", containerId: idA, containerName: "web", service: "web", attempt: 1 }]);
    // The restart is in flight: nothing more is decided until it finishes.
    expect(of(core.observe(sick(1_000_000), now()).effects, "restart")).toEqual([]);
    mono = 1500;
    out = core.restartFinished("web", "web", 1, undefined, now());
    expect(core.restartHistory().map((e) => e.action)).toEqual(["restarted"]);
    // Back up but unhealthy again: grace from its new start, then backoff, then the second restart.
    mono = 2500;
    out = core.observe(sick(1_001_500), now());
    expect(of(out.effects, "restart").length).toBe(1);
    mono = 3000;
    out = core.restartFinished("web", "web", 2, "Docker answered 500: boom", now());
    // A failed restart is decided again at once: the budget of 2 is spent, which is said without waiting for the backoff.
    expect(core.restartHistory().map((e) => e.action)).toEqual(["restarted", "restart-failed", "budget-exhausted"]);
    expect(core.restartHistory()[1]!.detail).toBe("Docker answered 500: boom");
    expect(out.wakeAtMs).toBe(1000 + hourMs);
    mono = 10_000;
    out = core.observe(sick(1_001_500), now());
    expect(core.counters).toMatchObject({ restartsStarted: 2, restartsSucceeded: 1, restartsFailed: 1, budgetExhausted: 1 });
    // Seen again: the exhausted budget is not recorded twice.
    core.observe(sick(1_001_500), now());
    expect(core.restartHistory().length).toBe(3);
    // Healthy: the wait ends and the next failure starts a new streak.
    out = core.observe(snap({ health: "healthy", labels: { "deunhealth.restart.on.unhealthy": "true" } }), now());
    expect(out.wakeAtMs).toBeUndefined();
  });

  test("dry-run records would-restart on the backoff schedule and never asks for a restart", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions({ restart: { dryRun: true, graceMs: 1, backoffBaseMs: 1000, backoffMaxMs: 4000, budgetPerHour: 3 } }));
    let out = core.observe(snap({ health: "unhealthy", startedAtMs: 0, labels: { "deunhealth.restart.on.unhealthy": "true" } }), now());
    const restarts: MonitorEffect[] = [...of(out.effects, "restart")];
    while (out.wakeAtMs !== undefined && out.wakeAtMs < 20_000) {
      mono = out.wakeAtMs;
      out = core.tick(now());
      restarts.push(...of(out.effects, "restart"));
    }
    expect(restarts).toEqual([]);
    const history = core.restartHistory();
    expect(history.map((e) => e.action)).toEqual(["would-restart", "would-restart", "would-restart", "budget-exhausted"]);
    expect(history.map((e) => Date.parse(e.at) - 1_000_000)).toEqual([0, 1000, 3000, 3000]);
    expect(core.counters.dryRunRestarts).toBe(3);
  });

  test("the history and the container count are bounded", () => {
    mono = 0;
    const core = new MonitorCore(monitorOptions({ containersMax: 2, historyMax: 2 }));
    core.observe(snap({ id: "1".repeat(64), name: "a" }), now());
    core.observe(snap({ id: "2".repeat(64), name: "b" }), now());
    const out = core.observe(snap({ id: "3".repeat(64), name: "c" }), now());
    expect(core.size).toBe(2);
    expect(core.counters.containersIgnored).toBe(1);
    expect(of(out.effects, "log")[0]!.level).toBe("error");
    for (let i = 0; i < 5; i++) core.restartFinished(`x${i}`, undefined, 1, undefined, now());
    expect(core.restartHistory().map((e) => e.container)).toEqual(["x3", "x4"]);
  });
});

describe("WARP trace", () => {
  test.each([
    [0, "fl=1\nip=203.0.113.7\nwarp=on\n", true, "203.0.113.7", "warp=on"],
    [0, "ip=2001:db8::1\nwarp=plus\n", true, "2001:db8::1", "warp=plus"],
    [0, "ip=203.0.113.7\nwarp=off\n", false, "203.0.113.7", 'egress is not through WARP (warp="off")'],
    [0, "ip=not-an-ip\nwarp=on\n", true, undefined, "warp=on"],
    [0, "<html>hello</html>", false, undefined, "the trace answer has no warp= line"],
    [28, "", false, undefined, "trace request failed inside the gateway (exit 28): curl: (28) Operation timed out"],
  ])("exit %i, %j", (exitCode, stdout, healthy, egressIp, detail) => {
    const stderr = exitCode === 28 ? "curl: (28) Operation timed out\n" : "";
    expect(traceVerdict(exitCode, stdout, stderr)).toEqual({ healthy, egressIp, detail });
  });

  test("parseTrace reads key=value lines", () => {
    expect(Object.fromEntries(parseTrace("a=1\nb = 2 \nnoise\n=x\nwarp=on"))).toEqual({ a: "1", b: "2", warp: "on" });
  });

  test("the URL travels as an argument, never inside the script", () => {
    const url = "http://x/$(rm -rf /)`id`";
    const command = traceCommand(url, 2.5);
    expect(command.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(command[2]).not.toContain(url);
    expect(command.slice(3)).toEqual(["warp-trace", "3", url]);
  });

  test("exec output frames are split by stream, bounded", () => {
    const frame = (stream: number, text: string) => {
      const body = new TextEncoder().encode(text);
      const header = new Uint8Array([stream, 0, 0, 0, 0, 0, 0, 0]);
      new DataView(header.buffer).setUint32(4, body.length);
      return [...header, ...body];
    };
    const data = new Uint8Array([...frame(1, "warp=on\n"), ...frame(2, "oops\n"), ...frame(1, "ip=1.2.3.4\n")]);
    expect(demultiplex(data)).toEqual({ stdout: "warp=on\nip=1.2.3.4\n", stderr: "oops\n", truncated: false });
    expect(demultiplex(data, 10)).toEqual({ stdout: "warp=on\n", stderr: "oo", truncated: true });
    expect(demultiplex(new TextEncoder().encode("plain tty output"))).toEqual({ stdout: "plain tty output", stderr: "", truncated: false });
  });
});

describe("edge bindings", () => {
  test.each([
    ["443:443", { hostIp: "", hostPort: 443, containerPort: 443, protocol: "tcp" }],
    ["127.0.0.1:8080:80", { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    ["[::1]:53:53/udp", { hostIp: "::1", hostPort: 53, containerPort: 53, protocol: "udp" }],
    ["80", "expected [hostIp:]hostPort:containerPort"],
    ["70000:80", "ports must be from 1 to 65535"],
  ])("%s", (text, expected) => {
    const parsed = parseEdgeBinding(text);
    if (typeof expected === "string") expect(parsed).toEqual(expect.stringContaining(expected));
    else expect(parsed).toEqual(expected as EdgeBinding);
  });

  const http: EdgeBinding = { hostIp: "", hostPort: 80, containerPort: 80, protocol: "tcp" };
  const https: EdgeBinding = { hostIp: "", hostPort: 443, containerPort: 443, protocol: "tcp" };

  test("publishing adds only what is missing and keeps other bindings", () => {
    const current = { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }], "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "80" }] };
    const plan = planEdge(current, "published", [http, https]);
    expect(plan).toEqual({
      kind: "recreate",
      portBindings: { ...current, "443/tcp": [{ HostIp: "", HostPort: "443" }] },
      exposedPorts: ["443/tcp", "80/tcp"],
      added: ["443->443/tcp"],
      removed: [],
    });
    expect(planEdge({ ...current, "443/tcp": [{ HostIp: "", HostPort: "443" }] }, "published", [http, https])).toEqual({ kind: "unchanged" });
  });

  test("withdrawing removes only the configured bindings", () => {
    const current = { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }], "80/tcp": [{ HostIp: "", HostPort: "80" }] };
    const plan = planEdge(current, "withdrawn", [http, https]);
    expect(plan).toEqual({ kind: "recreate", portBindings: { "8080/tcp": current["8080/tcp"] }, exposedPorts: [], added: [], removed: ["80->80/tcp"] });
    expect(planEdge(null, "withdrawn", [http])).toEqual({ kind: "unchanged" });
  });

  test("the new container's specification copies the old one, image by id, plus the bindings", () => {
    const id = "c".repeat(64);
    const inspect = {
      Id: id,
      Name: "/traefik",
      Image: "sha256:feed",
      Config: { Image: "traefik:v3", Hostname: id.slice(0, 12), Env: ["A=1"], Labels: { x: "y" }, ExposedPorts: { "8080/tcp": {} } },
      HostConfig: { NetworkMode: "publicnet", RestartPolicy: { Name: "always" }, PortBindings: {} },
      NetworkSettings: { Networks: { backend: { Aliases: ["proxy", id.slice(0, 12)] }, publicnet: { Aliases: [id.slice(0, 12)], IPAMConfig: { IPv4Address: "10.76.0.2" } } } },
    };
    const plan = planEdge({}, "published", [http]);
    if (plan.kind !== "recreate") throw new Error("expected a recreation");
    const spec = recreateSpec(inspect, plan);
    if (typeof spec === "string") throw new Error(spec);
    expect(spec.name).toBe("traefik");
    expect(spec.create).toMatchObject({
      Image: "sha256:feed",
      Env: ["A=1"],
      Labels: { x: "y" },
      ExposedPorts: { "8080/tcp": {}, "80/tcp": {} },
      HostConfig: { RestartPolicy: { Name: "always" }, PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "80" }] } },
      NetworkingConfig: { EndpointsConfig: { publicnet: { Aliases: [], IPAMConfig: { IPv4Address: "10.76.0.2" } } } },
    });
    expect(spec.create.Hostname).toBeUndefined();
    expect(spec.extraNetworks).toEqual([{ name: "backend", endpoint: { Aliases: ["proxy"] } }]);
    expect(recreateSpec({}, plan)).toBe("the inspect answer lacks the container's id, name or image");
  });
});

describe("events", () => {
  test("lines are reassembled across chunks; an overlong line is dropped and counted", () => {
    const splitter = new EventLineSplitter(20);
    expect(splitter.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(splitter.push(':2}\n\n')).toEqual(['{"b":2}']);
    expect(splitter.push("x".repeat(15))).toEqual([]);
    expect(splitter.push("y".repeat(15))).toEqual([]);
    expect(splitter.push('zz\n{"c":3}\n')).toEqual(['{"c":3}']);
    expect(splitter.overlongLines).toBe(1);
  });

  test("events are parsed and mapped to inspect, or ignored", () => {
    const health = parseEvent(JSON.stringify({ Type: "container", Action: "health_status: unhealthy", Actor: { ID: idA, Attributes: { name: "web", "a.b": "c", n: 1 } } }));
    expect(health).toEqual({ type: "container", action: "health_status: unhealthy", containerId: idA, attributes: { name: "web", "a.b": "c" } });
    expect(eventEffect(health!)).toBe("inspect");
    const destroy = parseEvent(JSON.stringify({ Type: "container", Action: "destroy", Actor: { ID: idA } }))!;
    expect(eventEffect(destroy)).toBe("forget");
    const exec = parseEvent(JSON.stringify({ Type: "container", Action: "exec_start: sh -c true", Actor: { ID: idA } }))!;
    expect(eventEffect(exec)).toBe("ignore");
    const connect = parseEvent(JSON.stringify({ Type: "network", Action: "connect", Actor: { ID: "n1", Attributes: { container: idB, name: "publicnet" } } }));
    expect(connect?.containerId).toBe(idB);
    expect(eventEffect(connect!)).toBe("inspect");
    expect(parseEvent("not json")).toBeUndefined();
    expect(parseEvent(JSON.stringify({ Type: "image", Action: "pull" }))).toBeUndefined();
  });
});

describe("Docker configuration", () => {
  test("defaults pass and cross-field problems are named", () => {
    expect(dockerConfigProblems(dockerConfigDefaults())).toEqual([]);
    const bad = dockerConfigDefaults();
    bad.scopeLabel = "nokey";
    bad.reconnectMinMs = 50_000;
    bad.restart.backoffBaseMs = 1_000_000;
    bad.edge.bindings = ["80"];
    expect(dockerConfigProblems(bad).map((p) => p.key)).toEqual(["docker.scopeLabel", "docker.reconnectMinMs", "docker.restart.backoffBaseMs", "docker.edge.bindings"]);
  });

  test("nested Docker keys load from environment variables, with their source in errors", () => {
    const base = { flags: {}, readFile: () => "", hostname: "node-a", isRoot: false, homeDir: "/home/x" };
    const loaded = loadConfig({ ...base, env: { CONSTELLATION_DOCKER_RESTART_BUDGET_PER_HOUR: "7", CONSTELLATION_DOCKER_WARP_CHECK: "off", CONSTELLATION_DOCKER_EDGE_BINDINGS: "8080:80,8443:443" } });
    expect(loaded.config.docker.restart.budgetPerHour).toBe(7);
    expect(loaded.config.docker.warp.check).toBe("off");
    expect(loaded.config.docker.edge.bindings).toEqual(["8080:80", "8443:443"]);
    expect(loaded.sources["docker.restart.budgetPerHour"]).toBe("environment variable CONSTELLATION_DOCKER_RESTART_BUDGET_PER_HOUR");
    expect(() => loadConfig({ ...base, env: { CONSTELLATION_DOCKER_SCOPE_LABEL: "x" } })).toThrow(
      "docker.scopeLabel (from environment variable CONSTELLATION_DOCKER_SCOPE_LABEL): expected key=value",
    );
  });
});
