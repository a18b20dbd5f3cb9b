// When to restart an unhealthy container that asked for it (label
// deunhealth.restart.on.unhealthy=true). Pure: the caller passes the time
// and the container's condition; the answer is a decision the monitor logs,
// counts and acts on.
//
// Rules, in order:
// - only a running container that Docker calls unhealthy is restarted (a
//   stopped one is its restart policy's business);
// - grace: not before max(start period, graceMs) has passed since it
//   started, so a slow starter is not killed while it warms up;
// - backoff: the first restart of an unhealthy streak happens at once; the
//   n-th waits min(backoffMaxMs, backoffBaseMs x 2^(n-2)) after the one
//   before. Seeing the container healthy ends the streak;
// - budget: at most budgetPerHour restarts in any sliding hour; past it the
//   container is left alone (and said so) until the oldest restart in the
//   window is an hour old.
// Two clocks: Docker's start time is wall-clock, so grace is measured in
// wall time; backoff and budget are measured on the monotonic clock, which
// cannot jump.

import { assert } from "../lib/assert.ts";
import type { ContainerPhase } from "./health.ts";

export const hourMs = 3_600_000;

export interface RestartOptions {
  dryRun: boolean;
  graceMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  budgetPerHour: number;
}

export type RestartDecision =
  | { kind: "none" }
  | { kind: "wait"; reason: "grace" | "backoff"; untilMs: number }
  | { kind: "budget-exhausted"; untilMs: number; restartsInHour: number }
  | { kind: "restart"; attempt: number };

/** A container's restart bookkeeping (kept by name, so a recreated container keeps its budget). */
export class RestartTracker {
  /** Restarts in the current unhealthy streak. */
  streak = 0;
  lastRestartMs: number | undefined;
  /** Monotonic times of restarts in the last hour, oldest first; at most budgetPerHour are kept. */
  readonly recentMs: number[] = [];
  inFlight = false;

  constructor(private readonly budgetPerHour: number) {
    assert(Number.isInteger(budgetPerHour) && budgetPerHour >= 0, `budgetPerHour must be a non-negative integer, got ${budgetPerHour}`);
  }

  /** Restarts within the hour before nowMs. */
  restartsInHour(nowMs: number): number {
    while (this.recentMs.length > 0 && nowMs - this.recentMs[0]! >= hourMs) this.recentMs.shift();
    return this.recentMs.length;
  }

  /** Record a restart (or, in dry-run, one that would have happened). */
  restarted(nowMs: number): void {
    this.restartsInHour(nowMs);
    this.recentMs.push(nowMs);
    if (this.recentMs.length > Math.max(1, this.budgetPerHour)) this.recentMs.shift();
    this.streak++;
    this.lastRestartMs = nowMs;
    assert(this.recentMs.length <= Math.max(1, this.budgetPerHour), "restart window exceeds its bound");
  }

  /** The container was seen healthy: the next failure starts a new streak. */
  recovered(): void {
    this.streak = 0;
  }
}

/** Delay before the restart that follows `streak` earlier ones in this streak. */
export function backoffDelayMs(streak: number, options: Pick<RestartOptions, "backoffBaseMs" | "backoffMaxMs">): number {
  if (streak <= 0) return 0;
  // 2^(streak - 1) overflows nothing below 2^53; the cap keeps the product small.
  const factor = 2 ** Math.min(streak - 1, 40);
  return Math.min(options.backoffMaxMs, options.backoffBaseMs * factor);
}

export interface RestartInput {
  optedIn: boolean;
  phase: ContainerPhase;
  startedAtWallMs: number | undefined;
  startPeriodMs: number;
  nowWallMs: number;
  nowMs: number;
}

export function decideRestart(tracker: RestartTracker, input: RestartInput, options: RestartOptions): RestartDecision {
  assert(Number.isFinite(input.nowMs) && Number.isFinite(input.nowWallMs), "restart decision needs finite times");
  if (!input.optedIn || input.phase !== "unhealthy" || tracker.inFlight) return { kind: "none" };
  const graceMs = Math.max(input.startPeriodMs, options.graceMs);
  if (input.startedAtWallMs !== undefined) {
    const remainingMs = input.startedAtWallMs + graceMs - input.nowWallMs;
    if (remainingMs > 0) return { kind: "wait", reason: "grace", untilMs: input.nowMs + remainingMs };
  }
  const backoffUntilMs = tracker.lastRestartMs !== undefined && tracker.streak > 0 ? tracker.lastRestartMs + backoffDelayMs(tracker.streak, options) : input.nowMs;
  const inHour = tracker.restartsInHour(input.nowMs);
  if (inHour >= options.budgetPerHour) {
    const oldest = tracker.recentMs[0];
    // A zero budget never frees up; report the hour from now so callers still get a finite time.
    const freeAtMs = oldest !== undefined ? oldest + hourMs : input.nowMs + hourMs;
    // Said as soon as it is known, unless the budget frees up before the backoff ends anyway.
    if (freeAtMs > backoffUntilMs) return { kind: "budget-exhausted", untilMs: freeAtMs, restartsInHour: inHour };
  }
  if (backoffUntilMs > input.nowMs) return { kind: "wait", reason: "backoff", untilMs: backoffUntilMs };
  return { kind: "restart", attempt: tracker.streak + 1 };
}
