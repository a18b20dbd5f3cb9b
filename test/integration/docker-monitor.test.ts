// The container monitor against a real dockerd: health that follows real
// healthchecks through the event stream, stops and removals, one-shot
// containers, malformed and huge labels, restarts of opted-in unhealthy
// containers with backoff and budget (and in dry-run), a socket that appears
// late, vanishes and comes back, and a daemon that never answers.
// Containers sit on an internal network the test creates; nothing leaves the
// machine.

import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testWith } from "../support/components.ts";
import { DockerTestEnv, dockerReady } from "../support/docker.ts";
import { Harness, SocketProxy, silentSocket } from "../support/docker-harness.ts";
import { waitFor } from "../support/wait.ts";

const ready = await dockerReady();
const dockerTest = testWith(ready.missing);
const env = ready.image ? new DockerTestEnv(ready.image) : undefined;
const harnesses: Harness[] = [];
let network = "";
let tempDir = "";

/** Events reach the published state within this bound (a healthcheck probe runs every 100 ms). */
const eventBoundMs = 2000;

beforeAll(async () => {
  if (!env) return;
  network = await env.network("monitor", { internal: true });
  tempDir = mkdtempSync(join(tmpdir(), "constellation-docker-"));
});

afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.service.stop()));
  await env?.cleanup();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
});

function harness(overrides: ConstructorParameters<typeof Harness>[0] = {}): Harness {
  const h = new Harness({ proxyNetwork: network, ...overrides });
  harnesses.push(h);
  return h;
}

async function started(h: Harness): Promise<Harness> {
  h.service.start();
  await waitFor("the monitor to connect", () => h.service.state === "connected", 15_000);
  return h;
}

async function addressOn(name: string): Promise<string> {
  const info = await env!.docker.getContainer(name).inspect();
  return info.NetworkSettings.Networks[network]!.IPAddress;
}

dockerTest(
  "health follows a real healthcheck through the event stream, with endpoints on the proxy network",
  async () => {
    const h = await started(harness());
    const name = env!.name("web");
    const web = await env!.container({
      name,
      cmd: ["sleep", "3600"],
      networks: [network],
      labels: { ...h.scopeLabels, "traefik.http.services.web.loadbalancer.server.port": "9000", "traefik.enable": "true", "com.example.note": "kept local" },
      exposedPorts: ["8080/tcp"],
      health: { test: "test -f /tmp/ok" },
    });
    // A container outside this monitor's scope is never seen.
    const stranger = env!.name("stranger");
    await env!.container({ name: stranger, cmd: ["sleep", "3600"], networks: [network] });

    const unhealthy = await waitFor("unhealthy", () => (h.published.get(name)?.consecutive_failures === 1 ? h.published.get(name) : undefined), eventBoundMs * 2);
    expect(unhealthy.status).toBe("unhealthy");
    expect(unhealthy.node_name).toBe("node-a");
    expect(unhealthy.endpoints).toEqual({ http: `http://${await addressOn(name)}:9000` });
    expect(unhealthy.networks).toEqual([network]);
    expect(unhealthy.labels?.["traefik.enable"]).toBe("true");
    expect(unhealthy.labels?.["com.example.note"]).toBeUndefined();

    let t0 = performance.now();
    await env!.exec(web, ["touch", "/tmp/ok"]);
    const healthy = await waitFor("healthy", () => (h.published.get(name)?.status === "healthy" ? h.published.get(name) : undefined), eventBoundMs);
    const toHealthyMs = performance.now() - t0;
    expect(healthy.healthy).toBe(true);
    expect(healthy.consecutive_failures).toBe(0);
    expect(healthy.last_success_time).toBeDefined();

    t0 = performance.now();
    await env!.exec(web, ["rm", "/tmp/ok"]);
    const again = await waitFor("unhealthy again", () => (h.published.get(name)?.status === "unhealthy" ? h.published.get(name) : undefined), eventBoundMs);
    const toUnhealthyMs = performance.now() - t0;
    expect(again.consecutive_failures).toBe(1);
    expect(again.last_failure_time).toBeDefined();

    // Only the first resync ran: the updates came from events.
    expect(h.service.counters.resyncs).toBe(1);
    expect(h.published.has(stranger)).toBe(false);
    expect(h.container(stranger)).toBeUndefined();
    const view = h.container(name)!;
    expect(view.service_source).toBe("container name");
    expect(view.published).toBe(true);
    console.log(`event to published: healthy in ${toHealthyMs.toFixed(0)} ms, unhealthy in ${toUnhealthyMs.toFixed(0)} ms`);

    // Stop: the instance is stopped (its endpoints kept); removal withdraws it.
    await web.stop({ t: 0 });
    const stopped = await waitFor("stopped", () => (h.published.get(name)?.status === "stopped" ? h.published.get(name) : undefined), eventBoundMs);
    expect(stopped.endpoints).toEqual(again.endpoints);
    expect(stopped.consecutive_failures).toBe(1); // unhealthy then stopped is one failing streak
    await web.remove({ force: true });
    await waitFor("removed", () => h.changes.some((c) => c.kind === "remove" && c.service === name), eventBoundMs);
    expect(h.published.has(name)).toBe(false);
  },
  30_000,
);

