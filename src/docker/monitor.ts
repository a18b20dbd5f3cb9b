// The container monitor's core: what this node's containers mean for the
// replicated state, and when an unhealthy one is restarted. It never talks
// to Docker and never reads a clock: the shell feeds it snapshots (one per
// inspect), disappearances, full-resync listings, timer ticks and restart
// outcomes (with the time where it matters), and performs the effects it returns.
//
// One service instance is published per service name and node. When several
// containers on this node claim the same service (two replicas, or two
// Compose projects with a service of the same name), the healthiest one is
// published (healthy, then unhealthy, then stopped; ties go to the name that
// sorts first) and the others are listed with a problem naming it.
// Containers the edge action is swapping (transient names, see edge.ts) are
// not services.
//
// Every restart decision is logged; restarts, dry-run restarts and
// exhausted budgets are also kept in a bounded history for the API.

import { Value } from "@sinclair/typebox/value";
import { assert } from "../lib/assert.ts";
import { BoundedMap, BoundedQueue } from "../lib/bounded.ts";
import { ServiceHealth, type ServiceStatus } from "../state/model.ts";
import type { ContainerSnapshot } from "./container.ts";
import { edgeTransientNamePattern } from "./edge.ts";
import { classify, endpointsOf, nextFailureRecord, type Classification, type ContainerPhase, type EndpointResult, type FailureRecord } from "./health.ts";
import { readLabels, serviceIdentity, type LabelReading, type ServiceIdentity } from "./labels.ts";
import { decideRestart, RestartTracker, type RestartOptions } from "./restart.ts";

export interface MonitorOptions {
  nodeName: string;
  /** Networks to reach containers on, in order of preference. */
  proxyNetworks: readonly string[];
  /** Only containers with this label value are watched (several agents on one engine). */
  scope: { key: string; value: string } | undefined;
  restart: RestartOptions;
  /** Containers tracked at once; more are ignored (and counted). */
  containersMax: number;
  /** Restart history entries kept (oldest dropped first). */
  historyMax: number;
}

export const monitorDefaults = { containersMax: 2000, historyMax: 200 } as const;

/** The two clocks every input carries: wall for display and Docker's times, monotonic for intervals. */
export interface Now {
  wallMs: number;
  monoMs: number;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

export type MonitorEffect =
  | { kind: "log"; level: LogLevel; message: string; fields: Record<string, unknown> }
  | { kind: "publish"; health: ServiceHealth }
  | { kind: "remove"; service: string }
  | { kind: "restart"; containerId: string; containerName: string; service: string | undefined; attempt: number };

/**
 * The work one input produced. Perform `effects` in order: log lines first,
 * then publications and removals (sorted by service), then restarts, so the
 * unhealthy state is in the replicated state before the container goes
 * down. Then arrange a `tick` at `wakeAtMs` (monotonic), replacing any
 * earlier request.
 */
export interface MonitorOutput {
  effects: MonitorEffect[];
  wakeAtMs: number | undefined;
}

export type RestartAction = "restarted" | "restart-failed" | "would-restart" | "budget-exhausted";

export interface RestartEvent {
  at: string;
  container: string;
  service: string | null;
  action: RestartAction;
  attempt: number;
  detail: string;
}

export interface MonitorCounters {
  observations: number;
  removedContainers: number;
  publications: number;
  withdrawals: number;
  restartsStarted: number;
  restartsSucceeded: number;
  restartsFailed: number;
  dryRunRestarts: number;
  budgetExhausted: number;
  graceWaits: number;
  backoffWaits: number;
  containersIgnored: number;
  outOfScope: number;
}

interface ContainerRecord {
  snapshot: ContainerSnapshot;
  identity: ServiceIdentity;
  reading: LabelReading;
  classification: Classification;
  failure: FailureRecord | undefined;
  endpoints: EndpointResult;
  observedSeq: number;
  observedWallMs: number;
}

export interface ContainerView {
  id: string;
  name: string;
  image: string;
  service: string | null;
  /** Which rule named the service: a label, or the container name. */
  service_source: string | null;
  /** True when this container is the one published for its service. */
  published: boolean;
  status: ServiceStatus | null;
  phase: ContainerPhase;
  docker_state: string;
  docker_health: string;
  failing_streak: number;
  consecutive_failures: number;
  restart_on_unhealthy: boolean;
  restarts_last_hour: number;
  /** When the next restart may happen (ISO time), while one is being waited for. */
  next_restart_at: string | null;
  endpoints: Record<string, string>;
  networks: string[];
  started_at: string | null;
  checked_at: string;
  problems: string[];
}

/** Two waits whose ends differ by less than this are the same wait (for logging and counting). */
const waitSameMs = 1000;

const statusRank: Record<ServiceStatus, number> = { healthy: 0, unhealthy: 1, stopped: 2 };

function iso(wallMs: number): string {
  return new Date(wallMs).toISOString();
}

export class MonitorCore {
  readonly counters: MonitorCounters = {
    observations: 0,
    removedContainers: 0,
    publications: 0,
    withdrawals: 0,
    restartsStarted: 0,
    restartsSucceeded: 0,
    restartsFailed: 0,
    dryRunRestarts: 0,
    budgetExhausted: 0,
    graceWaits: 0,
    backoffWaits: 0,
    containersIgnored: 0,
    outOfScope: 0,
  };
  private readonly records = new Map<string, ContainerRecord>();
  /** Restart bookkeeping by container name, so a recreated container keeps its budget. */
  private readonly trackers: BoundedMap<string, RestartTracker>;
  /** Pending waits by container name: monotonic time and why, for the view and for logging each wait once. */
  private readonly waits = new Map<string, { untilMs: number; reason: string }>();
  private readonly history: BoundedQueue<RestartEvent>;
  /** What was last published per service (without the times that change on every look). */
  private readonly published = new Map<string, string>();
  private sequence = 0;
  private ignoredLogged = false;

