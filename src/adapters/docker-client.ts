// The Docker Engine API as the agent uses it, over dockerode on a unix
// socket. Every call has a deadline and every failure is a value naming its
// kind (no socket, engine not answering, timeout, not found, conflict, API
// error), so a missing, restarting or slow daemon never throws into the
// agent and never holds up anything but the call that waits for it. Calls
// are counted, for the calls-per-minute figure.

import { existsSync, statSync } from "node:fs";
import Docker from "dockerode";
import { demultiplex, execOutputBytesMax, type Demultiplexed } from "../docker/warp.ts";

export type DockerFailureKind = "no-socket" | "unreachable" | "timeout" | "not-found" | "conflict" | "api";

export interface DockerFailure {
  ok: false;
  kind: DockerFailureKind;
  message: string;
}

export type DockerResult<T> = { ok: true; value: T } | DockerFailure;

export interface DockerClientCounters {
  calls: number;
  /** Calls that failed; a lookup answered "no such object" is an answer, counted in notFound instead. */
  failures: number;
  timeouts: number;
  notFound: number;
}

export interface ExecResult extends Demultiplexed {
  exitCode: number;
}

export interface EventSubscription {
  close(): void;
}

/** Bytes of raw (framed) exec output read before the rest is dropped. */
const execReadBytesMax = 2 * execOutputBytesMax;
/** Longest error message kept from Docker. */
const errorMessageMax = 300;

function failure(kind: DockerFailureKind, message: string): DockerFailure {
  return { ok: false, kind, message: message.length > errorMessageMax ? `${message.slice(0, errorMessageMax)}...` : message };
}

/** Turns whatever dockerode or the socket threw into a failure value. */
export function classifyError(error: unknown, socketPath: string): DockerFailure {
  const err = (error ?? {}) as { statusCode?: number; code?: string; message?: string; json?: { message?: string }; name?: string };
  const message = err.json?.message ?? err.message ?? String(error);
  if (err.statusCode === 404) return failure("not-found", message);
  if (err.statusCode === 409) return failure("conflict", message);
  if (err.code === "ENOENT") return failure("no-socket", `Docker socket ${socketPath} does not exist`);
  if (err.code === "ECONNREFUSED" || err.code === "ECONNRESET" || err.code === "EPIPE" || err.code === "ConnectionRefused") {
    return failure("unreachable", `Docker engine at ${socketPath} is not accepting connections (${err.code})`);
  }
  if (err.name === "AbortError" || err.code === "ABORT_ERR") return failure("timeout", message);
  if (typeof err.statusCode === "number") return failure("api", `Docker answered ${err.statusCode}: ${message}`);
  return failure("unreachable", message);
}