dockerTest(
  "exited one-shot containers are not services; failed or restartable exits are stopped",
  async () => {
    const h = await started(harness());
    const once = env!.name("once");
    const failed = env!.name("failed");
    const retried = env!.name("retried");
    const labels = h.scopeLabels;
    await env!.container({ name: once, cmd: ["true"], labels, networks: [network] });
    await env!.container({ name: failed, cmd: ["sh", "-c", "exit 3"], labels, networks: [network] });
    await env!.container({ name: retried, cmd: ["true"], labels, networks: [network], restartPolicy: "on-failure" });
    await waitFor("the one-shot container to be seen finished", () => h.container(once)?.phase === "finished", eventBoundMs * 2);
    await waitFor("the failed container to be stopped", () => h.published.get(failed)?.status === "stopped", eventBoundMs * 2);
    await waitFor("the on-failure container to be stopped", () => h.published.get(retried)?.status === "stopped", eventBoundMs * 2);
    expect(h.published.has(once)).toBe(false);
    expect(h.container(once)!.status).toBeNull();
  },
  30_000,
);

dockerTest(
  "malformed and huge labels are reported clearly and the rest keeps working",
  async () => {
    const h = await started(harness());
    const badName = env!.name("badname");
    const huge = env!.name("huge");
    const enormous = env!.name("enormous");
    const fine = env!.name("fine");
    const labels = h.scopeLabels;
    await env!.container({ name: badName, cmd: ["sleep", "3600"], networks: [network], labels: { ...labels, "constellation.service": "bad name!" } });
    await env!.container({
      name: huge,
      cmd: ["sleep", "3600"],
      networks: [network],
      labels: { ...labels, "traefik.http.routers.x.rule": "a".repeat(100_000), "deunhealth.restart.on.unhealthy": "maybe", "traefik.enable": "true" },
    });
    // Larger than an event line may be: the event is dropped and a resync finds the container.
    await env!.createWithCurl(enormous, { Cmd: ["sleep", "3600"], Labels: { ...labels, "note.blob": "b".repeat(1_200_000) }, HostConfig: { NetworkMode: network } });
    await env!.container({ name: fine, cmd: ["sleep", "3600"], networks: [network], labels });

    await waitFor("the well-formed container", () => h.published.get(fine)?.status === "healthy", eventBoundMs * 2);
    const hugeHealth = await waitFor("the huge-label container", () => h.published.get(huge), eventBoundMs * 2);
    expect(hugeHealth.labels).toMatchObject({ "deunhealth.restart.on.unhealthy": "maybe", "traefik.enable": "true" });
    expect(hugeHealth.labels?.["traefik.http.routers.x.rule"]).toBeUndefined();
    await waitFor("the enormous-label container", () => h.published.get(enormous), 10_000);
    expect(h.logged("an event longer than the line limit was dropped").length).toBeGreaterThanOrEqual(1);

    const bad = await waitFor("the bad-name container in the view", () => h.container(badName));
    expect(bad.service).toBeNull();
    expect(bad.problems.join("\n")).toContain('label constellation.service "bad name!" is not a service name');
    expect(h.published.has(badName)).toBe(false);
    expect([...h.published.keys()].some((service) => service.includes("bad"))).toBe(false);
    const hugeView = h.container(huge)!;
    expect(hugeView.problems.join("\n")).toContain("label traefik.http.routers.x.rule is 100000 characters long");
    expect(hugeView.problems.join("\n")).toContain('deunhealth.restart.on.unhealthy = "maybe": expected true or false');
    expect(hugeView.restart_on_unhealthy).toBe(false);
    expect(h.logged("container changed").some((line) => line.container === badName && line.level === "warn")).toBe(true);
  },
  30_000,
);

