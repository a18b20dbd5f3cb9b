// TypeBox models of the control API's responses: the single source of the
// types that the server returns and the CLI reads.

import { Type, type Static } from "@sinclair/typebox";

export const StatusView = Type.Object({
  node: Type.String({ description: "This node's name." }),
  version: Type.String(),
  commit: Type.String(),
  profile: Type.String({ description: "Timing profile: lan, wan or local." }),
  uptime_seconds: Type.Integer({ minimum: 0 }),
  started_at: Type.String({ description: "Start time, ISO 8601." }),
  components: Type.Record(Type.String(), Type.String(), { description: "Component name -> one-line state." }),
});
export type StatusView = Static<typeof StatusView>;
