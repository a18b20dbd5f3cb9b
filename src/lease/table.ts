// The replicated lease table: the part of the Raft state machine that grants
// the cluster's two roles, `lb_leader` and `dns_writer`. Pure and
// deterministic: every node applies the same commands in the same order and
// reaches the same table, whatever its clock says. Time never enters here;
// the waiting that makes a lease safe is done by the proposer (manager.ts),
// and this table only makes sure a decision taken on stale information
// loses: a takeover names the version it waited out and fails if the lease
// changed since.
//
// Per lease: the holder ("" when free), the fencing token (the Raft index of
// the grant; strictly increasing across grants), the version (the index of
// the last command that changed or renewed it), the TTL of the last grant or
// renewal, and whether the last holder released it (then nobody needs to
// wait it out).
//
// Commands travel as small JSON objects in Raft entries, with a format
// version; a command this version cannot read is applied as a refusal with
// the reason, so the table never diverges between nodes and nothing throws.

import { assert } from "../lib/assert.ts";

export const leaseNames = ["lb_leader", "dns_writer"] as const;
export type LeaseName = (typeof leaseNames)[number];

export function isLeaseName(value: unknown): value is LeaseName {
  return typeof value === "string" && (leaseNames as readonly string[]).includes(value);
}

/** Bounds on what a command may carry. */
export const holderLengthMax = 128;
export const nonceLengthMax = 64;
export const leaseTtlMsMax = 600_000;
export const commandBytesMax = 512;

export interface LeaseState {
  /** The node holding the lease; "" when free. */
  readonly holder: string;
  /** Raft index of the grant the holder acts under; 0 before the first grant. */
  readonly token: number;
  /** Raft index of the last command that granted, renewed or released it; 0 when never touched. */
  readonly version: number;
  /** TTL of the last grant or renewal. */
  readonly ttlMs: number;
  /** The last holder released it: a new holder need not wait. */
  readonly released: boolean;
}

export const freeLease: LeaseState = { holder: "", token: 0, version: 0, ttlMs: 0, released: false };

/**
 * acquire: grant to `holder` when the lease is free (never held or
 * released) or still at version `expect` (the proposer waited it out).
 * renew: extend the grant `token` held by `holder`.
 * release: give up the grant `token` held by `holder`.
 * `nonce` identifies the proposal, so the proposer recognises its own
 * command when it is applied.
 */
export type LeaseCommand =
  | { op: "acquire"; lease: LeaseName; holder: string; ttlMs: number; expect: number; nonce: string }
  | { op: "renew"; lease: LeaseName; holder: string; ttlMs: number; token: number; nonce: string }
  | { op: "release"; lease: LeaseName; holder: string; token: number; nonce: string };

export type LeaseOutcome =
  | { ok: true; state: LeaseState }
  | { ok: false; reason: string; state: LeaseState };

const formatVersion = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeLeaseCommand(command: LeaseCommand): Uint8Array {
  const wire: Record<string, unknown> = { v: formatVersion, op: command.op, lease: command.lease, holder: command.holder, nonce: command.nonce };
  if (command.op !== "release") wire.ttl_ms = command.ttlMs;
  if (command.op === "acquire") wire.expect = command.expect;
  else wire.token = command.token;
  const bytes = encoder.encode(JSON.stringify(wire));
  assert(bytes.length <= commandBytesMax, `lease command of ${bytes.length} bytes`);
  return bytes;
}

export type DecodedCommand = { ok: true; command: LeaseCommand } | { ok: false; error: string };

