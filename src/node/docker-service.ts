// The container monitor's shell: keeps a connection to the local Docker
// engine, feeds the monitor core (src/docker/monitor.ts) and performs what it
// asks: publish or withdraw service instances, restart unhealthy containers
// that opted in. It also runs the WARP check (docker-warp.ts).
//
// Updates come from Docker's event stream; every event only marks its
// container for a fresh inspect, and one worker inspects marked containers
// one at a time, so answers are applied in the order they were asked and a
// stale answer can never overwrite a newer one. A full resync (one list call;
// only containers whose list entry changed are inspected) runs on connect and
// every resyncIntervalMs, and whenever events may have been missed.
//
// When the socket is missing the service says so plainly and looks again
// with backoff (reconnectMinMs doubling to reconnectMaxMs); the same backoff
// applies when the engine stops answering or the stream ends (dockerd
// restarting). Every call has a deadline (apiTimeoutMs), so a slow daemon
// delays monitoring but blocks nothing else. While the engine is away, the
// last known state stays published: a restarting engine stops its
// containers first, and those die events arrive before the stream ends.

import type { DockerConfig } from "../config/schema.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import { SystemClock } from "../adapters/system-clock.ts";
import { DockerClient, type EventSubscription } from "../adapters/docker-client.ts";
import { parseInspect, snapshotKey, summaryKey } from "../docker/container.ts";
import { EventLineSplitter, containerActions, eventEffect, networkActions, parseEvent } from "../docker/events.ts";
import { MonitorCore, type MonitorOutput, type Now } from "../docker/monitor.ts";
import { monitorOptionsFromConfig } from "../docker/options.ts";
import type { ServiceHealth, WARPHealth } from "../state/model.ts";
import type { ContainersResponse, DockerApiSource, DockerConnectionView } from "../api/docker-api.ts";
import { WarpChecker } from "./docker-warp.ts";

export interface DockerServiceCallbacks {
  /** Publish (or re-publish) one of this node's service instances. */
  publish(health: ServiceHealth): void;
  /** Withdraw one of this node's service instances. */
  remove(service: string): void;
  publishWarp(health: WARPHealth): void;
}

export interface DockerServiceOptions {
  nodeName: string;
  stackName: string;
  docker: DockerConfig;
  log: Logger;
  clock?: Clock;
}

export type DockerConnection = DockerConnectionView["state"];

export interface DockerServiceCounters {
  connects: number;
  disconnects: number;
  events: number;
  eventsIgnored: number;
  eventsMalformed: number;
  inspects: number;
  inspectFailures: number;
  resyncs: number;
  resyncFailures: number;
  restartsRefused: number;
}

/** Containers waiting for an inspect; beyond this a full resync is cheaper. */
const dirtyMax = 4096;
/** Restarts running at once; more are refused and retried after their backoff. */
const restartsInFlightMax = 4;
/** A failed inspect is retried by a resync this long after (in ms), at the earliest. */
const retryResyncDelayMs = 1000;

export class DockerService implements DockerApiSource {
  readonly client: DockerClient;
  readonly core: MonitorCore;
  readonly warp: WarpChecker;
  readonly counters: DockerServiceCounters = {
    connects: 0,
    disconnects: 0,
    events: 0,
    eventsIgnored: 0,
    eventsMalformed: 0,
    inspects: 0,
    inspectFailures: 0,
    resyncs: 0,
    resyncFailures: 0,
    restartsRefused: 0,
  };
  private readonly config: DockerConfig;
  private readonly clock: Clock;
  private readonly log: Logger;
  private connection: DockerConnection = "stopped";
  private connectionDetail = "not started";
  private connectionSinceMs: number;
  private stopped = true;
  private runPromise: Promise<void> | undefined;
  private wakeSleeper: (() => void) | undefined;
  /** Resolves when stop() is called; a connected session waits on it and on its stream. */
  private stopRequested: Promise<void> = Promise.resolve();
  private requestStop: () => void = () => {};
  private subscription: EventSubscription | undefined;
  private splitter = new EventLineSplitter();
  /** Last list/inspect key per container id, so a resync inspects only what changed. */
  private readonly keys = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private pumping = false;
  private resyncing = false;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private wakeTimer: ReturnType<typeof setTimeout> | undefined;
  private restartsInFlight = 0;

