// The simulator's kernel: virtual real time, one event queue, one seeded PRNG.
//
// Everything that happens in a simulation is an event in the queue, ordered by
// (real time, sequence). Nothing reads the system clock or Math.random, so a
// seed determines the whole run; every executed event is folded into a trace
// hash that tests compare across runs. Nodes see time only through their own
// drifting clocks (clock.ts) and talk only through the simulated network.

import { MinHeap } from "../../src/lib/heap.ts";
import { Prng } from "../../src/lib/prng.ts";
import { assert } from "../../src/lib/assert.ts";
import { TraceHash } from "./trace.ts";

export interface SimEvent {
  atMs: number;
  sequence: number;
  label: string;
  run: () => void;
  cancelled: boolean;
}

export class Simulation {
  readonly prng: Prng;
  readonly trace = new TraceHash();
  /** True (real) time in ms since the start of the run. */
  nowMs = 0;
  private readonly queue = new MinHeap<SimEvent>((x, y) =>
    x.atMs !== y.atMs ? x.atMs < y.atMs : x.sequence < y.sequence,
  );
  private nextSequence = 0;
  /** Safety bound on events per run: a runaway protocol fails instead of hanging the suite. */
  eventsMax = 50_000_000;
  executed = 0;

  constructor(readonly seed: number) {
    this.prng = new Prng(seed);
  }

  /** Schedule `run` at real time `atMs` (not before now). */
  at(atMs: number, label: string, run: () => void): SimEvent {
    assert(Number.isFinite(atMs), `event time must be finite (${label})`);
    const event: SimEvent = { atMs: Math.max(atMs, this.nowMs), sequence: this.nextSequence++, label, run, cancelled: false };
    this.queue.push(event);
    return event;
  }

  after(delayMs: number, label: string, run: () => void): SimEvent {
    assert(delayMs >= 0, `negative delay ${delayMs} (${label})`);
    return this.at(this.nowMs + delayMs, label, run);
  }

  cancel(event: SimEvent): void {
    event.cancelled = true;
  }

  get pendingEvents(): number {
    return this.queue.size;
  }

  /** Run one event; false when the queue is empty. */
  step(): boolean {
    const event = this.queue.pop();
    if (!event) return false;
    if (event.cancelled) return true;
    assert(event.atMs >= this.nowMs, "time went backwards");
    this.nowMs = event.atMs;
    this.executed++;
    assert(this.executed <= this.eventsMax, `more than ${this.eventsMax} events: runaway simulation`);
    this.trace.record(`${event.atMs.toFixed(3)} ${event.label}`);
    event.run();
    return true;
  }

  /** Run every event up to and including real time `untilMs`; time ends at `untilMs`. */
  runUntil(untilMs: number): void {
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.atMs > untilMs) break;
      this.step();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  runFor(durationMs: number): void {
    this.runUntil(this.nowMs + durationMs);
  }

  /**
   * Run until `condition` holds (checked after every event) or `limitMs` of
   * virtual time pass. Returns the virtual time taken, or undefined on timeout.
   */
  runUntilCondition(condition: () => boolean, limitMs: number): number | undefined {
    const start = this.nowMs;
    const deadline = start + limitMs;
    if (condition()) return 0;
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.atMs > deadline) {
        this.nowMs = Math.max(this.nowMs, deadline);
        return condition() ? this.nowMs - start : undefined;
      }
      this.step();
      if (condition()) return this.nowMs - start;
    }
  }
}
