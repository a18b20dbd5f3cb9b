// Time bounds for the gossip properties, derived from memberlist's formulas
// (state.go, suspicion.go, util.go; see memberlist-wire.md 1.8, 4.1, 4.2)
// and the profile's numbers, so that a test states "by when" and says why.
// Each bound is a worst case over the protocol's deterministic parts plus a
// named allowance for its probabilistic part (epidemic spread), never a
// number fitted to one run.

import type { GossipConfig } from "../../../src/config/schema.ts";
import { pushPullIntervalMs, suspicionTimeoutMinMs } from "../../../src/gossip/math.ts";

/**
 * Time for one piece of news to reach every member by gossip. The Serf
 * convergence model (4.1) gives about 2.2 s for 99.99 % of 1,000 nodes with
 * the LAN profile's 200 ms rounds and fan-out 3, and 2.4 s at 10 % loss. We
 * allow 50 gossip rounds (10 s with LAN numbers): four times that, to cover
 * 20 % loss, jitter, duplicate suppression and the retransmit limit ending
 * a broadcast early in an unlucky run.
 */
export function disseminationMs(g: GossipConfig): number {
  return 50 * g.gossipIntervalMs;
}

/** The longest suspicion timeout: suspicionMaxTimeoutMult x suspicionMult x max(1, log10 n) x probeInterval. */
export function suspicionMaxMs(g: GossipConfig, n: number): number {
  return g.suspicionMaxTimeoutMult * suspicionTimeoutMinMs(g.suspicionMult, n, g.probeIntervalMs);
}

/**
 * Every live member declares a member that crashed dead within this time
 * (in a cluster of n members, counting the crashed one):
 *
 * - 2 (n - 1) probe intervals until some member probes it: each member
 *   probes the n - 1 others in a shuffled round-robin order, one per
 *   interval, so a member it just probed comes up again at the latest at the
 *   end of the next round;
 * - 1 probe interval for that probe round (direct ping, indirect pings and
 *   the TCP ping all run inside it) before the prober suspects;
 * - the longest suspicion timeout (Lifeguard starts there and only shortens
 *   it with confirmations), after which the prober declares it dead;
 * - the dissemination allowance for the "dead" news. A member that misses it
 *   still has its own suspicion timer, started when the suspicion reached it.
 *
 * The probe interval is taken unscaled: in a healthy cluster Lifeguard's
 * awareness score stays at 0 (a failed probe of a crashed member whose
 * helpers all send nacks does not raise it), so this assumes the run keeps
 * loss low enough for that to hold, as the crash property does.
 */
export function detectionBoundMs(g: GossipConfig, n: number): number {
  return 2 * (n - 1) * g.probeIntervalMs + g.probeIntervalMs + suspicionMaxMs(g, n) + disseminationMs(g);
}

/**
 * After joins stop, every live member knows every other as alive within
 * this time: one dissemination of each join, and, for a member that missed
 * one, the next push/pull (every member exchanges full state with a random
 * live member once per scaled push/pull interval; the slowest member's next
 * one is at most one interval away) plus a dissemination of what it learned.
 */
export function joinConvergenceBoundMs(g: GossipConfig, n: number): number {
  return pushPullIntervalMs(g.pushPullIntervalMs, n) + 2 * disseminationMs(g);
}
