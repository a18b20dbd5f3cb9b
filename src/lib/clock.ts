// Time as a service. Cores never read a clock: shells read one of these and
// pass `nowMs` into the cores. Monotonic time measures durations (timeouts,
// leases); wall time is only for display and for values that other machines
// read (timestamps in gossiped records), never for ordering decisions.
// The production implementation lives in src/adapters/system-clock.ts; the
// simulator supplies drifting per-node clocks.

export interface Clock {
  /** Milliseconds from an arbitrary origin; never goes backwards. */
  monotonicMs(): number;
  /** Milliseconds since the Unix epoch, as this machine believes it. */
  wallMs(): number;
}