  constructor(
    options: DockerServiceOptions,
    private readonly callbacks: DockerServiceCallbacks,
  ) {
    this.config = options.docker;
    this.clock = options.clock ?? new SystemClock();
    this.log = options.log.child({ component: "docker" });
    this.connectionSinceMs = this.clock.wallMs();
    this.client = new DockerClient(this.config.socketPath, this.config.apiTimeoutMs);
    this.core = new MonitorCore(monitorOptionsFromConfig(options.nodeName, options.stackName, this.config));
    this.warp = new WarpChecker(this.client, this.config.warp, options.nodeName, (health) => this.callbacks.publishWarp(health), this.log.child({ check: "warp" }), this.clock);
  }

  get state(): DockerConnection {
    return this.connection;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopRequested = new Promise((resolve) => (this.requestStop = resolve));
    this.log.info("container monitor starting", {
      socket: this.config.socketPath,
      scope: this.config.scopeLabel || null,
      dry_run: this.config.restart.dryRun,
    });
    this.runPromise = this.run();
    this.warp.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.requestStop();
    this.warp.stop();
    this.subscription?.close();
    this.subscription = undefined;
    this.wakeSleeper?.();
    for (const timer of [this.resyncTimer, this.wakeTimer]) if (timer) clearTimeout(timer);
    this.resyncTimer = this.wakeTimer = undefined;
    await this.runPromise;
    this.setConnection("stopped", "stopped");
  }

  /** One line for the agent's status components. */
  statusLine(): string {
    const count = this.core.size;
    switch (this.connection) {
      case "connected":
        return `connected to ${this.config.socketPath}, ${count} containers${this.config.restart.dryRun ? ", restarts in dry-run" : ""}`;
      case "no-socket":
        return `no socket at ${this.config.socketPath}: containers not monitored`;
      default:
        return `${this.connection}: ${this.connectionDetail}`;
    }
  }

  containers(): ContainersResponse {
    const now = this.now();
    const counters: Record<string, number> = { ...this.core.counters, ...this.counters, warp_checks: this.warp.checks };
    for (const [key, value] of Object.entries(this.client.counters)) counters[`api_${key}`] = value;
    return {
      node: this.core.options.nodeName,
      docker: {
        state: this.connection,
        socket: this.config.socketPath,
        detail: this.connectionDetail,
        since: new Date(this.connectionSinceMs).toISOString(),
        scope: this.config.scopeLabel || null,
        dry_run: this.config.restart.dryRun,
      },
      containers: this.core.view(now),
      restart_history: this.core.restartHistory(),
      warp: this.warp.latest() ?? null,
      counters,
    };
  }

  // ------------------------------------------------------------ connection

  private now(): Now {
    return { wallMs: this.clock.wallMs(), monoMs: this.clock.monotonicMs() };
  }

  private setConnection(state: DockerConnection, detail: string): void {
    if (state === this.connection && detail === this.connectionDetail) return;
    const previous = this.connection;
    this.connection = state;
    this.connectionDetail = detail;
    this.connectionSinceMs = this.clock.wallMs();
    const fields = { socket: this.config.socketPath, detail };
    switch (state) {
      case "connected":
        this.log.info("connected to Docker; containers are monitored", fields);
        break;
      case "no-socket":
        this.log.warn(`Docker socket ${this.config.socketPath} does not exist: containers are not monitored; looking again with backoff`, fields);
        break;
      case "unreachable":
        this.log.warn(previous === "connected" ? "lost the Docker engine; reconnecting with backoff" : "Docker engine not reachable; trying again with backoff", fields);
        break;
      case "connecting":
      case "stopped":
        this.log.debug(`docker ${state}`, fields);
        break;
    }
  }

