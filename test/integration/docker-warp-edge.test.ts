// The WARP egress check and the load-balancer port binding against a real
// dockerd. WARP: a trace responder (busybox httpd serving a trace file, and
// a port that accepts and never answers) and a stand-in gateway sit on an
// internal network the test creates; the check runs wget inside the
// gateway through the exec API. Edge: a stand-in proxy container (busybox
// httpd) is recreated with a loopback port binding and without it, under a
// mayAct() fencing callback, including a fence that trips half-way.
// Nothing leaves the machine: the only address the test itself connects to
// is 127.0.0.1.

import { afterAll, beforeAll, expect } from "bun:test";
import { testWith } from "../support/components.ts";
import { DockerTestEnv, dockerReady, dockerSocket } from "../support/docker.ts";
import { Harness } from "../support/docker-harness.ts";
import { freePort } from "../support/ports.ts";
import { waitFor } from "../support/wait.ts";
import { DockerClient } from "../../src/adapters/docker-client.ts";
import { SystemClock } from "../../src/adapters/system-clock.ts";
import { Logger } from "../../src/lib/log.ts";
import { applyEdgeBindings, type EdgeRequest } from "../../src/node/docker-edge.ts";
import type { EdgeBinding } from "../../src/docker/edge.ts";

const ready = await dockerReady();
const dockerTest = testWith(ready.missing);
const env = ready.image ? new DockerTestEnv(ready.image) : undefined;
const harnesses: Harness[] = [];
let internal = "";
let responder = "";
let gateway = "";
/** The responder's address: busybox-static's wget cannot resolve names (no NSS in a static binary), so the URL holds the IP. */
let responderIp = "";

const traceOn = "fl=1f1\\nh=cloudflare.com\\nip=203.0.113.7\\nts=1700000000.0\\nvisit_scheme=https\\nwarp=on\\n";

beforeAll(async () => {
  if (!env) return;
  internal = await env.network("warp", { internal: true });
  responder = env.name("trace");
  gateway = env.name("warp-nat-gateway");
  await env.container({
    name: responder,
    networks: [internal],
    env: [`TRACE_BODY=${traceOn}`],
    cmd: [
      "sh",
      "-c",
      // Port 80 serves the trace file; port 81 accepts a connection and never answers.
      'mkdir -p /www/cdn-cgi && printf "%b" "$TRACE_BODY" > /www/cdn-cgi/trace && ' +
        "(while true; do sleep 3600 | nc -l -p 81; done &) && exec httpd -f -p 80 -h /www",
    ],
  });
  await env.container({ name: gateway, networks: [internal], cmd: ["sleep", "3600"] });
  responderIp = (await env.docker.getContainer(responder).inspect()).NetworkSettings.Networks[internal]!.IPAddress;
});

afterAll(async () => {
  await Promise.all(harnesses.map((h) => h.service.stop()));
  await env?.cleanup();
});

function warpHarness(traceUrl: string, check: "auto" | "on" = "on", containerName = gateway): Harness {
  const h = new Harness({ warp: { check, containerName, traceUrl, intervalMs: 200, timeoutMs: 1000 } });
  harnesses.push(h);
  h.service.start();
  return h;
}

async function setTrace(body: string): Promise<void> {
  const result = await env!.exec(env!.docker.getContainer(responder), ["sh", "-c", `printf "%b" "${body}" > /www/cdn-cgi/trace`]);
  expect(result.exitCode).toBe(0);
}

dockerTest(
  "WARP: healthy only while the trace made inside the gateway says warp=on or warp=plus",
  async () => {
    const h = warpHarness(`http://${responderIp}/cdn-cgi/trace`);
    const healthy = await waitFor("a healthy WARP record", () => h.warps.find((w) => w.healthy), 10_000);
    expect(healthy).toMatchObject({ node_name: "node-a", healthy: true, egress_ip: "203.0.113.7", detail: "warp=on" });
    expect(h.service.containers().warp?.healthy).toBe(true);

    await setTrace("ip=203.0.113.7\\nwarp=off\\n");
    const off = await waitFor("warp=off seen", () => h.warps.find((w) => !w.healthy), 5000);
    expect(off.detail).toBe('egress is not through WARP (warp="off")');
    expect(off.egress_ip).toBe("203.0.113.7");

    await setTrace("ip=198.51.100.9\\nwarp=plus\\n");
    const plus = await waitFor("warp=plus seen", () => h.warps.find((w) => w.healthy && w.detail === "warp=plus"), 5000);
    expect(plus.egress_ip).toBe("198.51.100.9");

    await setTrace("ip=198.51.100.9\\n");
    const missing = await waitFor("no warp line", () => h.warps.find((w) => w.detail === "the trace answer has no warp= line"), 5000);
    expect(missing.healthy).toBe(false);
    // Unchanged verdicts are not republished on every check.
    expect(h.warps.length).toBe(4);
    await setTrace(traceOn);
  },
  30_000,
);

