// The Traefik HTTP provider (default port 8081). Traefik keeps its last good
// configuration when the provider answers with an error, so until this node
// has a routing table it answers 503 rather than an empty document that would
// withdraw every route.

import { Elysia } from "elysia";

export interface RoutingSource {
  /** The dynamic configuration document, or undefined while none is available yet. */
  dynamicConfiguration(): unknown | undefined;
  /** Why there is no document yet, for the 503 body. */
  unavailableReason(): string;
}

export function providerApi(source: RoutingSource) {
  return new Elysia({ name: "provider-api" })
    .get("/health", () => ({ status: "ok" }))
    .get("/api/dynamic", ({ set }) => {
      const document = source.dynamicConfiguration();
      if (document === undefined) {
        set.status = 503;
        return { error: source.unavailableReason() };
      }
      return document;
    });
}