dockerTest(
  "an opted-in unhealthy container is restarted with exponential backoff until its hourly budget runs out",
  async () => {
    const h = await started(harness({ restart: { backoffBaseMs: 400, backoffMaxMs: 5000, budgetPerHour: 3 } }));
    const sick = env!.name("sick");
    const ignored = env!.name("sick-not-opted-in");
    const health = { test: "false" };
    const first = await env!.container({ name: sick, cmd: ["sleep", "3600"], networks: [network], health, labels: { ...h.scopeLabels, "deunhealth.restart.on.unhealthy": "true" } });
    await env!.container({ name: ignored, cmd: ["sleep", "3600"], networks: [network], health, labels: h.scopeLabels });
    const startedAt = (await first.inspect()).State.StartedAt;

    const history = () => h.service.containers().restart_history.filter((event) => event.container === sick);
    await waitFor("three restarts and an exhausted budget", () => history().some((event) => event.action === "budget-exhausted"), 20_000);
    const events = history();
    expect(events.map((event) => event.action)).toEqual(["restarted", "restarted", "restarted", "budget-exhausted"]);
    expect(events.map((event) => event.attempt)).toEqual([1, 2, 3, 3]);
    // Decisions are logged with their time: the second waits the base backoff, the third twice that.
    const decisions = h.logged("restarting unhealthy container").filter((line) => line.container === sick).map((line) => Date.parse(String(line.ts)));
    expect(decisions.length).toBe(3);
    expect(decisions[1]! - decisions[0]!).toBeGreaterThanOrEqual(400);
    expect(decisions[2]! - decisions[1]!).toBeGreaterThanOrEqual(800);
    expect(h.logged("restart budget exhausted").length).toBe(1);

    // The container really was restarted, and the next restart is an hour away: the budget holds.
    expect((await first.inspect()).State.StartedAt).not.toBe(startedAt);
    const view = await waitFor("the budget wait in the view", () => {
      const container = h.container(sick);
      return container?.next_restart_at && Date.parse(container.next_restart_at) - Date.now() > 3_500_000 ? container : undefined;
    });
    expect(view.restarts_last_hour).toBe(3);
    expect(h.service.core.counters.restartsStarted).toBe(3);
    expect(h.service.core.counters.restartsSucceeded).toBe(3);
    expect(h.container(ignored)!.restarts_last_hour).toBe(0);
    expect(h.service.containers().restart_history.some((event) => event.container === ignored)).toBe(false);
  },
  40_000,
);