  private async run(): Promise<void> {
    let delayMs = this.config.reconnectMinMs;
    while (!this.stopped) {
      const hadSession = await this.session();
      if (this.stopped) break;
      if (hadSession) delayMs = this.config.reconnectMinMs;
      await this.sleep(delayMs);
      delayMs = Math.min(this.config.reconnectMaxMs, delayMs * 2);
    }
  }

  /** Waits between connection attempts; stop() cuts the wait short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleeper = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleeper = done;
    });
  }

  /** One connection, from ping to the end of the event stream; true when it got as far as connected. */
  private async session(): Promise<boolean> {
    const socketProblem = this.client.socketProblem();
    if (socketProblem) {
      this.setConnection("no-socket", socketProblem);
      return false;
    }
    if (this.connection !== "unreachable") this.setConnection("connecting", "pinging the engine");
    const ping = await this.client.ping();
    if (!ping.ok) {
      this.setConnection(ping.kind === "no-socket" ? "no-socket" : "unreachable", ping.message);
      return false;
    }
    let streamEnded: (reason: string) => void = () => {};
    const ended = new Promise<string>((resolve) => (streamEnded = resolve));
    this.splitter = new EventLineSplitter();
    const subscription = await this.client.events(
      { type: ["container", "network"], event: [...containerActions, ...networkActions] },
      (text) => this.onEvents(text),
      (reason) => streamEnded(reason),
    );
    if (!subscription.ok) {
      this.setConnection("unreachable", `cannot open the event stream: ${subscription.message}`);
      return false;
    }
    if (this.stopped) {
      subscription.value.close();
      return false;
    }
    this.subscription = subscription.value;
    const synced = await this.resync();
    if (!synced) {
      this.closeSubscription();
      this.setConnection("unreachable", "the first full resync failed");
      return false;
    }
    this.counters.connects++;
    this.setConnection("connected", "event stream open");
    this.warp.nudge();
    this.scheduleResync(this.config.resyncIntervalMs);
    const reason = await Promise.race([ended, this.stopRequested.then(() => "stopping")]);
    this.closeSubscription();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
    if (!this.stopped) {
      this.counters.disconnects++;
      this.setConnection("unreachable", reason);
    }
    return true;
  }

  private closeSubscription(): void {
    this.subscription?.close();
    this.subscription = undefined;
  }

  // --------------------------------------------------------------- events

  private onEvents(text: string): void {
    const overlongBefore = this.splitter.overlongLines;
    const scope = this.core.options.scope;
    for (const line of this.splitter.push(text)) {
      const event = parseEvent(line);
      if (!event) {
        this.counters.eventsMalformed++;
        continue;
      }
      this.counters.events++;
      if (event.type === "container" && event.attributes.name === this.warp.containerName) this.warp.nudge();
      const ours =
        event.type === "container" ? !scope || event.attributes[scope.key] === scope.value : this.keys.has(event.containerId) || this.core.knows(event.containerId);
      if (!ours || eventEffect(event) === "ignore") {
        this.counters.eventsIgnored++;
        continue;
      }
      // Even "destroy" goes through an inspect: its 404 removes the container in order with every other answer.
      this.markDirty(event.containerId);
    }
    if (this.splitter.overlongLines !== overlongBefore) {
      this.log.warn("an event longer than the line limit was dropped; resynchronising", { dropped: this.splitter.overlongLines });
      this.scheduleResync(0);
    }
    void this.pump();
  }

  private markDirty(id: string): void {
    if (this.dirty.size >= dirtyMax && !this.dirty.has(id)) {
      this.scheduleResync(0);
      return;
    }
    this.dirty.add(id);
  }

