// The control API (default port 8080): health, status and, as the agent
// grows, the cluster views and operator actions. Controllers are thin: they
// call plain functions on the objects handed in.

import { Elysia } from "elysia";

export interface StatusSource {
  status(): {
    node: string;
    version: string;
    commit: string;
    profile: string;
    uptime_seconds: number;
    started_at: string;
    components: Record<string, string>;
  };
}

export function controlApi(source: StatusSource) {
  return new Elysia({ name: "control-api" })
    .get("/health", () => ({ status: "ok" }))
    .get("/api/v1/status", () => source.status());
}
