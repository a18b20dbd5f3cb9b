// The replicated cluster state's data model. JSON names follow the original
// agent's (snake_case), so tools written against it keep working. Each
// record is authored only by the node it describes.

import { Type, type Static } from "@sinclair/typebox";

const NodeName = Type.String({ minLength: 1, maxLength: 63, pattern: "^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$" });
const Timestamp = Type.String({ maxLength: 40, description: "RFC 3339 time as the authoring node's clock saw it (display only)." });
const ShortText = Type.String({ maxLength: 256 });

export const NodeMetadata = Type.Object(
  {
    name: NodeName,
    public_ip: Type.String({ maxLength: 45 }),
    tailscale_ip: Type.String({ maxLength: 45 }),
    priority: Type.Integer({ minimum: 0, maximum: 1_000_000, description: "Lower is preferred." }),
    capabilities: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
    last_seen: Timestamp,
    cordoned: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type NodeMetadata = Static<typeof NodeMetadata>;

export const ServiceStatus = Type.Union([Type.Literal("healthy"), Type.Literal("unhealthy"), Type.Literal("stopped")]);
export type ServiceStatus = Static<typeof ServiceStatus>;

export const ServiceHealth = Type.Object(
  {
    service_name: Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$" }),
    node_name: NodeName,
    status: ServiceStatus,
    /** The original's boolean, kept for compatibility: status === "healthy". */
    healthy: Type.Boolean(),
    checked_at: Timestamp,
    endpoints: Type.Record(Type.String({ maxLength: 32 }), Type.String({ maxLength: 256 }), {
      description: "protocol -> URL, e.g. http -> http://10.76.0.5:8080",
      maxProperties: 16,
    }),
    networks: Type.Array(ShortText, { maxItems: 16 }),
    consecutive_failures: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
    last_failure_time: Type.Optional(Timestamp),
    last_success_time: Type.Optional(Timestamp),
    /** Routing labels the provider needs (traefik.*, constellation.*), bounded. */
    labels: Type.Optional(Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 1024 }), { maxProperties: 64 })),
  },
  { additionalProperties: false },
);
export type ServiceHealth = Static<typeof ServiceHealth>;

/**
 * How a service instance is reached: changes only when its container is
 * created or re-configured. Replicated apart from its health, which changes
 * far more often, so a health flip travels as a small message.
 */
export const ServiceSpec = Type.Object(
  {
    service_name: ServiceHealth.properties.service_name,
    node_name: NodeName,
    endpoints: ServiceHealth.properties.endpoints,
    networks: ServiceHealth.properties.networks,
    labels: ServiceHealth.properties.labels,
  },
  { additionalProperties: false },
);
export type ServiceSpec = Static<typeof ServiceSpec>;

/** The frequently changing half of an instance's record; times are the owner's wall clock in ms. */
export const ServiceState = Type.Object(
  {
    status: ServiceStatus,
    consecutive_failures: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    checked_at_ms: Type.Number({ minimum: 0 }),
    last_success_ms: Type.Optional(Type.Number({ minimum: 0 })),
    last_failure_ms: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type ServiceState = Static<typeof ServiceState>;

/** The original agent's record, as views and the API present it: spec and state joined. */
export function joinServiceHealth(spec: ServiceSpec, state: ServiceState): ServiceHealth {
  const health: ServiceHealth = {
    service_name: spec.service_name,
    node_name: spec.node_name,
    status: state.status,
    healthy: state.status === "healthy",
    checked_at: new Date(state.checked_at_ms).toISOString(),
    endpoints: spec.endpoints,
    networks: spec.networks,
    consecutive_failures: state.consecutive_failures,
  };
  if (state.last_failure_ms !== undefined) health.last_failure_time = new Date(state.last_failure_ms).toISOString();
  if (state.last_success_ms !== undefined) health.last_success_time = new Date(state.last_success_ms).toISOString();
  if (spec.labels !== undefined) health.labels = spec.labels;
  return health;
}

export const WARPHealth = Type.Object(
  {
    node_name: NodeName,
    healthy: Type.Boolean(),
    checked_at: Timestamp,
    egress_ip: Type.Optional(Type.String({ maxLength: 45 })),
    detail: Type.Optional(ShortText),
  },
  { additionalProperties: false },
);
export type WARPHealth = Static<typeof WARPHealth>;

/** The view other parts of the agent read: live nodes only. */
export interface ClusterView {
  nodes: Record<string, NodeMetadata>;
  /** Keyed "<service>@<node>". */
  service_health: Record<string, ServiceHealth>;
  warp_health: Record<string, WARPHealth>;
  /** Changes applied since this node started; grows with every change. */
  version: number;
}