  /** The single inspect worker: one call at a time, in the order containers were marked. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.stopped && this.dirty.size > 0) {
        const id = this.dirty.values().next().value as string;
        this.dirty.delete(id);
        this.counters.inspects++;
        const result = await this.client.inspect(id);
        if (this.stopped) break;
        if (result.ok) {
          const parsed = parseInspect(result.value);
          if (!parsed.ok) {
            this.counters.inspectFailures++;
            this.log.warn("unreadable inspect answer; container skipped", { id: id.slice(0, 12), error: parsed.error });
            continue;
          }
          this.keys.set(id, snapshotKey(parsed.snapshot));
          this.apply(this.core.observe(parsed.snapshot, this.now()));
        } else if (result.kind === "not-found") {
          this.keys.delete(id);
          this.apply(this.core.gone(id));
        } else {
          // The resync compares list entries with what was last inspected, so it retries this one.
          this.counters.inspectFailures++;
          this.keys.delete(id);
          this.log.warn("inspect failed; retrying with a resync", { id: id.slice(0, 12), error: result.message });
          this.scheduleResync(retryResyncDelayMs);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  // --------------------------------------------------------------- resync

  private scheduleResync(delayMs: number): void {
    if (this.stopped) return;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      void this.resync().then(() => {
        if (this.connection === "connected" && !this.resyncTimer) this.scheduleResync(this.config.resyncIntervalMs);
      });
    }, delayMs);
  }

  /** Lists every (in-scope) container; marks new and changed ones for inspection; forgets vanished ones. */
  private async resync(): Promise<boolean> {
    if (this.resyncing || this.stopped) return true;
    this.resyncing = true;
    try {
      this.counters.resyncs++;
      const listedAfterSeq = this.core.observationSeq;
      const list = await this.client.listContainers(this.config.scopeLabel || undefined);
      if (!list.ok) {
        this.counters.resyncFailures++;
        this.log.warn("full resync failed", { error: list.message });
        return false;
      }
      const ids = new Set<string>();
      for (const raw of list.value) {
        const summary = summaryKey(raw);
        if (!summary) continue;
        ids.add(summary.id);
        if (this.keys.get(summary.id) !== summary.key) this.markDirty(summary.id);
      }
      for (const id of [...this.keys.keys()]) if (!ids.has(id)) this.keys.delete(id);
      this.apply(this.core.resynced(ids, listedAfterSeq));
      void this.pump();
      return true;
    } finally {
      this.resyncing = false;
    }
  }

  // -------------------------------------------------------------- effects

  private apply(output: MonitorOutput): void {
    for (const effect of output.effects) {
      switch (effect.kind) {
        case "log":
          this.log[effect.level](effect.message, effect.fields);
          break;
        case "publish":
          this.guard("publish", () => this.callbacks.publish(effect.health));
          break;
        case "remove":
          this.guard("remove", () => this.callbacks.remove(effect.service));
          break;
        case "restart":
          void this.restart(effect.containerId, effect.containerName, effect.service, effect.attempt);
          break;
      }
    }
    this.scheduleWake(output.wakeAtMs);
  }

  /** A callback of the agent that throws must not stop monitoring. */
  private guard(what: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.log.error(`${what} callback failed`, { error: error as Error });
    }
  }

  private scheduleWake(atMs: number | undefined): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (atMs === undefined || this.stopped) return;
    const delayMs = Math.max(0, atMs - this.clock.monotonicMs());
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.apply(this.core.tick(this.now()));
    }, delayMs);
  }

  private async restart(id: string, name: string, service: string | undefined, attempt: number): Promise<void> {
    if (this.restartsInFlight >= restartsInFlightMax) {
      this.counters.restartsRefused++;
      this.apply(this.core.restartFinished(name, service, attempt, `${restartsInFlightMax} restarts already in progress; deferred`, this.now()));
      return;
    }
    this.restartsInFlight++;
    try {
      const result = await this.client.restart(id, this.config.restart.stopTimeoutSeconds);
      if (this.stopped) return;
      this.apply(this.core.restartFinished(name, service, attempt, result.ok ? undefined : result.message, this.now()));
    } finally {
      this.restartsInFlight--;
    }
  }
}
