// A real Docker engine for tests. `dockerReady()` makes sure one answers
// (under CI=true it starts one with start-dockerd.sh, installing Debian's
// docker.io if needed; elsewhere a test without Docker skips with a one-line
// reason) and that the test image exists: no registry is reachable, so the
// image is made by `docker import` of a root filesystem holding Debian's
// static busybox and its applet links, and cached by a tag derived from the
// busybox binary's hash.
//
// Everything a test creates carries the labels of its DockerTestEnv (a run
// id and the test process's pid); cleanup() removes the run's containers and
// networks, and sweepStale() removes what a test process that died left
// behind. Test networks are internal (no route off the machine) unless a
// test needs port publishing.

import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, createReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { inCi } from "./components.ts";

export const dockerSocket = process.env.CONSTELLATION_TEST_DOCKER_SOCK ?? "/var/run/docker.sock";
const busyboxPaths = ["/bin/busybox", "/usr/bin/busybox"];
const startScript = join(import.meta.dir, "start-dockerd.sh");

export const runLabel = "constellation.test.run";
export const pidLabel = "constellation.test.pid";
/** Containers cleanup() removes at once. */
const removalsAtOnceMax = 8;

/** `built` is true when this process imported the image (a benchmark removes it again when done). */
export interface DockerReadiness {
  image?: string;
  missing?: string;
  built?: boolean;
}

let readiness: Promise<DockerReadiness> | undefined;

/** The test image's tag once Docker is ready, or why Docker tests cannot run here. */
export function dockerReady(): Promise<DockerReadiness> {
  readiness ??= prepare();
  return readiness;
}

async function ping(docker: Docker): Promise<boolean> {
  try {
    await docker.ping();
    return true;
  } catch {
    return false;
  }
}

async function prepare(): Promise<DockerReadiness> {
  const docker = new Docker({ socketPath: dockerSocket });
  if (!(await ping(docker))) {
    if (!inCi) return { missing: `no Docker engine answers on ${dockerSocket} (start one with test/support/start-dockerd.sh)` };
    const started = Bun.spawnSync(["sh", startScript], { env: { ...process.env, DOCKERD_SOCK: dockerSocket }, stdout: "pipe", stderr: "pipe", timeout: 300_000 });
    const output = `${started.stdout.toString()}${started.stderr.toString()}`.trim();
    if (started.exitCode !== 0 || !(await ping(docker))) return { missing: `could not start dockerd: ${output.split("\n").slice(-3).join(" | ")}` };
    const pid = /started dockerd pid (\d+)/.exec(output)?.[1];
    // The tests started this engine, so it stops when the test process ends. bun test emits no
    // "exit" event, so a small watchdog process waits for this one to go and then stops dockerd.
    if (pid) {
      const watchdog = Bun.spawn(["sh", "-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill ${Number(pid)} 2>/dev/null`], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "ignore",
      });
      watchdog.unref();
    }
  }
  const busybox = staticBusybox();
  if (typeof busybox !== "string") return busybox;
  await sweepStale(docker);
  return await ensureImage(docker, busybox);
}

/** True when the ELF file has no program interpreter (a static binary runs in an empty root). */
function isStaticElf(path: string): boolean {
  const bytes = readFileSync(path);
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2) return false;
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const offset = phoff + i * phentsize;
    if (offset + 4 > bytes.length) return false;
    if (bytes.readUInt32LE(offset) === 3) return false; // PT_INTERP
  }
  return true;
}

