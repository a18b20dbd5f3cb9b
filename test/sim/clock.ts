// Per-node clocks that run at their own rate and offset from real time, as
// real machines' clocks do. local = offsetMs + rate x real, with rate = 1 +
// driftPpm / 1e6. Timers a node sets are in its own time, so a fast clock
// fires its timers early in real time.

import type { Clock } from "../../src/lib/clock.ts";
import type { Simulation } from "./kernel.ts";

export class DriftingClock implements Clock {
  constructor(
    private readonly sim: Simulation,
    readonly offsetMs: number,
    readonly driftPpm: number,
    private readonly wallEpochMs = 1_800_000_000_000,
  ) {}

  get rate(): number {
    return 1 + this.driftPpm / 1e6;
  }

  monotonicMs(): number {
    return this.offsetMs + this.sim.nowMs * this.rate;
  }

  wallMs(): number {
    return this.wallEpochMs + this.monotonicMs();
  }

  /** Real time that passes while this clock advances by `localMs`. */
  realDelayOf(localMs: number): number {
    return localMs / this.rate;
  }
}
