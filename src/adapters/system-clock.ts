// The production clock: the process's monotonic timer and the system's wall clock.

import type { Clock } from "../lib/clock.ts";

export class SystemClock implements Clock {
  monotonicMs(): number {
    return performance.now();
  }
  wallMs(): number {
    return Date.now();
  }
}
