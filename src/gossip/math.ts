// Pure formulas of memberlist and Lifeguard, kept apart from timers so they
// can be tested on their own and documented once. Each takes the cluster size
// n (members not dead or left, including this node).

import { assert } from "../lib/assert.ts";

/** How many times a broadcast is sent: retransmitMult x ceil(log10(n + 1)). n=5 -> 1 x mult, n=10 -> 2 x, n=100 -> 3 x. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  assert(n >= 0, "cluster size must not be negative");
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** Minimum suspicion timeout: suspicionMult x max(1, log10(n)) x probeIntervalMs. */
export function suspicionTimeoutMinMs(suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  // memberlist rounds to whole milliseconds.
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs);
}

/**
 * Lifeguard's accelerated suspicion timeout after `confirmations` independent
 * confirmations of `k` wanted: it starts at maxMs and falls logarithmically
 * towards minMs, reaching it at k confirmations.
 */
export function suspicionTimeoutMs(confirmations: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const fraction = Math.log(confirmations + 1) / Math.log(k + 1);
  const raw = maxMs - fraction * (maxMs - minMs);
  return Math.max(Math.floor(raw), minMs);
}

/** Confirmations Lifeguard waits for: suspicionMult - 2, or 0 when fewer than that many other members could confirm. */
export function suspicionConfirmationsWanted(suspicionMult: number, n: number): number {
  const k = suspicionMult - 2;
  return n - 2 < k ? 0 : Math.max(0, k);
}

/** Push/pull interval, unchanged up to 32 members, then x (ceil(log2(n) - log2(32)) + 1). */
export function pushPullIntervalMs(baseMs: number, n: number): number {
  const threshold = 32;
  if (n <= threshold) return baseMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1;
  return baseMs * multiplier;
}