  constructor(readonly options: MonitorOptions) {
    assert(options.containersMax > 0 && options.historyMax > 0, "monitor bounds must be positive");
    this.trackers = new BoundedMap(options.containersMax);
    this.history = new BoundedQueue(options.historyMax, "drop-oldest");
  }

  /** Observations so far; a resync passes the value it read before listing. */
  get observationSeq(): number {
    return this.sequence;
  }

  knows(id: string): boolean {
    return this.records.has(id);
  }

  get size(): number {
    return this.records.size;
  }

  observe(snapshot: ContainerSnapshot, now: Now): MonitorOutput {
    const out: MonitorEffect[] = [];
    const scope = this.options.scope;
    if (scope && snapshot.labels[scope.key] !== scope.value) {
      this.counters.outOfScope++;
      return this.forget(snapshot.id, out, "out of scope");
    }
    if (edgeTransientNamePattern.test(snapshot.name)) return this.forget(snapshot.id, out, "being swapped by the edge action");
    const previous = this.records.get(snapshot.id);
    if (!previous && this.records.size >= this.options.containersMax) {
      this.counters.containersIgnored++;
      if (!this.ignoredLogged) {
        this.ignoredLogged = true;
        out.push(log("error", "too many containers; the ones beyond the limit are not monitored", { limit: this.options.containersMax }));
      }
      return { effects: out, wakeAtMs: this.nextWakeMs() };
    }
    this.counters.observations++;
    const record = this.buildRecord(snapshot, previous, now);
    this.records.set(snapshot.id, record);
    this.noteTransition(previous, record, out);
    this.republish(out, servicesOf([previous, record]));
    this.evaluateRestart(record, now, out);
    return { effects: out, wakeAtMs: this.nextWakeMs() };
  }

  /** The container no longer exists (destroy event, or inspect answered 404). */
  gone(id: string): MonitorOutput {
    return this.forget(id, [], "removed");
  }

  /**
   * A full listing: every container not in `ids` that was last observed
   * before `listedAfterSeq` is gone. Ones observed later were created after
   * the listing was taken and stay.
   */
  resynced(ids: ReadonlySet<string>, listedAfterSeq: number): MonitorOutput {
    const out: MonitorEffect[] = [];
    const removed: ContainerRecord[] = [];
    for (const [id, record] of [...this.records]) {
      if (ids.has(id) || record.observedSeq > listedAfterSeq) continue;
      this.records.delete(id);
      this.counters.removedContainers++;
      removed.push(record);
      out.push(log("info", "container gone", { container: record.snapshot.name, reason: "not listed by Docker" }));
    }
    if (removed.length > 0) this.republish(out, servicesOf(removed));
    return { effects: out, wakeAtMs: this.nextWakeMs() };
  }

