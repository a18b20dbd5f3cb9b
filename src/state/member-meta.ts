// The small record each agent puts in its gossip metadata (at most 512 bytes,
// memberlist's limit): what other agents need before any replicated state
// arrives, such as how to reach this node's Raft and API ports and whether it
// may lead, and which Raft cluster it belongs to. Richer node data travels in
// the replicated cluster state.

import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { metaBytesMax } from "../gossip/messages.ts";

export const MemberMeta = Type.Object(
  {
    /** Format version of this record. */
    v: Type.Literal(1),
    priority: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    cordoned: Type.Boolean(),
    raft_port: Type.Integer({ minimum: 0, maximum: 65535, description: "0 when the node takes no part in Raft." }),
    api_port: Type.Integer({ minimum: 1, maximum: 65535 }),
    provider_port: Type.Integer({ minimum: 1, maximum: 65535 }),
    public_ip: Type.String({ maxLength: 45 }),
    raft_cluster: Type.Optional(
      Type.String({
        pattern: "^[0-9a-f]{1,64}$",
        description:
          "The id of the Raft cluster this node belongs to, absent until it belongs to one. A node that " +
          "sees any member advertise one never bootstraps a cluster of its own, and Raft messages pass only " +
          "between members of the same cluster.",
      }),
    ),
  },
  { additionalProperties: true },
);
export type MemberMeta = Static<typeof MemberMeta>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeMemberMeta(meta: MemberMeta): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(meta));
  // The fields are bounded so the record always fits; a failure here is a programmer error.
  if (bytes.length > metaBytesMax) throw new Error(`member metadata is ${bytes.length} bytes; at most ${metaBytesMax}`);
  return bytes;
}

/** The record, or undefined when the bytes are not ours (another memberlist application, or garbage). */
export function decodeMemberMeta(bytes: Uint8Array): MemberMeta | undefined {
  if (bytes.length === 0 || bytes.length > metaBytesMax || bytes[0] !== 0x7b /* { */) return undefined;
  try {
    const parsed: unknown = JSON.parse(decoder.decode(bytes));
    return Value.Check(MemberMeta, parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
