// `constellation members`: the gossip member list as the agent sees it.

import { exitOk, type Command } from "../command.ts";
import { getJson } from "../api-client.ts";
import type { MembersResponse } from "../../api/models.ts";

export const membersCommand: Command = {
  name: "members",
  summary: "List gossip members: name, address, state, incarnation and metadata.",
  kind: "read",
  flags: [],
  async run(context) {
    const response = (await getJson(context, "/api/v1/members")) as MembersResponse;
    if (context.args.flags.get("json")) {
      context.out(`${JSON.stringify(response, null, 2)}\n`);
      return exitOk;
    }
    const rows = response.members.map((m) => [
      m.name === response.self ? `${m.name} (self)` : m.name,
      m.address,
      m.state,
      String(m.incarnation),
      m.meta ? `priority=${m.meta.priority} raft_port=${m.meta.raft_port}${m.meta.cordoned ? " cordoned" : ""}` : `${m.meta_base64.length > 0 ? "foreign metadata" : "-"}`,
    ]);
    context.out(table(["NAME", "ADDRESS", "STATE", "INCARNATION", "METADATA"], rows));
    return exitOk;
  },
};

/** Left-aligned columns separated by two spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}