function staticBusybox(): string | { missing: string } {
  const find = () => busyboxPaths.find((path) => existsSync(path) && isStaticElf(path));
  let found = find();
  if (!found && inCi) {
    Bun.spawnSync(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static"], { stdout: "ignore", stderr: "ignore", timeout: 300_000 });
    found = find();
  }
  return found ?? { missing: "no static busybox for the test image (apt-get install busybox-static)" };
}

async function ensureImage(docker: Docker, busybox: string): Promise<DockerReadiness> {
  const hash = createHash("sha256").update(readFileSync(busybox)).digest("hex").slice(0, 12);
  const repo = "constellation-test/busybox";
  const image = `${repo}:${hash}`;
  try {
    await docker.getImage(image).inspect();
    return { image };
  } catch {
    // Not built yet.
  }
  const dir = mkdtempSync(join(tmpdir(), "constellation-rootfs-"));
  try {
    const root = join(dir, "root");
    for (const sub of ["bin", "etc", "tmp", "www", "root"]) mkdirSync(join(root, sub), { recursive: true });
    chmodSync(join(root, "tmp"), 0o1777);
    writeFileSync(join(root, "bin", "busybox"), readFileSync(busybox), { mode: 0o755 });
    const applets = Bun.spawnSync([busybox, "--list"]).stdout.toString().split("\n").filter((name) => /^[a-z0-9_.[-]+$/.test(name) && name !== "busybox");
    for (const applet of applets) symlinkSync("busybox", join(root, "bin", applet));
    writeFileSync(join(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
    writeFileSync(join(root, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
    writeFileSync(join(root, "etc", "hosts"), "127.0.0.1 localhost\n");
    const tarball = join(dir, "rootfs.tar");
    const tar = Bun.spawnSync(["tar", "-C", root, "-cf", tarball, "."], { stderr: "pipe" });
    if (tar.exitCode !== 0) return { missing: `tar failed: ${tar.stderr.toString().trim()}` };
    const stream = (await docker.importImage(createReadStream(tarball) as never, { repo, tag: hash } as {})) as unknown as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      stream.on("data", () => {});
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    await docker.getImage(image).inspect();
    return { image, built: true };
  } catch (error) {
    return { missing: `could not build the test image: ${(error as Error).message}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes containers and networks left by test processes that are no longer running. */
export async function sweepStale(docker: Docker): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [pidLabel] }) });
  for (const container of containers) {
    const pid = Number(container.Labels[pidLabel]);
    if (Number.isInteger(pid) && !alive(pid)) await docker.getContainer(container.Id).remove({ force: true }).catch(() => {});
  }
  const networks = await docker.listNetworks({ filters: JSON.stringify({ label: [pidLabel] }) });
  for (const network of networks) {
    const pid = Number(network.Labels?.[pidLabel]);
    if (Number.isInteger(pid) && !alive(pid)) await docker.getNetwork(network.Id).remove().catch(() => {});
  }
}

export interface TestContainerSpec {
  name?: string;
  cmd: string[];
  labels?: Record<string, string>;
  networks?: string[];
  /** Shell test run by the healthcheck (CMD-SHELL), with short timings unless given. */
  health?: { test: string; intervalMs?: number; retries?: number; startPeriodMs?: number; timeoutMs?: number };
  exposedPorts?: string[];
  /** Host paths mounted into the container, as `docker run -v` writes them ("/host/dir:/in/container"). */
  binds?: string[];
  portBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  restartPolicy?: "no" | "always" | "unless-stopped" | "on-failure";
  env?: string[];
  start?: boolean;
}

/** One test file's Docker objects: every one is labelled with the run id and removed by cleanup(). */
export class DockerTestEnv {
  readonly docker = new Docker({ socketPath: dockerSocket });
  readonly runId = randomBytes(4).toString("hex");
  readonly labels: Record<string, string> = { [runLabel]: this.runId, [pidLabel]: String(process.pid) };

  constructor(readonly image: string) {}

  /** A name unique to this run, e.g. "web-1a2b3c4d". */
  name(base: string): string {
    return `${base}-${this.runId}`;
  }

  async network(base: string, options: { internal: boolean }): Promise<string> {
    const name = this.name(base);
    await this.docker.createNetwork({ Name: name, Driver: "bridge", Internal: options.internal, Labels: this.labels, CheckDuplicate: true });
    return name;
  }

  async container(spec: TestContainerSpec): Promise<Docker.Container> {
    const networks = spec.networks ?? [];
    const body: Docker.ContainerCreateOptions = {
      name: spec.name,
      Image: this.image,
      Cmd: spec.cmd,
      Env: spec.env,
      Labels: { ...this.labels, ...spec.labels },
      // SIGKILL: busybox's sleep as process 1 ignores SIGTERM, and a test should not wait for Docker's stop timeout.
      StopSignal: "SIGKILL",
      ExposedPorts: Object.fromEntries((spec.exposedPorts ?? []).map((port) => [port, {}])),
      HostConfig: {
        NetworkMode: networks[0] ?? "none",
        RestartPolicy: { Name: spec.restartPolicy ?? "no" },
        PortBindings: spec.portBindings,
        Binds: spec.binds,
        Init: false,
      },
    };
    if (spec.health) {
      body.Healthcheck = {
        Test: ["CMD-SHELL", spec.health.test],
        Interval: (spec.health.intervalMs ?? 100) * 1_000_000,
        Timeout: (spec.health.timeoutMs ?? 2000) * 1_000_000,
        Retries: spec.health.retries ?? 1,
        StartPeriod: (spec.health.startPeriodMs ?? 0) * 1_000_000,
      };
    }
    const container = await this.docker.createContainer(body);
    for (const network of networks.slice(1)) await this.docker.getNetwork(network).connect({ Container: container.id });
    if (spec.start !== false) await container.start();
    return container;
  }

  /**
   * Creates and starts a container with curl instead of dockerode: Bun's HTTP
   * client cannot send a request body over about 1 MiB, which a test of huge
   * labels needs.
   */
  async createWithCurl(name: string, body: Record<string, unknown>): Promise<Docker.Container> {
    const full = { Image: this.image, StopSignal: "SIGKILL", ...body, Labels: { ...this.labels, ...(body.Labels as Record<string, string>) } };
    const path = join(mkdtempSync(join(tmpdir(), "constellation-create-")), "body.json");
    writeFileSync(path, JSON.stringify(full));
    try {
      const result = Bun.spawnSync(
        ["curl", "-fsS", "--unix-socket", dockerSocket, "-H", "Content-Type: application/json", "--data-binary", `@${path}`, `http://localhost/containers/create?name=${encodeURIComponent(name)}`],
        { stdout: "pipe", stderr: "pipe" },
      );
      if (result.exitCode !== 0) throw new Error(`container create failed: ${result.stderr.toString().trim()}`);
    } finally {
      rmSync(join(path, ".."), { recursive: true, force: true });
    }
    const container = this.docker.getContainer(name);
    await container.start();
    return container;
  }

  /** Runs a command in a container; resolves with its exit code and output. */
  async exec(container: Docker.Container, cmd: string[]): Promise<{ exitCode: number; output: string }> {
    const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = (await exec.start({ hijack: false, stdin: false } as never)) as NodeJS.ReadableStream;
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, output: Buffer.concat(chunks).toString("latin1") };
  }

  async cleanup(): Promise<void> {
    const filters = JSON.stringify({ label: [`${runLabel}=${this.runId}`] });
    const containers = await this.docker.listContainers({ all: true, filters }).catch(() => []);
    // A few at a time: dockerd 20.10 on a loaded machine, asked to remove about fifty containers at once,
    // once kept a stale endpoint on their network, which then could not be removed until it restarted.
    for (let i = 0; i < containers.length; i += removalsAtOnceMax) {
      const batch = containers.slice(i, i + removalsAtOnceMax);
      await Promise.all(batch.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
    }
    const networks = await this.docker.listNetworks({ filters }).catch(() => []);
    for (const network of networks) await this.docker.getNetwork(network.Id).remove().catch(() => {});
  }
}