  /** A requested wake-up: re-decide restarts whose wait is over. */
  tick(now: Now): MonitorOutput {
    const out: MonitorEffect[] = [];
    const due = [...this.waits].filter(([, wait]) => wait.untilMs <= now.monoMs).map(([name]) => name).sort();
    for (const name of due) {
      // A wait of a container that is gone or recovered simply ends; one still unhealthy is decided again.
      const previous = this.waits.get(name)!;
      this.waits.delete(name);
      const record = this.sortedRecords().find((candidate) => candidate.snapshot.name === name);
      if (record) this.evaluateRestart(record, now, out, previous);
    }
    return { effects: out, wakeAtMs: this.nextWakeMs() };
  }

  restartFinished(containerName: string, service: string | undefined, attempt: number, error: string | undefined, now: Now): MonitorOutput {
    const out: MonitorEffect[] = [];
    const tracker = this.trackers.get(containerName);
    if (tracker) tracker.inFlight = false;
    if (error === undefined) {
      this.counters.restartsSucceeded++;
      this.record(now, containerName, service, "restarted", attempt, "restarted by the agent");
      out.push(log("info", "restarted unhealthy container", { container: containerName, service, attempt }));
    } else {
      this.counters.restartsFailed++;
      this.record(now, containerName, service, "restart-failed", attempt, error);
      out.push(log("warn", "restart of unhealthy container failed", { container: containerName, service, attempt, error }));
    }
    // After a failed restart the container is still unhealthy: decide again (its backoff has begun).
    // After a successful one, Docker's events bring the new state.
    if (error !== undefined) {
      for (const record of this.sortedRecords()) {
        if (record.snapshot.name === containerName) this.evaluateRestart(record, now, out);
      }
    }
    return { effects: out, wakeAtMs: this.nextWakeMs() };
  }

  restartHistory(): RestartEvent[] {
    return [...this.history];
  }

  view(now: Now): ContainerView[] {
    const winners = this.winners();
    return this.sortedRecords().map((record) => {
      const service = record.identity.kind === "service" ? record.identity.name : null;
      const winner = service !== null ? winners.get(service) : undefined;
      const problems = [...(record.identity.kind === "invalid" ? [record.identity.problem] : []), ...record.reading.problems, ...record.endpoints.problems];
      if (winner && winner !== record && record.classification.status !== undefined) {
        problems.push(`another container on this node, ${winner.snapshot.name}, is published for the service ${service}; this one is not`);
      }
      const tracker = this.trackers.get(record.snapshot.name);
      const wait = this.waits.get(record.snapshot.name);
      return {
        id: record.snapshot.id.slice(0, 12),
        name: record.snapshot.name,
        image: record.snapshot.image,
        service,
        service_source: record.identity.kind === "service" ? record.identity.source : null,
        published: winner === record,
        status: record.classification.status ?? null,
        phase: record.classification.phase,
        docker_state: record.snapshot.state,
        docker_health: record.snapshot.health,
        failing_streak: record.snapshot.failingStreak,
        consecutive_failures: record.failure?.consecutiveFailures ?? 0,
        restart_on_unhealthy: record.reading.restartOnUnhealthy,
        restarts_last_hour: tracker?.restartsInHour(now.monoMs) ?? 0,
        next_restart_at: wait && wait.untilMs > now.monoMs ? iso(now.wallMs + (wait.untilMs - now.monoMs)) : null,
        endpoints: record.endpoints.endpoints,
        networks: record.endpoints.networks,
        started_at: record.snapshot.startedAtMs !== undefined ? iso(record.snapshot.startedAtMs) : null,
        checked_at: iso(record.observedWallMs),
        problems,
      };
    });
  }

  // ---------------------------------------------------------------- internals

  private buildRecord(snapshot: ContainerSnapshot, previous: ContainerRecord | undefined, now: Now): ContainerRecord {
    const identity = serviceIdentity(snapshot.name, snapshot.labels);
    const reading = readLabels(snapshot.labels);
    const classification = classify(snapshot);
    const serviceName = identity.kind === "service" ? identity.name : snapshot.name;
    let endpoints = endpointsOf(snapshot, serviceName, reading.published, reading.dockerNetwork, { proxyNetworks: this.options.proxyNetworks });
    // A stopped container has no address: keep what it had, so its record does not churn on every restart.
    if (Object.keys(endpoints.endpoints).length === 0 && previous && Object.keys(previous.endpoints.endpoints).length > 0 && classification.phase === "stopped") {
      endpoints = { ...previous.endpoints, problems: endpoints.problems };
    }
    let failure: FailureRecord | undefined;
    if (classification.status !== undefined) {
      const previousFailing = previous?.classification.failing ?? false;
      failure = nextFailureRecord(previous?.failure, previousFailing, { ...classification, status: classification.status }, now.wallMs);
    }
    if (classification.status === "healthy") this.trackers.get(snapshot.name)?.recovered();
    return { snapshot, identity, reading, classification, failure, endpoints, observedSeq: ++this.sequence, observedWallMs: now.wallMs };
  }

