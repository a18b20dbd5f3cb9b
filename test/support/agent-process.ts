// Real agent processes on loopback for tests and benchmarks: each agent gets
// free ports, its own data directory and log file under one temporary
// directory, and the shared API token; `start` spawns `src/main.ts agent`
// with the local profile (or the one it is given), `kill` sends a signal and
// waits for the exit, and `close` kills what still runs and removes the
// directory (KEEP_TEST_LOGS=1 keeps it for a post-mortem).

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { ProfileName } from "../../src/config/schema.ts";
import { freePorts } from "./ports.ts";

export const mainScript = join(import.meta.dir, "..", "..", "src", "main.ts");

export interface AgentProcess {
  name: string;
  priority: number;
  gossip: number;
  raft: number;
  apiPort: number;
  provider: number;
  /** Base URL of the control API. */
  api: string;
  dataDir: string;
  child?: Subprocess;
}

export class AgentProcesses {
  readonly dir: string;
  readonly tokenFile: string;
  readonly token = "agent-process-test-token-0123456789";
  private readonly running = new Set<Subprocess>();

  constructor(prefix = "constellation-agents-") {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    this.tokenFile = join(this.dir, "api-token");
    writeFileSync(this.tokenFile, `${this.token}\n`);
    chmodSync(this.tokenFile, 0o600);
  }

  async make(name: string, priority: number): Promise<AgentProcess> {
    const [gossip, raft, apiPort, provider] = (await freePorts(4)) as [number, number, number, number];
    return { name, priority, gossip, raft, apiPort, provider, api: `http://127.0.0.1:${apiPort}`, dataDir: join(this.dir, name) };
  }

  /** Spawns the agent; `extra` flags follow the ones derived from the record. */
  start(agent: AgentProcess, extra: string[] = [], env: Record<string, string> = {}, profile: ProfileName = "local"): void {
    const args = [process.execPath, mainScript, "agent", "--profile", profile, "--node-name", agent.name, "--priority", String(agent.priority),
      "--gossip-port", String(agent.gossip), "--raft-port", String(agent.raft), "--api-port", String(agent.apiPort),
      "--provider-port", String(agent.provider), "--data-dir", agent.dataDir, ...extra];
    const child = Bun.spawn(args, {
      stdout: Bun.file(join(this.dir, `${agent.name}-${Date.now()}.log`)),
      stderr: "inherit",
      env: { ...agentEnvironment(), CONSTELLATION_API_TOKEN_FILE: this.tokenFile, ...env },
    });
    this.running.add(child);
    void child.exited.then(() => this.running.delete(child));
    agent.child = child;
  }

  async kill(agent: AgentProcess, signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    agent.child?.kill(signal);
    await agent.child?.exited;
  }

  /** Runs the CLI with the shared token; returns exit code and output. */
  cli(args: string[]): { code: number; out: string; err: string } {
    const result = Bun.spawnSync([process.execPath, mainScript, ...args], {
      env: { ...process.env, CONSTELLATION_API_TOKEN_FILE: this.tokenFile },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: result.exitCode, out: result.stdout.toString(), err: result.stderr.toString() };
  }

  async close(): Promise<void> {
    for (const child of this.running) child.kill("SIGKILL");
    await Promise.all([...this.running].map((child) => child.exited));
    if (process.env.KEEP_TEST_LOGS) console.log(`agent logs and data kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The environment of `constellation agent` run with nothing but the embedded
 * default: free ports and a data directory through the original agent's
 * variable names (BIND_PORT, RAFT_PORT, ...), as an operator would set them.
 */
export function embeddedDefaultEnv(
  ports: { gossip: number; raft: number; api: number; provider: number },
  dataDir: string,
  nodeName: string,
): Record<string, string | undefined> {
  return {
    ...agentEnvironment(),
    BIND_PORT: String(ports.gossip),
    RAFT_PORT: String(ports.raft),
    API_PORT: String(ports.api),
    TRAEFIK_HTTP_PROVIDER_PORT: String(ports.provider),
    DATA_DIR: dataDir,
    TS_HOSTNAME: nodeName,
  };
}

/**
 * A Docker socket that never exists. Agents the tests and benches start get
 * no Docker engine unless they name one (CONSTELLATION_DOCKER_SOCKET_PATH, as
 * the Docker tests do, with a scope label): on the default socket they would
 * watch, restart and re-bind the developer's own containers, a container
 * named `traefik` included.
 */
export const noDockerSocket = join(tmpdir(), "constellation-tests-no-docker", "docker.sock");

/**
 * This process's environment without the tests' own CONSTELLATION_TEST_*
 * settings, which an agent would refuse as unknown configuration keys, and
 * with no Docker engine (see noDockerSocket).
 */
export function agentEnvironment(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("CONSTELLATION_TEST_")) delete env[key];
  env.CONSTELLATION_DOCKER_SOCKET_PATH = noDockerSocket;
  return env;
}

/** GET a JSON document from an agent's API with a short timeout. */
export async function getJson<T>(agent: AgentProcess, path: string, timeoutMs = 2000): Promise<T> {
  const response = await fetch(`${agent.api}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${agent.name} ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}
