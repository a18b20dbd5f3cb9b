// `constellation leases`: the lb_leader and dns_writer leases as the agent
// asked sees them: holder, fencing token, time left, and whether this node
// acts on it (or, when it leads, how long until it may take a lease over).

import { exitOk, type Command } from "../command.ts";
import { getJson } from "../api-client.ts";
import { table } from "./members.ts";
import type { LeasesView } from "../../api/lease-api.ts";

function seconds(ms: number | null): string {
  return ms === null ? "-" : `${(ms / 1000).toFixed(1)} s`;
}

export const leasesCommand: Command = {
  name: "leases",
  summary: "Show the lb_leader and dns_writer leases: holder, token, time left.",
  kind: "read",
  details:
    "The Raft leader holds both leases and renews them; a new leader waits out the previous holder's lease\n" +
    "(TTL widened by the clock drift bound) unless it was released. TOKEN is the fencing token (the Raft index\n" +
    "of the grant). LEFT is exact on the holder and an estimate elsewhere.",
  flags: [],
  async run(context) {
    const view = (await getJson(context, "/api/v1/leases")) as LeasesView;
    if (context.args.flags.get("json")) return context.out(`${JSON.stringify(view, null, 2)}\n`), exitOk;
    const rows = view.leases.map((lease) => [
      lease.lease,
      lease.holder || (lease.released ? "(released)" : "(free)"),
      lease.token === 0 ? "-" : String(lease.token),
      seconds(lease.remaining_ms),
      lease.acting ? "yes" : lease.takeover_in_ms !== null ? `takes over in ${seconds(lease.takeover_in_ms)}` : "no",
      `${lease.gained}/${lease.lost}`,
    ]);
    context.out(`as seen by ${view.node} (TTL ${seconds(view.ttl_ms)})\n\n`);
    context.out(table(["LEASE", "HOLDER", "TOKEN", "LEFT", "ACTING HERE", "GAINED/LOST HERE"], rows));
    return exitOk;
  },
};
