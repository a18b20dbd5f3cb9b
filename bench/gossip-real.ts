// Real processes on loopback: N of our agents and N hashicorp/memberlist
// nodes (mlpeer), same profile, measured side by side in one run: time until
// every process sees every member after start, time from kill -9 of a
// member until every other marks it failed (several members, one after
// another), steady-state gossip bandwidth
// per node, and CPU and RSS per process.
//
//   npx bun bench/gossip-real.ts [--nodes 10] [--profile lan|local] [--steady-seconds 60]
//                                [--settle-seconds 2 push/pull intervals + 5] [--kills 6] [--binary dist/constellation-linux-x64]
//
// Our agents run from source unless --binary names a compiled build (what
// nodes run; it starts faster). The Go nodes carry metadata of the same size
// as ours, so push/pull exchanges move comparable bytes.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { profiles } from "../src/config/profiles.ts";
import type { ProfileName } from "../src/config/schema.ts";
import { agentEnvironment } from "../test/support/agent-process.ts";
import { Mlpeer, mlpeerBinary } from "../test/support/mlpeer.ts";
import { freePorts } from "../test/support/ports.ts";
import { waitFor } from "../test/support/wait.ts";

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const nodes = Number(flag("nodes", "10"));
const profile = flag("profile", "lan");
if (!(profile in profiles)) throw new Error(`unknown profile ${profile}: one of ${Object.keys(profiles).join(", ")}`);
const steadySeconds = Number(flag("steady-seconds", "60"));
/**
 * Wait after convergence before steady state is measured: the news of the
 * start-up must have finished travelling, and memberlist's push/pull timer
 * waits a random stagger and then a whole interval before its first
 * exchange, so a Go node is only in its steady push/pull rhythm two
 * intervals after it started. Measuring earlier under-counts its streams.
 */
const settleSeconds = Number(flag("settle-seconds", String((2 * profiles[profile as ProfileName].gossip.pushPullIntervalMs) / 1000 + 5)));
const ourBinary = flag("binary", "");
/**
 * Members killed one after another; detection figures are over every
 * survivor's time for every kill. One kill is mostly luck (how soon some
 * member happens to probe the victim), several give a median worth comparing.
 */
const kills = Math.max(1, Math.min(nodes - 3, Number(flag("kills", "6"))));
/**
 * Pause after each kill's detection, so news of one death has settled and
 * the probers' local health (Lifeguard's awareness, raised by the failed
 * probes) has recovered before the next.
 */
const betweenKillsMs = 10_000;
/** The metadata our first agent gossips; the Go nodes carry the same bytes, so push/pull moves the same data. */
let ourMeta = "";
/**
 * Our push/pull also carries the replicated cluster state (the application
 * data memberlist leaves to its user); the Go nodes return a local state of
 * the same compressed size, so both exchange the same amount of application data.
 */
let ourState = "";
const clockTicks = 100; // USER_HZ on Linux

interface ProcessUsage {
  cpuSeconds: number;
  rssKiB: number;
}