dockerTest(
  "WARP: a trace that times out, a gateway that stops, and auto mode without a gateway",
  async () => {
    const hanging = warpHarness(`http://${responderIp}:81/cdn-cgi/trace`);
    const timedOut = await waitFor("the timed-out check", () => hanging.warps[0], 10_000);
    expect(timedOut.healthy).toBe(false);
    expect(timedOut.detail).toMatch(/timed out/);

    const absent = warpHarness(`http://${responderIp}/cdn-cgi/trace`, "auto", env!.name("no-such-gateway"));
    await waitFor("a few checks in auto mode", () => absent.service.warp.checks >= 3, 10_000);
    expect(absent.warps).toEqual([]);

    const h = warpHarness(`http://${responderIp}/cdn-cgi/trace`);
    await waitFor("healthy first", () => h.warps.find((w) => w.healthy), 10_000);
    await env!.docker.getContainer(gateway).stop({ t: 0 });
    const stopped = await waitFor("the stopped gateway reported", () => h.warps.find((w) => !w.healthy), 5000);
    expect(stopped.detail).toBe(`container ${gateway} is not running (exited)`);
    await env!.docker.getContainer(gateway).start();
    await waitFor("healthy again after the gateway starts", () => h.warps.at(-1)?.healthy === true, 5000);
  },
  30_000,
);

function edgeRequest(name: string, bindings: EdgeBinding[], wanted: EdgeRequest["wanted"], answers: boolean[]): EdgeRequest & { asked: number } {
  const request = {
    asked: 0,
    containerName: name,
    bindings,
    wanted,
    stopTimeoutSeconds: 1,
    log: new Logger(() => {}, new SystemClock(), "debug"),
    mayAct: () => answers[request.asked++] ?? true,
  };
  return request;
}

async function answers(port: number): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    return await response.text();
  } catch {
    return undefined;
  }
}

dockerTest(
  "edge: the stand-in proxy gains and loses its port binding by recreation, guarded by mayAct()",
  async () => {
    const client = new DockerClient(dockerSocket, 5000);
    // Port publishing needs a network with a gateway; the container only serves, it never connects out.
    const bridge = await env!.network("edge", { internal: false });
    const name = env!.name("edge-proxy");
    const original = await env!.container({
      name,
      networks: [bridge, internal],
      env: ["EDGE_MARK=kept"],
      labels: { "com.example.role": "edge" },
      cmd: ["sh", "-c", "echo edge-ok > /www/index.html && exec httpd -f -p 80 -h /www"],
    });
    const port = await freePort();
    const binding: EdgeBinding = { hostIp: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" };

    // A "no" before anything runs changes nothing.
    const fenced = await applyEdgeBindings(client, edgeRequest(name, [binding], "published", [false]));
    expect(fenced).toEqual({ kind: "fenced", before: "create", rolledBack: false });
    expect((await env!.docker.getContainer(name).inspect()).Id).toBe(original.id);

    const gain = edgeRequest(name, [binding], "published", []);
    const gained = await applyEdgeBindings(client, gain);
    expect(gained).toMatchObject({ kind: "recreated" });
    expect(gain.asked).toBe(3);
    const after = await env!.docker.getContainer(name).inspect();
    expect(after.Id).not.toBe(original.id);
    expect(after.State.Running).toBe(true);
    expect(after.HostConfig.PortBindings).toEqual({ "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] });
    expect(after.Config.Labels["com.example.role"]).toBe("edge");
    expect(after.Config.Env).toContain("EDGE_MARK=kept");
    expect(Object.keys(after.NetworkSettings.Networks).sort()).toEqual([bridge, internal].sort());
    expect(await waitFor("the binding to answer on loopback", () => answers(port), 5000)).toBe("edge-ok\n");
    const transient = await env!.docker.listContainers({ all: true, filters: JSON.stringify({ name: [`${name}-constellation-`] }) });
    expect(transient).toEqual([]);

    // Already as wanted: nothing to do.
    expect(await applyEdgeBindings(client, edgeRequest(name, [binding], "published", []))).toEqual({ kind: "unchanged" });

    // The fence trips after the old container stopped: everything is put back as it was.
    const tripped = await applyEdgeBindings(client, edgeRequest(name, [binding], "withdrawn", [true, true, false]));
    expect(tripped).toEqual({ kind: "fenced", before: "start", rolledBack: true });
    const rolledBack = await env!.docker.getContainer(name).inspect();
    expect(rolledBack.Id).toBe(after.Id);
    expect(rolledBack.State.Running).toBe(true);
    expect(await waitFor("the binding back after the rollback", () => answers(port), 5000)).toBe("edge-ok\n");

    const lost = await applyEdgeBindings(client, edgeRequest(name, [binding], "withdrawn", []));
    expect(lost.kind).toBe("recreated");
    const withdrawn = await env!.docker.getContainer(name).inspect();
    expect(withdrawn.HostConfig.PortBindings ?? {}).toEqual({});
    expect(withdrawn.State.Running).toBe(true);
    expect(await answers(port)).toBeUndefined();

    expect(await applyEdgeBindings(client, edgeRequest(env!.name("no-such-proxy"), [binding], "published", []))).toEqual({
      kind: "not-found",
      detail: `no container named ${env!.name("no-such-proxy")}`,
    });
  },
  40_000,
);