function index(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Reads a command from an entry's data; every malformed input is an error value. */
export function decodeLeaseCommand(data: Uint8Array): DecodedCommand {
  if (data.length > commandBytesMax) return { ok: false, error: `command of ${data.length} bytes (at most ${commandBytesMax})` };
  let wire: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(decoder.decode(data));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { ok: false, error: "command is not a JSON object" };
    wire = parsed as Record<string, unknown>;
  } catch {
    return { ok: false, error: "command is not JSON" };
  }
  if (wire.v !== formatVersion) return { ok: false, error: `command format ${JSON.stringify(wire.v)} (this node reads ${formatVersion})` };
  const { op, lease, holder, nonce } = wire;
  if (!isLeaseName(lease)) return { ok: false, error: `unknown lease ${JSON.stringify(lease)}` };
  if (typeof holder !== "string" || holder.length === 0 || holder.length > holderLengthMax) return { ok: false, error: "holder must be a node name" };
  if (typeof nonce !== "string" || nonce.length > nonceLengthMax) return { ok: false, error: "nonce must be a short string" };
  const ttl = wire.ttl_ms;
  const ttlValid = Number.isSafeInteger(ttl) && (ttl as number) >= 1 && (ttl as number) <= leaseTtlMsMax;
  switch (op) {
    case "acquire":
      if (!ttlValid) return { ok: false, error: `ttl_ms must be 1..${leaseTtlMsMax}` };
      if (!index(wire.expect)) return { ok: false, error: "expect must be a log index" };
      return { ok: true, command: { op, lease, holder, nonce, ttlMs: ttl as number, expect: wire.expect } };
    case "renew":
      if (!ttlValid) return { ok: false, error: `ttl_ms must be 1..${leaseTtlMsMax}` };
      if (!index(wire.token)) return { ok: false, error: "token must be a log index" };
      return { ok: true, command: { op, lease, holder, nonce, ttlMs: ttl as number, token: wire.token } };
    case "release":
      if (!index(wire.token)) return { ok: false, error: "token must be a log index" };
      return { ok: true, command: { op, lease, holder, nonce, token: wire.token } };
    default:
      return { ok: false, error: `unknown operation ${JSON.stringify(op)}` };
  }
}

/** The lease table; `apply` is the only way it changes. */
export class LeaseTable {
  private readonly leases = new Map<LeaseName, LeaseState>();

  get(lease: LeaseName): LeaseState {
    return this.leases.get(lease) ?? freeLease;
  }

  /** Apply the command carried by the entry at `entryIndex`. */
  apply(entryIndex: number, command: LeaseCommand): LeaseOutcome {
    assert(Number.isSafeInteger(entryIndex) && entryIndex >= 1, `lease command at index ${entryIndex}`);
    const current = this.get(command.lease);
    assert(entryIndex > current.version, `lease command at ${entryIndex} applied after ${current.version}`);
    const refuse = (reason: string): LeaseOutcome => ({ ok: false, reason, state: current });
    const set = (state: LeaseState): LeaseOutcome => {
      this.leases.set(command.lease, state);
      return { ok: true, state };
    };
    switch (command.op) {
      case "acquire": {
        // A free lease (never granted, or released) has nobody acting on it;
        // a held one goes to a new holder only if it did not change since
        // the version the proposer waited out.
        if (current.holder !== "" && current.version !== command.expect) {
          return refuse(`held by ${current.holder} at version ${current.version}, not ${command.expect}`);
        }
        return set({ holder: command.holder, token: entryIndex, version: entryIndex, ttlMs: command.ttlMs, released: false });
      }
      case "renew":
        if (current.holder !== command.holder || current.token !== command.token) {
          return refuse(current.holder === "" ? "not held" : `held by ${current.holder} under token ${current.token}`);
        }
        return set({ ...current, version: entryIndex, ttlMs: command.ttlMs });
      case "release":
        if (current.holder !== command.holder || current.token !== command.token) {
          return refuse(current.holder === "" ? "not held" : `held by ${current.holder} under token ${current.token}`);
        }
        return set({ holder: "", token: current.token, version: entryIndex, ttlMs: 0, released: true });
      default: {
        const unknown: never = command;
        return unknown;
      }
    }
  }

  /** The table as plain data, for snapshots and views. */
  image(): Record<string, LeaseState> {
    const out: Record<string, LeaseState> = {};
    for (const name of leaseNames) if (this.leases.has(name)) out[name] = this.get(name);
    return out;
  }

  /** Replace the table with a snapshot's image; an unreadable image leaves it empty and says why. */
  restore(image: unknown): string | undefined {
    this.leases.clear();
    if (image === undefined) return undefined;
    if (typeof image !== "object" || image === null) return "lease image is not an object";
    for (const [name, value] of Object.entries(image as Record<string, unknown>)) {
      if (!isLeaseName(name)) continue;
      const state = value as Partial<LeaseState> | null;
      if (
        !state ||
        typeof state.holder !== "string" ||
        state.holder.length > holderLengthMax ||
        !index(state.token) ||
        !index(state.version) ||
        !index(state.ttlMs) ||
        typeof state.released !== "boolean"
      ) {
        this.leases.clear();
        return `lease ${name} in the image is malformed`;
      }
      this.leases.set(name, { holder: state.holder, token: state.token, version: state.version, ttlMs: state.ttlMs, released: state.released });
    }
    return undefined;
  }
}
