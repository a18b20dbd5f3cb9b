// The WARP egress check, shell half: every `intervalMs` (and soon after the
// gateway container starts or stops) it looks at the `warp-nat-gateway`
// container, runs the trace request inside it through Docker's exec API and
// publishes the verdict as this node's WARPHealth. A record is published
// when the verdict changes, and at least every `republishEveryMs` so its
// check time stays fresh without a gossip message per check.

import type { DockerClient } from "../adapters/docker-client.ts";
import type { DockerConfig } from "../config/schema.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import { parseInspect } from "../docker/container.ts";
import { traceCommand, traceVerdict } from "../docker/warp.ts";
import type { WARPHealth } from "../state/model.ts";

/** A check whose verdict did not change is still published this often. */
const republishEveryMs = 10 * 60_000;
/** Checks asked for by events are delayed this long, so a burst of events makes one check. */
const nudgeDelayMs = 250;
/** The exec call's deadline exceeds the command's own, so the command's timeout message is what is seen. */
const execSlackMs = 2000;

export type WarpConfig = DockerConfig["warp"];

export class WarpChecker {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private stopped = true;
  /** The gateway has been seen on this engine (auto mode reports only then). */
  private seen = false;
  private last: WARPHealth | undefined;
  private lastPublishedMs = -Infinity;
  checks = 0;

  constructor(
    private readonly client: DockerClient,
    private readonly config: WarpConfig,
    private readonly nodeName: string,
    private readonly publishWarp: (health: WARPHealth) => void,
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  get containerName(): string {
    return this.config.containerName;
  }

  /** The latest verdict, if one was reached. */
  latest(): WARPHealth | undefined {
    return this.last;
  }

  start(): void {
    if (this.config.check === "off" || !this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The gateway container changed: check soon instead of at the next interval. */
  nudge(): void {
    if (!this.stopped && !this.running) this.schedule(nudgeDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runCheck(), delayMs);
  }

  private async runCheck(): Promise<void> {
    this.timer = undefined;
    if (this.stopped || this.running) return;
    this.running = true;
    try {
      const health = await this.check();
      if (health && !this.stopped) this.report(health);
    } catch (error) {
      // Only a programming error reaches here; the check goes on at the next interval.
      this.log.error("WARP check failed unexpectedly", { error: error as Error });
    } finally {
      this.running = false;
      if (!this.stopped) this.schedule(this.config.intervalMs);
    }
  }

  /** One check; undefined when there is nothing to report (auto mode, no gateway ever seen). */
  async check(): Promise<WARPHealth | undefined> {
    this.checks++;
    const name = this.config.containerName;
    const inspected = await this.client.inspect(name);
    if (!inspected.ok) {
      if (this.config.check === "auto" && !this.seen) return undefined;
      return this.health(false, inspected.kind === "not-found" ? `container ${name} not found` : `cannot ask Docker about ${name}: ${inspected.message}`);
    }
    this.seen = true;
    const parsed = parseInspect(inspected.value);
    if (!parsed.ok) return this.health(false, `cannot read the state of ${name}: ${parsed.error}`);
    if (parsed.snapshot.state !== "running") return this.health(false, `container ${name} is not running (${parsed.snapshot.state})`);
    const timeoutSeconds = Math.max(1, Math.ceil(this.config.timeoutMs / 1000));
    const result = await this.client.exec(parsed.snapshot.id, traceCommand(this.config.traceUrl, timeoutSeconds), this.config.timeoutMs + execSlackMs);
    if (!result.ok) {
      return this.health(false, result.kind === "timeout" ? `trace request timed out after ${this.config.timeoutMs} ms` : `trace request could not run: ${result.message}`);
    }
    const verdict = traceVerdict(result.value.exitCode, result.value.stdout, result.value.stderr);
    return this.health(verdict.healthy, verdict.detail, verdict.egressIp);
  }

  private health(healthy: boolean, detail: string, egressIp?: string): WARPHealth {
    const health: WARPHealth = { node_name: this.nodeName, healthy, checked_at: new Date(this.clock.wallMs()).toISOString(), detail: detail.slice(0, 256) };
    if (egressIp !== undefined) health.egress_ip = egressIp;
    return health;
  }

  private report(health: WARPHealth): void {
    const previous = this.last;
    this.last = health;
    const changed = !previous || previous.healthy !== health.healthy || previous.egress_ip !== health.egress_ip || previous.detail !== health.detail;
    const nowMs = this.clock.monotonicMs();
    if (changed) {
      const fields = { container: this.config.containerName, egress_ip: health.egress_ip ?? null, detail: health.detail };
      if (health.healthy) this.log.info("WARP egress healthy", fields);
      else this.log.warn("WARP egress unhealthy", fields);
    }
    if (!changed && nowMs - this.lastPublishedMs < republishEveryMs) return;
    this.lastPublishedMs = nowMs;
    try {
      this.publishWarp(health);
    } catch (error) {
      this.log.error("publishing WARP health failed", { error: error as Error });
    }
  }
}
