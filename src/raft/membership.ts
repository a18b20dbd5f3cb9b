// Single-server membership changes. A change is one of: add a learner,
// promote a learner to voter, remove a member. Changing one voter at a time
// means any two consecutive majorities overlap, so no joint consensus is
// needed. A config entry carries the whole resulting membership (not the
// delta), so a node reconstructs its membership from the latest config entry
// in its log (or its snapshot) without replaying history.

import { assert, assertNever } from "../lib/assert.ts";
import {
  type ConfState,
  type NodeId,
  assertConfState,
  learnersMax,
  nodeIdLengthMax,
  votersMax,
} from "./types.ts";

export type ConfChange =
  | { readonly type: "add-learner"; readonly node: NodeId }
  | { readonly type: "promote"; readonly node: NodeId }
  | { readonly type: "remove"; readonly node: NodeId };

export type ConfChangeError = "already-member" | "not-a-learner" | "not-a-member" | "last-voter" | "too-many-members" | "bad-node-id";

export type ConfChangeResult = { readonly ok: true; readonly conf: ConfState } | { readonly ok: false; readonly error: ConfChangeError };

function sortedWith(list: readonly NodeId[], id: NodeId): NodeId[] {
  return [...list, id].sort();
}

function without(list: readonly NodeId[], id: NodeId): NodeId[] {
  return list.filter((member) => member !== id);
}

export function isMember(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}

/** The membership after `change`, or why the change is not allowed. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfChangeResult {
  assertConfState(conf);
  const node = change.node;
  if (node.length === 0 || node.length > nodeIdLengthMax) return { ok: false, error: "bad-node-id" };
  let next: ConfState;
  switch (change.type) {
    case "add-learner":
      if (isMember(conf, node)) return { ok: false, error: "already-member" };
      if (conf.learners.length >= learnersMax) return { ok: false, error: "too-many-members" };
      next = { voters: conf.voters, learners: sortedWith(conf.learners, node) };
      break;
    case "promote":
      if (!conf.learners.includes(node)) return { ok: false, error: "not-a-learner" };
      if (conf.voters.length >= votersMax) return { ok: false, error: "too-many-members" };
      next = { voters: sortedWith(conf.voters, node), learners: without(conf.learners, node) };
      break;
    case "remove":
      if (!isMember(conf, node)) return { ok: false, error: "not-a-member" };
      if (conf.voters.length === 1 && conf.voters[0] === node) return { ok: false, error: "last-voter" };
      next = { voters: without(conf.voters, node), learners: without(conf.learners, node) };
      break;
    default:
      return assertNever(change, "membership change");
  }
  assertConfState(next);
  return { ok: true, conf: next };
}

/** At most one voter differs between `a` and `b` (the single-server rule). */
export function differsByAtMostOneVoter(a: ConfState, b: ConfState): boolean {
  const added = b.voters.filter((id) => !a.voters.includes(id)).length;
  const removed = a.voters.filter((id) => !b.voters.includes(id)).length;
  return added + removed <= 1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The data of a config entry. */
export function encodeConfState(conf: ConfState): Uint8Array {
  assertConfState(conf);
  return encoder.encode(JSON.stringify({ voters: conf.voters, learners: conf.learners }));
}

function isIdList(value: unknown, max: number): value is NodeId[] {
  return (
    Array.isArray(value) &&
    value.length <= max &&
    value.every((id) => typeof id === "string" && id.length > 0 && id.length <= nodeIdLengthMax)
  );
}

/** Parses a config entry's data; undefined when it is not a valid membership. */
export function decodeConfState(data: Uint8Array): ConfState | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { voters, learners } = parsed as { voters?: unknown; learners?: unknown };
  if (!isIdList(voters, votersMax) || !isIdList(learners, learnersMax)) return undefined;
  const conf: ConfState = { voters, learners };
  try {
    assertConfState(conf);
  } catch {
    return undefined;
  }
  return conf;
}

/** Decodes a config entry that this node wrote or accepted; a bad one is a programmer error. */
export function confStateOf(data: Uint8Array): ConfState {
  const conf = decodeConfState(data);
  assert(conf !== undefined, "config entry does not hold a valid membership");
  return conf;
}

export function confStateEqual(a: ConfState, b: ConfState): boolean {
  return a.voters.join("\n") === b.voters.join("\n") && a.learners.join("\n") === b.learners.join("\n");
}
