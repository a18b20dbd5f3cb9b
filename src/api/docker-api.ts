// The control API's view of this node's containers: GET /api/v1/containers
// answers each container's state as the monitor sees it (service, health,
// failures, restarts in the last hour, problems with its labels), the
// restart history, the Docker connection and the latest WARP verdict. A
// small Elysia plugin; the agent mounts it next to the control API.

import { Elysia } from "elysia";
import { Type, type Static } from "@sinclair/typebox";
import { WARPHealth } from "../state/model.ts";
import type { ContainerView, RestartEvent } from "../docker/monitor.ts";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const ContainerViewModel = Type.Object({
  id: Type.String({ description: "First 12 hex digits of the container id." }),
  name: Type.String(),
  image: Type.String(),
  service: Nullable(Type.String({ description: "The service the container is an instance of; null when its labels name none validly." })),
  service_source: Nullable(Type.String({ description: "constellation.service, com.docker.compose.service or container name." })),
  published: Type.Boolean({ description: "This container is the one published for its service on this node." }),
  status: Nullable(Type.Union([Type.Literal("healthy"), Type.Literal("unhealthy"), Type.Literal("stopped")])),
  phase: Type.Union(
    [
      Type.Literal("healthy"),
      Type.Literal("running"),
      Type.Literal("starting"),
      Type.Literal("unhealthy"),
      Type.Literal("paused"),
      Type.Literal("stopped"),
      Type.Literal("finished"),
    ],
    { description: "running = no healthcheck; starting = inside the start period; finished = exited one-shot (not a service)." },
  ),
  docker_state: Type.String(),
  docker_health: Type.String(),
  failing_streak: Type.Integer({ description: "Consecutive failed probes, as Docker counts them." }),
  consecutive_failures: Type.Integer({ description: "Turns to unhealthy or stopped since last healthy." }),
  restart_on_unhealthy: Type.Boolean(),
  restarts_last_hour: Type.Integer(),
  next_restart_at: Nullable(Type.String()),
  endpoints: Type.Record(Type.String(), Type.String()),
  networks: Type.Array(Type.String()),
  started_at: Nullable(Type.String()),
  checked_at: Type.String(),
  problems: Type.Array(Type.String()),
});

export const RestartEventModel = Type.Object({
  at: Type.String(),
  container: Type.String(),
  service: Nullable(Type.String()),
  action: Type.Union([Type.Literal("restarted"), Type.Literal("restart-failed"), Type.Literal("would-restart"), Type.Literal("budget-exhausted")]),
  attempt: Type.Integer(),
  detail: Type.String(),
});

export const DockerConnectionModel = Type.Object({
  state: Type.Union([Type.Literal("stopped"), Type.Literal("no-socket"), Type.Literal("connecting"), Type.Literal("connected"), Type.Literal("unreachable")]),
  socket: Type.String(),
  detail: Type.String(),
  since: Type.String(),
  scope: Nullable(Type.String({ description: "The key=value label this agent is limited to, if any." })),
  dry_run: Type.Boolean({ description: "Restarts are decided and recorded but not performed." }),
});

export const ContainersResponse = Type.Object({
  node: Type.String(),
  docker: DockerConnectionModel,
  containers: Type.Array(ContainerViewModel),
  restart_history: Type.Array(RestartEventModel, { description: "Newest last; bounded." }),
  warp: Nullable(WARPHealth),
  counters: Type.Record(Type.String(), Type.Number()),
});
export type ContainersResponse = Static<typeof ContainersResponse>;
export type DockerConnectionView = Static<typeof DockerConnectionModel>;

// The monitor's types and the models above describe the same JSON; these lines fail to compile if they drift apart.
const _containerViewMatches: Static<typeof ContainerViewModel> = {} as ContainerView;
const _restartEventMatches: Static<typeof RestartEventModel> = {} as RestartEvent;
void _containerViewMatches;
void _restartEventMatches;

export interface DockerApiSource {
  containers(): ContainersResponse;
}

export function dockerApi(source: DockerApiSource) {
  return new Elysia({ name: "docker-api" }).get("/api/v1/containers", () => source.containers(), { response: ContainersResponse });
}
