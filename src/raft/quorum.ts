// Majority arithmetic, kept pure so that it can be tested exhaustively: the
// size of a quorum, the highest index a majority of voters has acknowledged
// (the commit candidate), and the outcome of a vote tally. Single-server
// membership changes mean there is only ever one voter set, never a joint one.

import { assert } from "../lib/assert.ts";
import type { NodeId } from "./types.ts";

export type VoteResult = "won" | "lost" | "pending";

export function quorumSize(voterCount: number): number {
  assert(Number.isInteger(voterCount) && voterCount > 0, `quorum of ${voterCount} voters`);
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest index that at least a quorum of `voters` has acknowledged.
 * `ackedIndexOf` returns 0 for a voter we know nothing about. An empty voter
 * set acknowledges nothing.
 */
export function majorityAckedIndex(voters: readonly NodeId[], ackedIndexOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const acked = voters.map(ackedIndexOf).sort((a, b) => b - a);
  const index = acked[quorumSize(voters.length) - 1]!;
  assert(index >= 0, `negative acknowledged index ${index}`);
  return index;
}

/**
 * Outcome of an election among `voters` given the answers received so far
 * (true = granted). Answers from non-voters are ignored.
 */
export function voteResult(voters: readonly NodeId[], answers: ReadonlyMap<NodeId, boolean>): VoteResult {
  assert(voters.length > 0, "an election needs at least one voter");
  let granted = 0;
  let rejected = 0;
  for (const voter of voters) {
    const answer = answers.get(voter);
    if (answer === true) granted++;
    else if (answer === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return "won";
  if (rejected > voters.length - quorum) return "lost";
  return "pending";
}

/** True when at least a quorum of `voters` satisfies `isActive`. */
export function quorumActive(voters: readonly NodeId[], isActive: (id: NodeId) => boolean): boolean {
  if (voters.length === 0) return false;
  let active = 0;
  for (const voter of voters) if (isActive(voter)) active++;
  return active >= quorumSize(voters.length);
}