  private noteTransition(previous: ContainerRecord | undefined, record: ContainerRecord, out: MonitorEffect[]): void {
    if (previous && previous.classification.phase === record.classification.phase) return;
    const fields: Record<string, unknown> = {
      container: record.snapshot.name,
      phase: record.classification.phase,
      previous: previous?.classification.phase ?? null,
    };
    if (record.identity.kind === "service") fields.service = record.identity.name;
    const problems = [...(record.identity.kind === "invalid" ? [record.identity.problem] : []), ...record.reading.problems];
    if (problems.length > 0) fields.problems = problems;
    const level: LogLevel = problems.length > 0 ? "warn" : record.classification.failing ? "info" : "debug";
    out.push(log(level, "container changed", fields));
  }

  private forget(id: string, out: MonitorEffect[], reason: string): MonitorOutput {
    const record = this.records.get(id);
    if (record) {
      this.records.delete(id);
      this.counters.removedContainers++;
      out.push(log("info", "container gone", { container: record.snapshot.name, reason }));
      this.republish(out, servicesOf([record]));
    }
    return { effects: out, wakeAtMs: this.nextWakeMs() };
  }

  private sortedRecords(): ContainerRecord[] {
    return [...this.records.values()].sort((a, b) => (a.snapshot.name < b.snapshot.name ? -1 : a.snapshot.name > b.snapshot.name ? 1 : 0));
  }

  /** The container published for each service (of `only`, when given): the healthiest, ties to the first name. */
  private winners(only?: ReadonlySet<string>): Map<string, ContainerRecord> {
    const winners = new Map<string, ContainerRecord>();
    for (const record of this.records.values()) {
      const status = record.classification.status;
      if (record.identity.kind !== "service" || status === undefined) continue;
      if (only && !only.has(record.identity.name)) continue;
      const current = winners.get(record.identity.name);
      const better =
        !current ||
        statusRank[status] < statusRank[current.classification.status!] ||
        (statusRank[status] === statusRank[current.classification.status!] && record.snapshot.name < current.snapshot.name);
      if (better) winners.set(record.identity.name, record);
    }
    return winners;
  }

  private healthOf(service: string, record: ContainerRecord): ServiceHealth {
    const failure = record.failure!;
    const health: ServiceHealth = {
      service_name: service,
      node_name: this.options.nodeName,
      status: failure.status,
      healthy: failure.status === "healthy",
      checked_at: iso(record.observedWallMs),
      endpoints: record.endpoints.endpoints,
      networks: record.endpoints.networks,
      consecutive_failures: Math.min(failure.consecutiveFailures, 1_000_000_000),
    };
    if (failure.lastFailureWallMs !== undefined) health.last_failure_time = iso(failure.lastFailureWallMs);
    if (failure.lastSuccessWallMs !== undefined) health.last_success_time = iso(failure.lastSuccessWallMs);
    if (Object.keys(record.reading.published).length > 0) health.labels = record.reading.published;
    return health;
  }

  /**
   * Publishes what changed among `affected` services and withdraws those that
   * no container claims any more. Only the services an input touched are
   * looked at, so an event costs the same with 10 containers or 2000.
   */
  private republish(out: MonitorEffect[], affected: ReadonlySet<string>): void {
    const winners = this.winners(affected);
    const services = [...affected].sort();
    for (const service of services) {
      const winner = winners.get(service);
      if (!winner) {
        if (!this.published.has(service)) continue;
        this.published.delete(service);
        this.counters.withdrawals++;
        out.push({ kind: "remove", service });
        continue;
      }
      const health = this.healthOf(service, winner);
      if (!Value.Check(ServiceHealth, health)) {
        // The bounds above make this unreachable; if a Docker answer still slips through, say so and skip it.
        out.push(log("error", "service record does not fit the replicated schema; not published", { service, container: winner.snapshot.name }));
        continue;
      }
      const { checked_at: _checked, last_success_time: _success, ...stable } = health;
      const fingerprint = JSON.stringify(stable);
      if (this.published.get(service) === fingerprint) continue;
      this.published.set(service, fingerprint);
      this.counters.publications++;
      out.push({ kind: "publish", health });
    }
    assert(this.published.size <= this.records.size, "published services outnumber containers");
  }

