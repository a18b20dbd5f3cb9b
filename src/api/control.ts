// The control API (default port 8080): health, status and, as the agent
// grows, the cluster views and operator actions. Controllers are thin: they
// call plain functions on the objects handed in.

import { Elysia } from "elysia";
import { StatusView } from "./models.ts";

export interface StatusSource {
  status(): StatusView;
}

export function controlApi(source: StatusSource) {
  return new Elysia({ name: "control-api" })
    .get("/health", () => ({ status: "ok" }))
    .get("/api/v1/status", () => source.status(), { response: StatusView });
}