function usage(pid: number): ProcessUsage {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicks;
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return { cpuSeconds, rssKiB: Number(rss?.[1] ?? 0) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

interface Result {
  convergeMs: number;
  detectMsMedian: number;
  detectMsMax: number;
  bytesPerNodePerSecond: number;
  cpuPercent: number;
  rssMiB: number;
}

type SteadyState = Pick<Result, "bytesPerNodePerSecond" | "cpuPercent" | "rssMiB">;

/**
 * Steady state, measured the same way for both implementations: wait for the
 * start-up news to settle, then bytes sent (by all but the last process, the
 * one later killed) and CPU over steadySeconds, and RSS at the end.
 */
async function steadyState(pids: readonly number[], bytesSent: () => number | Promise<number>): Promise<SteadyState> {
  await Bun.sleep(settleSeconds * 1000);
  const before = await bytesSent();
  const cpuBefore = pids.map((pid) => usage(pid).cpuSeconds);
  await Bun.sleep(steadySeconds * 1000);
  const after = await bytesSent();
  const cpuAfter = pids.map((pid) => usage(pid).cpuSeconds);
  return {
    bytesPerNodePerSecond: (after - before) / (nodes - 1) / steadySeconds,
    cpuPercent: (100 * median(cpuAfter.map((c, i) => c - cpuBefore[i]!))) / steadySeconds,
    rssMiB: median(pids.map((pid) => usage(pid).rssKiB)) / 1024,
  };
}

/**
 * Kill the last `kills` members one after another, measured the same way for
 * both implementations: for each kill, every survivor's time (ms) from the
 * kill to the wall-clock moment `failedAtMs` reports it marked the victim
 * failed; a pause after each so the next starts from a settled cluster.
 */
async function killOneByOne(
  label: string,
  members: ReadonlyArray<{ name: string; kill: () => void }>,
  failedAtMs: (survivor: number, victim: string) => number | undefined,
): Promise<number[]> {
  const detections: number[] = [];
  for (let round = 0; round < kills; round++) {
    const victim = members[nodes - 1 - round]!;
    const killedAt = Date.now();
    victim.kill();
    const times = await waitFor(`every ${label} node to mark ${victim.name} failed`, () => {
      const found: number[] = [];
      for (let survivor = 0; survivor < nodes - 1 - round; survivor++) {
        const at = failedAtMs(survivor, victim.name);
        if (at === undefined) return undefined;
        found.push(at - killedAt);
      }
      return found;
    }, 120_000, 50);
    detections.push(...times);
    console.log(`  ${label}: kill of ${victim.name}: ${describeKill(times)}`);
    await Bun.sleep(betweenKillsMs);
  }
  return detections;
}

/** One kill's detection times (ms after the kill), first / median / last survivor. */
function describeKill(times: readonly number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return `first ${sorted[0]!.toFixed(0)} ms, median ${median(sorted).toFixed(0)} ms, last ${sorted[sorted.length - 1]!.toFixed(0)} ms`;
}

function result(convergeMs: number, detections: readonly number[], steady: SteadyState): Result {
  return { convergeMs, detectMsMedian: median([...detections]), detectMsMax: Math.max(...detections), ...steady };
}

async function ours(dataDir: string): Promise<Result> {
  const ports = await freePorts(nodes * 4);
  const agents: Array<{ name: string; process: ReturnType<typeof Bun.spawn>; api: number; log: string[] }> = [];
  const repo = join(import.meta.dir, "..");
  const startedWallMs = Date.now();
  for (let i = 0; i < nodes; i++) {
    const [gossip, raft, api, provider] = ports.slice(i * 4, i * 4 + 4);
    const command = ourBinary ? [ourBinary] : [process.execPath, join(repo, "src", "main.ts")];
    const args = [...command, "agent", "--profile", profile, "--node-name", `ts${i}`,
      "--gossip-port", String(gossip), "--raft-port", String(raft), "--api-port", String(api),
      "--provider-port", String(provider), "--data-dir", join(dataDir, `ts${i}`), "--log-level", "info"];
    if (i > 0) args.push("--join", `127.0.0.1:${ports[0]}`);
    const child = Bun.spawn(args, { stdout: "pipe", stderr: "ignore", env: agentEnvironment() });
    const log: string[] = [];
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of child.stdout) {
        buffer += decoder.decode(chunk);
        const lines = buffer.split("\n");
        buffer = lines.pop() ?? "";
        log.push(...lines);
      }
    })();
    agents.push({ name: `ts${i}`, process: child, api: api!, log });
  }
  const membersOf = async (api: number) => {
    const response = await fetch(`http://127.0.0.1:${api}/api/v1/members`);
    return ((await response.json()) as { members: Array<{ name: string; state: string }> }).members;
  };
  try {
    // Convergence is read from the agents' own "member join" log lines, so
    // that measuring it puts no load on them.
    let convergedWallMs = 0;
    await waitFor("our agents to see each other", () => {
      let latest = 0;
      for (const agent of agents) {
        const joined = new Map<string, number>();
        for (const line of agent.log) {
          if (!line.includes('"member join"')) continue;
          const record = JSON.parse(line) as { member: string; ts: string };
          joined.set(record.member, Date.parse(record.ts));
        }
        if (joined.size < nodes - 1) return undefined;
        latest = Math.max(latest, ...joined.values());
      }
      convergedWallMs = latest;
      return true;
    }, 120_000, 50);
    const convergeMs = convergedWallMs - startedWallMs;
    const statsOf = async (api: number) =>
      ((await (await fetch(`http://127.0.0.1:${api}/api/v1/gossip`)).json()) as { counters: Record<string, number> }).counters;
    const bytes = async () => {
      let total = 0;
      for (const agent of agents.slice(0, -1)) {
        const c = await statsOf(agent.api);
        total += (c.bytesSent ?? 0) + (c.streamBytesSent ?? 0);
      }
      return total;
    };
    const steady = await steadyState(agents.map((a) => a.process.pid), bytes);
    // Read after the steady window, when the replicated state has its
    // steady size (metadata, Raft's cluster id): push/pull streams are
    // compressed, so the Go nodes return incompressible state of the size
    // ours has after compression, and both move the same bytes.
    const first = await (await fetch(`http://127.0.0.1:${agents[0]!.api}/api/v1/members`)).json() as { members: Array<{ meta_base64: string }> };
    ourMeta = Buffer.from(first.members[0]!.meta_base64, "base64").toString("utf8");
    const stateBytes = ((await (await fetch(`http://127.0.0.1:${agents[0]!.api}/api/v1/gossip`)).json()) as { state_bytes_compressed: number })
      .state_bytes_compressed;
    ourState = randomBytes(Math.ceil((stateBytes * 3) / 4)).toString("base64").slice(0, stateBytes);
    console.log(`  ours: metadata ${ourMeta.length} bytes, replicated state ${stateBytes} bytes compressed (the Go nodes get the same sizes)`);
    const detections = await killOneByOne("ours", agents.map((a) => ({ name: a.name, kill: () => a.process.kill("SIGKILL") })), (survivor, victim) => {
      const line = agents[survivor]!.log.find((l) => l.includes('"member dead"') && l.includes(`"member":"${victim}"`));
      return line === undefined ? undefined : Date.parse((JSON.parse(line) as { ts: string }).ts);
    });
    return result(convergeMs, detections, steady);
  } finally {
    for (const agent of agents) agent.process.kill("SIGKILL");
  }
}