  private tracker(name: string): RestartTracker {
    let tracker = this.trackers.get(name);
    if (!tracker) {
      tracker = new RestartTracker(this.options.restart.budgetPerHour);
      this.trackers.set(name, tracker);
    }
    return tracker;
  }

  /** `endedWait` is the wait that just ended, when a tick calls. */
  private evaluateRestart(record: ContainerRecord, now: Now, out: MonitorEffect[], endedWait?: { untilMs: number; reason: string }): void {
    const name = record.snapshot.name;
    if (!record.reading.restartOnUnhealthy) return;
    const tracker = this.tracker(name);
    const decision = decideRestart(
      tracker,
      {
        optedIn: true,
        phase: record.classification.phase,
        startedAtWallMs: record.snapshot.startedAtMs,
        startPeriodMs: record.snapshot.startPeriodMs,
        nowWallMs: now.wallMs,
        nowMs: now.monoMs,
      },
      this.options.restart,
    );
    const service = record.identity.kind === "service" ? record.identity.name : undefined;
    const previousWait = this.waits.get(name) ?? endedWait;
    if (decision.kind !== "wait" && decision.kind !== "budget-exhausted") this.waits.delete(name);
    switch (decision.kind) {
      case "none":
        return;
      case "wait": {
        this.waits.set(name, { untilMs: decision.untilMs, reason: decision.reason });
        // Grace ends are computed from the wall clock, so they wobble by a few ms between looks: the same wait is logged once.
        if (previousWait?.reason === decision.reason && Math.abs(previousWait.untilMs - decision.untilMs) < waitSameMs) return;
        if (decision.reason === "grace") this.counters.graceWaits++;
        else this.counters.backoffWaits++;
        out.push(
          log("info", `unhealthy container: restart deferred (${decision.reason === "grace" ? "start-period grace" : "backoff"})`, {
            container: name,
            service,
            wait_ms: Math.round(decision.untilMs - now.monoMs),
          }),
        );
        return;
      }
      case "budget-exhausted": {
        this.waits.set(name, { untilMs: decision.untilMs, reason: "budget" });
        if (previousWait?.reason === "budget" && previousWait.untilMs === decision.untilMs) return;
        this.counters.budgetExhausted++;
        const detail = `${decision.restartsInHour} restarts in the last hour, the budget is ${this.options.restart.budgetPerHour}; left unhealthy`;
        this.record(now, name, service, "budget-exhausted", tracker.streak, detail);
        out.push(log("warn", "unhealthy container not restarted: restart budget exhausted", { container: name, service, detail }));
        return;
      }
      case "restart": {
        tracker.restarted(now.monoMs);
        if (this.options.restart.dryRun) {
          this.counters.dryRunRestarts++;
          this.record(now, name, service, "would-restart", decision.attempt, "dry-run: not restarted");
          out.push(log("info", "dry-run: would restart unhealthy container", { container: name, service, attempt: decision.attempt }));
          // Backoff applies as if it had restarted, so the log shows the cadence a real run would have.
          this.evaluateRestart(record, now, out);
          return;
        }
        tracker.inFlight = true;
        this.counters.restartsStarted++;
        out.push(log("info", "restarting unhealthy container", { container: name, service, attempt: decision.attempt }));
        out.push({ kind: "restart", containerId: record.snapshot.id, containerName: name, service, attempt: decision.attempt });
        return;
      }
    }
  }

  private record(now: Now, container: string, service: string | undefined, action: RestartAction, attempt: number, detail: string): void {
    this.history.push({ at: iso(now.wallMs), container, service: service ?? null, action, attempt, detail: detail.slice(0, 512) });
  }

  private nextWakeMs(): number | undefined {
    let earliest: number | undefined;
    for (const wait of this.waits.values()) {
      if (earliest === undefined || wait.untilMs < earliest) earliest = wait.untilMs;
    }
    return earliest;
  }
}

/** The services that records claim (records may be absent). */
function servicesOf(records: readonly (ContainerRecord | undefined)[]): Set<string> {
  const services = new Set<string>();
  for (const record of records) if (record?.identity.kind === "service") services.add(record.identity.name);
  return services;
}

function log(level: LogLevel, message: string, fields: Record<string, unknown>): MonitorEffect {
  return { kind: "log", level, message, fields };
}
