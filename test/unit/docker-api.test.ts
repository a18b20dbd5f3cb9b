// GET /api/v1/containers and `constellation containers`: the plugin answers
// what its source reports, held to the response model, and the command
// prints it as a table (or JSON) from a real loopback server.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { ContainersResponse, dockerApi, type DockerApiSource } from "../../src/api/docker-api.ts";
import { MonitorCore } from "../../src/docker/monitor.ts";
import type { ContainerSnapshot } from "../../src/docker/container.ts";
import { DockerService } from "../../src/node/docker-service.ts";
import { dockerConfigDefaults } from "../../src/config/schema.ts";
import { Logger } from "../../src/lib/log.ts";
import { SystemClock } from "../../src/adapters/system-clock.ts";
import { runCli } from "../../src/cli/run.ts";

const now = { wallMs: Date.parse("2030-01-01T00:00:00Z"), monoMs: 0 };

function snapshot(id: string, name: string, overrides: Partial<ContainerSnapshot>): ContainerSnapshot {
  return {
    id: id.repeat(64),
    name,
    image: "example/app:1",
    labels: {},
    state: "running",
    exitCode: 0,
    startedAtMs: now.wallMs - 60_000,
    health: "none",
    failingStreak: 0,
    startPeriodMs: 0,
    restartPolicy: "always",
    networkMode: "publicnet",
    networks: [{ name: "publicnet", ipv4: "10.76.0.5", ipv6: "" }],
    exposedPorts: [{ port: 80, protocol: "tcp" }],
    ...overrides,
  };
}

function response(): ContainersResponse {
  const core = new MonitorCore({
    nodeName: "node-a",
    proxyNetworks: ["publicnet"],
    scope: undefined,
    restart: { dryRun: false, graceMs: 1, backoffBaseMs: 1000, backoffMaxMs: 1000, budgetPerHour: 1 },
    containersMax: 10,
    historyMax: 10,
  });
  core.observe(snapshot("a", "web", {}), now);
  core.observe(snapshot("b", "worker", { health: "unhealthy", failingStreak: 4, labels: { "deunhealth.restart.on.unhealthy": "true" } }), now);
  core.restartFinished("worker", "worker", 1, undefined, now);
  core.observe(snapshot("c", "odd", { labels: { "constellation.service": "no good" } }), now);
  return {
    node: "node-a",
    docker: { state: "connected", socket: "/var/run/docker.sock", detail: "event stream open", since: new Date(now.wallMs).toISOString(), scope: null, dry_run: false },
    containers: core.view(now),
    restart_history: core.restartHistory(),
    warp: { node_name: "node-a", healthy: true, checked_at: new Date(now.wallMs).toISOString(), egress_ip: "203.0.113.7", detail: "warp=on" },
    counters: { ...core.counters },
  };
}

const source: DockerApiSource = { containers: response };
const app = dockerApi(source);
let base = "";

beforeAll(() => {
  app.listen({ hostname: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${app.server!.port}`;
});
afterAll(() => void app.stop(true));

async function cli(argv: string[]) {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env: {} });
  return { code, out, err };
}

test("the plugin answers the monitor's view, valid against its model", async () => {
  const answer = await app.handle(new Request("http://localhost/api/v1/containers"));
  expect(answer.status).toBe(200);
  const body = (await answer.json()) as ContainersResponse;
  expect(Value.Check(ContainersResponse, body)).toBe(true);
  expect(body.containers.map((c) => [c.name, c.service, c.status])).toEqual([
    ["odd", null, "healthy"],
    ["web", "web", "healthy"],
    ["worker", "worker", "unhealthy"],
  ]);
  expect(body.restart_history).toEqual([{ at: "2030-01-01T00:00:00.000Z", container: "worker", service: "worker", action: "restarted", attempt: 1, detail: "restarted by the agent" }]);
});

test("a service with no socket still answers, and says why", () => {
  const service = new DockerService(
    { nodeName: "node-a", stackName: "constellation", docker: { ...dockerConfigDefaults(), socketPath: "/nonexistent/docker.sock" }, log: new Logger(() => {}, new SystemClock()) },
    { publish: () => {}, remove: () => {}, publishWarp: () => {} },
  );
  const view = service.containers();
  expect(Value.Check(ContainersResponse, view)).toBe(true);
  expect(view.docker.state).toBe("stopped");
  expect(view.containers).toEqual([]);
});

test("`constellation containers` prints the table, problems, history and WARP", async () => {
  const { code, out, err } = await cli(["containers", "--api", base]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const lines = out.split("\n");
  expect(lines[0]).toBe("node node-a: Docker connected (/var/run/docker.sock) since 2030-01-01T00:00:00.000Z");
  expect(lines[2]).toMatch(/^NAME\s+SERVICE\s+STATUS\s+PHASE\s+FAILURES\s+RESTARTS\/H\s+ENDPOINTS\s+NOTES$/);
  expect(out).toMatch(/worker\s+worker\s+unhealthy\s+unhealthy\s+1\s+1\s+http:\/\/10\.76\.0\.5:80\s+auto-restart/);
  expect(out).toContain('  odd: label constellation.service "no good" is not a service name');
  expect(out).toContain("restart history (latest 1 of 1):");
  expect(out).toContain("WARP: healthy, egress 203.0.113.7 (warp=on), checked 2030-01-01T00:00:00.000Z");
  const json = await cli(["containers", "--json", "--api", base]);
  expect(JSON.parse(json.out)).toEqual(JSON.parse(JSON.stringify(response())));
});
