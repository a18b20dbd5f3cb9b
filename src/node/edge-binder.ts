// Keeps the edge proxy's public ports where the lb_leader lease is: while
// this node acts on lb_leader its edge proxy container publishes the
// configured bindings (80/443 by default); otherwise it publishes none.
// Driven by lease gains and losses, and checked again every
// reconcileIntervalMs (an operator may have recreated the container, or a
// swap failed). One swap runs at a time; a change that arrives meanwhile is
// handled when it ends. Every swap asks the lease immediately before each
// step: publishing needs lb_leader under the token the swap started with,
// withdrawing needs this node not to hold it. No edge container, no Docker:
// said once, then quiet.

import type { DockerClient } from "../adapters/docker-client.ts";
import type { DockerConfig } from "../config/schema.ts";
import type { Logger } from "../lib/log.ts";
import { edgeBindingsOf, scopeOf } from "../docker/options.ts";
import type { EdgeBinding, EdgeWanted } from "../docker/edge.ts";
import type { LeaseEvent } from "../lease/manager.ts";
import type { LeaseName } from "../lease/table.ts";
import { type EdgeResult, applyEdgeBindings } from "./docker-edge.ts";

/** What the binder needs from the leases. */
export interface EdgeLeases {
  mayAct(lease: LeaseName, token?: number): boolean;
  actingToken(lease: LeaseName): number;
  onChange(listener: (event: LeaseEvent) => void): () => void;
}

export const reconcileIntervalMs = 30_000;

export class EdgeBinder {
  private running = false;
  private busy: Promise<void> | undefined;
  private again = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastDetail = "";
  readonly counters = { swaps: 0, published: 0, withdrawn: 0, fenced: 0, failed: 0 };
  private lastOutcome = "not checked yet";

  private readonly bindings: EdgeBinding[];
  private readonly scope: { key: string; value: string } | undefined;

  constructor(
    private readonly client: DockerClient,
    private readonly docker: DockerConfig,
    private readonly leases: EdgeLeases,
    private readonly log: Logger,
  ) {
    this.bindings = edgeBindingsOf(docker);
    this.scope = scopeOf(docker);
  }

  start(): void {
    if (this.docker.edge.bindings.length === 0) {
      this.lastOutcome = "no bindings configured";
      return;
    }
    this.running = true;
    this.unsubscribe = this.leases.onChange((event) => {
      if (event.lease === "lb_leader") this.reconcile();
    });
    this.timer = setInterval(() => this.reconcile(), reconcileIntervalMs);
    this.reconcile();
  }

  /** Stops reacting; a swap under way finishes (or rolls back) first. */
  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.busy;
  }

  summary(): string {
    return this.lastOutcome;
  }

  /** Bring the container in line with the lease now, or after the swap under way. */
  reconcile(): void {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = this.run().finally(() => {
      this.busy = undefined;
      if (this.again && this.running) {
        this.again = false;
        this.reconcile();
      }
    });
  }

  private async run(): Promise<void> {
    const socketProblem = this.client.socketProblem();
    if (socketProblem) {
      this.lastOutcome = `idle: ${socketProblem}`;
      return;
    }
    const token = this.leases.actingToken("lb_leader");
    const wanted: EdgeWanted = token !== 0 ? "published" : "withdrawn";
    const scope = this.scope;
    const result = await applyEdgeBindings(this.client, {
      containerName: this.docker.edge.containerName,
      bindings: this.bindings,
      wanted,
      stopTimeoutSeconds: this.docker.restart.stopTimeoutSeconds,
      mayAct: () => (wanted === "published" ? this.leases.mayAct("lb_leader", token) : !this.leases.mayAct("lb_leader")),
      ...(scope ? { scope } : {}),
      log: this.log,
    });
    this.note(result, wanted, token);
  }

  private note(result: EdgeResult, wanted: EdgeWanted, token: number): void {
    const container = this.docker.edge.containerName;
    switch (result.kind) {
      case "unchanged":
        this.lastOutcome = `${container} ${wanted === "published" ? "publishes" : "does not publish"} ${this.docker.edge.bindings.join(", ")}`;
        return;
      case "not-found":
        this.lastOutcome = result.detail;
        if (result.detail !== this.lastDetail) this.log.info("edge binding: nothing to do", { reason: result.detail });
        this.lastDetail = result.detail;
        return;
      case "recreated":
        this.counters.swaps++;
        this.counters[wanted]++;
        this.lastOutcome = `${container} ${wanted === "published" ? "publishes" : "does not publish"} ${this.docker.edge.bindings.join(", ")}`;
        this.log.info(`edge binding: ${wanted}`, { container, lb_leader_fence: token || null, added: result.added, removed: result.removed });
        return;
      case "fenced":
        this.counters.fenced++;
        this.lastOutcome = `swap stopped before ${result.before}: the lease changed`;
        this.log.info("edge binding: stopped by the lease check; trying again with the new state", { before: result.before, rolled_back: result.rolledBack });
        this.again = true;
        return;
      case "failed":
        this.counters.failed++;
        this.lastOutcome = `failed at ${result.step}: ${result.error}`;
        this.log.warn("edge binding failed; retrying at the next check", { step: result.step, error: result.error, rolled_back: result.rolledBack });
        return;
      default: {
        const unknown: never = result;
        return unknown;
      }
    }
  }
}