export class DockerClient {
  readonly counters: DockerClientCounters = { calls: 0, failures: 0, timeouts: 0, notFound: 0 };
  private readonly docker: Docker;

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs: number,
  ) {
    this.docker = new Docker({ socketPath });
  }

  /** undefined when the socket exists, else why not (said plainly). */
  socketProblem(): string | undefined {
    if (!existsSync(this.socketPath)) return `Docker socket ${this.socketPath} does not exist`;
    try {
      if (!statSync(this.socketPath).isSocket()) return `${this.socketPath} exists but is not a socket`;
    } catch (error) {
      return `cannot look at ${this.socketPath}: ${(error as Error).message}`;
    }
    return undefined;
  }

  /**
   * Runs one API call with a deadline. The signal aborts the request where
   * dockerode supports it; the race makes the deadline hold where it does not.
   */
  async call<T>(what: string, run: (signal: AbortSignal) => Promise<T>, timeoutMs = this.timeoutMs): Promise<DockerResult<T>> {
    this.counters.calls++;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<DockerFailure>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve(failure("timeout", `${what}: no answer from Docker within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const attempt = run(controller.signal).then(
      (value): DockerResult<T> => ({ ok: true, value }),
      (error: unknown) => (controller.signal.aborted ? failure("timeout", `${what}: no answer from Docker within ${timeoutMs} ms`) : classifyError(error, this.socketPath)),
    );
    const result = await Promise.race([attempt, deadline]);
    clearTimeout(timer);
    if (!result.ok && result.kind === "not-found") this.counters.notFound++;
    else if (!result.ok) {
      this.counters.failures++;
      if (result.kind === "timeout") this.counters.timeouts++;
    }
    return result;
  }

  ping(): Promise<DockerResult<unknown>> {
    return this.call("ping", (abortSignal) => (this.docker.ping as unknown as (options: object) => Promise<unknown>).call(this.docker, { abortSignal }));
  }

  /** GET /containers/json?all=1, optionally only those with a label ("key=value"). */
  listContainers(label?: string): Promise<DockerResult<unknown[]>> {
    const filters = label ? JSON.stringify({ label: [label] }) : undefined;
    return this.call("list containers", async (abortSignal) => {
      const list = (await this.docker.listContainers({ all: true, ...(filters ? { filters } : {}), abortSignal } as {})) as unknown;
      return Array.isArray(list) ? list : [];
    });
  }

  inspectNetwork(name: string): Promise<DockerResult<unknown>> {
    return this.call(`inspect network ${name.slice(0, 64)}`, (abortSignal) => {
      // dockerode takes options here too, but its types only know a callback.
      const network = this.docker.getNetwork(name);
      return (network.inspect as unknown as (options: object) => Promise<unknown>).call(network, { abortSignal });
    });
  }

  inspect(idOrName: string): Promise<DockerResult<unknown>> {
    return this.call(`inspect ${idOrName.slice(0, 64)}`, (abortSignal) => this.docker.getContainer(idOrName).inspect({ abortSignal } as {}));
  }

  restart(id: string, stopTimeoutSeconds: number): Promise<DockerResult<unknown>> {
    // Docker answers only once the container has stopped and started again.
    return this.call(
      `restart ${id.slice(0, 12)}`,
      (abortSignal) => this.docker.getContainer(id).restart({ t: stopTimeoutSeconds, abortSignal } as {}),
      this.timeoutMs + stopTimeoutSeconds * 1000,
    );
  }

  /** Runs a command in a running container and collects its output (bounded) and exit code. */
  async exec(idOrName: string, command: string[], timeoutMs: number): Promise<DockerResult<ExecResult>> {
    const created = await this.call(`exec in ${idOrName.slice(0, 64)}`, () =>
      this.docker.getContainer(idOrName).exec({ Cmd: command, AttachStdout: true, AttachStderr: true, Tty: false }),
    );
    if (!created.ok) return created;
    const exec = created.value;
    const output = await this.call(
      `exec output from ${idOrName.slice(0, 64)}`,
      async (signal) => {
        const stream = (await exec.start({ hijack: false, stdin: false, Detach: false, Tty: false } as {})) as unknown as NodeJS.ReadableStream & { destroy(): void };
        return await new Promise<Uint8Array>((resolve, reject) => {
          const chunks: Uint8Array[] = [];
          let bytes = 0;
          const finish = () => resolve(Buffer.concat(chunks));
          signal.addEventListener("abort", () => {
            stream.destroy();
            reject(Object.assign(new Error("exec timed out"), { name: "AbortError" }));
          });
          stream.on("data", (chunk: Buffer) => {
            if (bytes < execReadBytesMax) chunks.push(chunk.subarray(0, execReadBytesMax - bytes));
            bytes += chunk.length;
          });
          stream.on("end", finish);
          stream.on("close", finish);
          stream.on("error", reject);
        });
      },
      timeoutMs,
    );
    if (!output.ok) return output;
    const inspected = await this.call("exec inspect", () => exec.inspect());
    if (!inspected.ok) return inspected;
    const exitCode = inspected.value.ExitCode;
    if (typeof exitCode !== "number") return failure("timeout", "the command was still running when its output ended");
    return { ok: true, value: { exitCode, ...demultiplex(output.value) } };
  }

  /**
   * Opens the event stream. `onChunk` gets the raw text; `onEnd` is called
   * once, when the stream ends for any reason other than close().
   */
  async events(filters: Record<string, string[]>, onChunk: (text: string) => void, onEnd: (reason: string) => void): Promise<DockerResult<EventSubscription>> {
    const controller = new AbortController();
    const opened = await this.call("open event stream", (deadline) => {
      // One controller serves both the deadline and close(), so a stream that opens after its deadline is torn down too.
      deadline.addEventListener("abort", () => controller.abort());
      return this.docker.getEvents({ filters: JSON.stringify(filters), abortSignal: controller.signal } as {});
    });
    if (!opened.ok) return opened;
    const stream = opened.value as NodeJS.ReadableStream & { destroy(): void };
    let ended = false;
    const end = (reason: string) => {
      if (ended) return;
      ended = true;
      onEnd(reason);
    };
    stream.on("data", (chunk: Buffer) => onChunk(chunk.toString("utf8")));
    stream.on("end", () => end("the engine closed the event stream"));
    stream.on("close", () => end("the event stream was closed"));
    stream.on("error", (error: unknown) => end(classifyError(error, this.socketPath).message));
    return {
      ok: true,
      value: {
        close: () => {
          ended = true;
          controller.abort();
          stream.destroy();
        },
      },
    };
  }

  // The calls below recreate the edge proxy container (see src/node/docker-edge.ts).

  createContainer(name: string, body: Record<string, unknown>): Promise<DockerResult<string>> {
    return this.call(`create ${name}`, async () => (await this.docker.createContainer({ ...body, name } as {})).id);
  }

  connectNetwork(network: string, id: string, endpoint: Record<string, unknown>): Promise<DockerResult<unknown>> {
    return this.call(`connect ${id.slice(0, 12)} to ${network}`, () => this.docker.getNetwork(network).connect({ Container: id, EndpointConfig: endpoint }));
  }

  start(id: string): Promise<DockerResult<unknown>> {
    return this.call(`start ${id.slice(0, 12)}`, (abortSignal) => this.docker.getContainer(id).start({ abortSignal } as {}));
  }

  stop(id: string, stopTimeoutSeconds: number): Promise<DockerResult<unknown>> {
    return this.call(
      `stop ${id.slice(0, 12)}`,
      (abortSignal) => this.docker.getContainer(id).stop({ t: stopTimeoutSeconds, abortSignal } as {}),
      this.timeoutMs + stopTimeoutSeconds * 1000,
    );
  }

  rename(id: string, name: string): Promise<DockerResult<unknown>> {
    return this.call(`rename ${id.slice(0, 12)}`, (abortSignal) => this.docker.getContainer(id).rename({ name, abortSignal } as {}));
  }

  remove(id: string): Promise<DockerResult<unknown>> {
    return this.call(`remove ${id.slice(0, 12)}`, (abortSignal) => this.docker.getContainer(id).remove({ force: true, abortSignal } as {}));
  }
}
