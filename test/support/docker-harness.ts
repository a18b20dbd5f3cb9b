// A DockerService wired to recording callbacks, for tests against the real
// engine: what it published (the latest record per service), every publish
// and removal in order with the time it happened, WARP records and log
// lines. Each harness watches only containers carrying its own scope label,
// so several can share one engine. Also a unix-socket proxy in front of the
// engine, which a test can take away and bring back (the socket vanishing)
// without touching the real dockerd, and a socket that accepts connections
// and never answers (a hung daemon). The proxy also counts the HTTP requests
// that pass through it, by method and path, which is what the engine sees of
// a client whatever the client counts itself.

import { createConnection, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { Logger } from "../../src/lib/log.ts";
import { SystemClock } from "../../src/adapters/system-clock.ts";
import { dockerConfigDefaults, type DockerConfig } from "../../src/config/schema.ts";
import { DockerService } from "../../src/node/docker-service.ts";
import type { ServiceHealth, WARPHealth } from "../../src/state/model.ts";
import { dockerSocket } from "./docker.ts";

export const scopeKey = "constellation.test.scope";

export interface Change {
  kind: "publish" | "remove";
  service: string;
  health?: ServiceHealth;
  atMs: number;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };

export class Harness {
  readonly scope = randomBytes(4).toString("hex");
  readonly scopeLabels: Record<string, string> = { [scopeKey]: this.scope };
  readonly published = new Map<string, ServiceHealth>();
  readonly changes: Change[] = [];
  readonly warps: WARPHealth[] = [];
  readonly lines: string[] = [];
  readonly service: DockerService;
  readonly config: DockerConfig;

  constructor(overrides: DeepPartial<DockerConfig> = {}) {
    const defaults = dockerConfigDefaults();
    this.config = {
      ...defaults,
      socketPath: dockerSocket,
      scopeLabel: `${scopeKey}=${this.scope}`,
      apiTimeoutMs: 3000,
      resyncIntervalMs: 60_000,
      reconnectMinMs: 100,
      reconnectMaxMs: 400,
      ...(overrides as Partial<DockerConfig>),
      restart: { ...defaults.restart, graceMs: 1, stopTimeoutSeconds: 1, ...overrides.restart },
      warp: { ...defaults.warp, check: "off", ...overrides.warp },
      edge: { ...defaults.edge, ...(overrides.edge as Partial<DockerConfig["edge"]>) },
    };
    const log = new Logger((line) => this.lines.push(line), new SystemClock(), "debug");
    this.service = new DockerService(
      { nodeName: "node-a", stackName: "constellation", docker: this.config, log },
      {
        publish: (health) => {
          this.published.set(health.service_name, health);
          this.changes.push({ kind: "publish", service: health.service_name, health, atMs: performance.now() });
        },
        remove: (service) => {
          this.published.delete(service);
          this.changes.push({ kind: "remove", service, atMs: performance.now() });
        },
        publishWarp: (health) => this.warps.push(health),
      },
    );
  }

  /** Log lines (parsed) whose message contains `text`. */
  logged(text: string): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => String(line.msg).includes(text));
  }

  container(name: string) {
    return this.service.containers().containers.find((container) => container.name === name);
  }
}

/** Longest partial line kept between two chunks of one connection while looking for request lines. */
const requestLineMax = 4096;
// Request lines as clients of the Engine API send them; bodies are JSON or tar streams without such lines.
const requestLinePattern = /^(GET|HEAD|POST|PUT|DELETE) (\/\S*) HTTP\/1\.[01]$/;

/**
 * "GET /containers/{id}/json" for "GET /v1.41/containers/3f2a.../json?size=0":
 * no API version, no query, and the object named after /containers/, /exec/,
 * /networks/ or /images/ replaced, so calls of one kind count together.
 */
export function requestKind(method: string, target: string): string {
  const path = target.split("?")[0]!.replace(/^\/v\d+\.\d+(?=\/)/, "");
  return `${method} ${path.replace(/^\/(containers|exec|networks|images)\/(?!json$|create$|prune$)[^/]+/, "/$1/{id}")}`;
}

/** A unix socket that forwards to the Docker engine, and can be taken away and brought back. */
export class SocketProxy {
  /** HTTP requests seen since start, by requestKind. */
  readonly requests = new Map<string, number>();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly target = dockerSocket,
  ) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(this.target);
      this.sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
      let partial = "";
      client.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString("latin1")).split("\r\n");
        partial = lines.pop()!.slice(-requestLineMax);
        for (const line of lines) {
          const match = requestLinePattern.exec(line);
          if (!match) continue;
          const kind = requestKind(match[1]!, match[2]!);
          this.requests.set(kind, (this.requests.get(kind) ?? 0) + 1);
        }
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(this.path, () => resolve()));
    this.server = server;
  }

  /** Requests of all kinds together: seen since start, or in `requests`, a copy of `this.requests` taken earlier. */
  requestCount(requests: ReadonlyMap<string, number> = this.requests): number {
    let total = 0;
    for (const count of requests.values()) total += count;
    return total;
  }

  /** Closes every connection and removes the socket file: to a client, the engine is gone. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}

/** A unix socket that accepts connections and never answers: a hung daemon. */
export async function silentSocket(path: string): Promise<{ stop(): Promise<void> }> {
  const held = new Set<Socket>();
  const server = createServer((socket) => {
    held.add(socket);
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(path, () => resolve()));
  return {
    async stop() {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(path, { force: true });
    },
  };
}