async function go(binary: string): Promise<Result> {
  const ports = await freePorts(nodes);
  const peers: Mlpeer[] = [];
  const startedWallMs = Date.now();
  for (let i = 0; i < nodes; i++) {
    const args = ["-profile", profile, "-members-every", "0", "-stats", "-quiet", "-meta", ourMeta, "-state", ourState];
    if (i > 0) args.push("-join", `127.0.0.1:${ports[0]}`);
    peers.push(Mlpeer.start(binary, { name: `go${i}`, port: ports[i]!, args }));
    // mlpeer tries its join once (ours retry), so the seed must listen first.
    if (i === 0) await waitFor("the first Go node to listen", () => peers[0]!.events.some((e) => e.event === "started"), 10_000, 5);
  }
  try {
    let convergedUs = 0;
    const joinedBy = (peer: Mlpeer) => {
      const joined = new Map<unknown, number>();
      for (const event of peer.events) if (event.event === "join") joined.set(event.name, event.ts_us);
      return joined;
    };
    await waitFor("Go nodes to see each other", () => {
      let latest = 0;
      for (const peer of peers) {
        const joined = joinedBy(peer);
        if (joined.size < nodes) return undefined;
        latest = Math.max(latest, ...joined.values());
      }
      convergedUs = latest;
      return true;
    }, 120_000, 50).catch((error: Error) => {
      const state = peers.map((p) => `${p.name}: sees ${joinedBy(p).size}, exit ${p.process.exitCode ?? "-"}, stderr ${JSON.stringify(p.stderr.slice(-300))}`);
      throw new Error(`${error.message}\n  ${state.join("\n  ")}`);
    });
    const convergeMs = convergedUs / 1000 - startedWallMs;
    const bytes = () =>
      peers.slice(0, -1).reduce((sum, p) => {
        const stats = [...p.events].reverse().find((e) => e.event === "stats");
        return sum + Number(stats?.udp_sent ?? 0) + Number(stats?.tcp_sent ?? 0);
      }, 0);
    const steady = await steadyState(peers.map((p) => p.process.pid), bytes);
    const detections = await killOneByOne("Go", peers.map((p) => ({ name: p.name, kill: () => p.process.kill("SIGKILL") })), (survivor, victim) => {
      const event = peers[survivor]!.events.find((e) => e.event === "leave" && e.name === victim);
      return event === undefined ? undefined : event.ts_us / 1000;
    });
    return result(convergeMs, detections, steady);
  } finally {
    for (const peer of peers) peer.process.kill("SIGKILL");
  }
}

const binary = mlpeerBinary();
if (!binary.path) {
  console.error(`bench/gossip-real.ts: ${binary.missing}`);
  process.exit(1);
}
const dataDir = mkdtempSync(join(tmpdir(), "constellation-bench-"));
try {
  console.log(`gossip on loopback: ${nodes} processes each, profile ${profile}, steady state over ${steadySeconds} s`);
  const ourResult = await ours(dataDir);
  const goResult = await go(binary.path);
  const row = (name: string, r: Result) =>
    `| ${name.padEnd(22)} | ${r.convergeMs.toFixed(0).padStart(9)} | ${r.detectMsMedian.toFixed(0).padStart(12)} | ${r.detectMsMax.toFixed(0).padStart(10)} | ${r.bytesPerNodePerSecond.toFixed(0).padStart(9)} | ${r.cpuPercent.toFixed(2).padStart(6)} | ${r.rssMiB.toFixed(1).padStart(7)} |`;
  console.log("| implementation         | all see all ms | kill->dead p50 ms | kill->dead max ms | B/node/s | CPU % | RSS MiB |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  console.log(row("constellation (ours)", ourResult));
  console.log(row("hashicorp/memberlist", goResult));
  console.log(
    "\nCPU and RSS compare whole agents (gossip, Raft, control API, Traefik provider, state replication)" +
      `${ourBinary ? "" : ", run from source by Bun,"} with bare memberlist nodes; bandwidth counts gossip only.`,
  );
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
