// One-shot wake-up calls for shells. Production uses the event loop's timers;
// the simulator uses virtual time. Shells keep their own ordered timer queue
// (src/lib/scheduler.ts) and arm a single wake-up for its earliest entry, so
// timers fire in the same order in both worlds.

export interface WakeupHandle {
  cancel(): void;
}

export interface Wakeups {
  /** Call `run` once, `delayMs` from now (never before). */
  after(delayMs: number, run: () => void): WakeupHandle;
}

export const eventLoopWakeups: Wakeups = {
  after(delayMs, run) {
    const timer = setTimeout(run, Math.max(0, Math.ceil(delayMs)));
    return { cancel: () => clearTimeout(timer) };
  },
};