dockerTest(
  "dry-run decides and records restarts without performing them, on the exponential backoff schedule",
  async () => {
    const h = await started(harness({ restart: { dryRun: true, backoffBaseMs: 200, backoffMaxMs: 800, budgetPerHour: 5 } }));
    const sick = env!.name("dry");
    const container = await env!.container({ name: sick, cmd: ["sleep", "3600"], networks: [network], health: { test: "false" }, labels: { ...h.scopeLabels, "deunhealth.restart.on.unhealthy": "true" } });
    const startedAt = (await container.inspect()).State.StartedAt;
    const history = () => h.service.containers().restart_history.filter((event) => event.container === sick);
    await waitFor("five dry-run restarts and an exhausted budget", () => history().some((event) => event.action === "budget-exhausted"), 15_000);
    expect(history().map((event) => event.action)).toEqual([...new Array(5).fill("would-restart"), "budget-exhausted"]);
    // Nothing restarts, so no decision comes before its backoff: 200, 400, 800, then the 800 ms cap. (How
    // much later it comes depends on the machine; the exact schedule is tested in virtual time in
    // test/unit/docker-core.test.ts.)
    const times = history().map((event) => Date.parse(event.at));
    const gaps = times.slice(1, 5).map((time, i) => time - times[i]!);
    [200, 400, 800, 800].forEach((backoffMs, i) => expect(gaps[i]!).toBeGreaterThanOrEqual(backoffMs - 1));
    expect((await container.inspect()).State.StartedAt).toBe(startedAt);
    expect(h.service.core.counters.restartsStarted).toBe(0);
    expect(h.service.containers().docker.dry_run).toBe(true);
  },
  20_000,
);

dockerTest(
  "a socket that appears late, vanishes and comes back: said plainly, retried, and resynchronised",
  async () => {
    const path = join(tempDir, "docker-late.sock");
    const h = harness({ socketPath: path });
    const name = env!.name("survivor");
    const container = await env!.container({ name, cmd: ["sleep", "3600"], networks: [network], labels: h.scopeLabels });
    h.service.start();
    await waitFor("the no-socket state", () => h.service.state === "no-socket");
    expect(h.service.statusLine()).toBe(`no socket at ${path}: containers not monitored`);
    expect(h.logged(`Docker socket ${path} does not exist`).length).toBe(1);
    expect(h.service.containers().docker.state).toBe("no-socket");

    const proxy = new SocketProxy(path);
    await proxy.start();
    await waitFor("connected through the late socket", () => h.service.state === "connected", 10_000);
    await waitFor("the container published", () => h.published.get(name)?.status === "healthy", eventBoundMs);

    await proxy.stop();
    expect(existsSync(path)).toBe(false);
    await waitFor("the engine seen gone", () => h.service.state !== "connected", 10_000);
    expect(h.logged("lost the Docker engine").length).toBe(1);
    // While the monitor cannot see it, the container stops: no event will ever tell.
    await container.stop({ t: 0 });

    await proxy.start();
    await waitFor("reconnected", () => h.service.state === "connected", 10_000);
    await waitFor("the missed stop found by the reconnect resync", () => h.published.get(name)?.status === "stopped", eventBoundMs);
    expect(h.service.counters.connects).toBe(2);
    await h.service.stop();
    await proxy.stop();
  },
  30_000,
);

dockerTest(
  "a daemon that never answers: timeouts are values, the view answers, stop is prompt",
  async () => {
    const path = join(tempDir, "docker-hung.sock");
    const hung = await silentSocket(path);
    const h = harness({ socketPath: path, apiTimeoutMs: 300 });
    h.service.start();
    await waitFor("the unreachable state", () => h.service.state === "unreachable", 5000);
    // The view is answered from memory: a plain value, never a promise waiting on Docker.
    const view = h.service.containers();
    expect(view).not.toBeInstanceOf(Promise);
    expect(view.docker.detail).toContain("no answer from Docker within 300 ms");
    expect(h.service.client.counters.timeouts).toBeGreaterThanOrEqual(1);
    // Stopping must not wait on the silent daemon: a bounded wait for the condition, not a speed check.
    const stopped = await Promise.race([h.service.stop().then(() => true), Bun.sleep(5000).then(() => false)]);
    expect(stopped).toBe(true);
    await hung.stop();
  },
  15_000,
);
