// Cluster views built to order for routing tests and benchmarks: N nodes on
// Tailscale addresses, S services with R instances each placed round-robin,
// every instance opted in to Traefik with typical labels.

import type { ClusterView, NodeMetadata, ServiceHealth, ServiceStatus } from "../../src/state/model.ts";

export function node(name: string, tailscaleIp: string, cordoned = false): NodeMetadata {
  return { name, public_ip: "203.0.113.10", tailscale_ip: tailscaleIp, priority: 100, capabilities: [], last_seen: "2026-01-01T00:00:00.000Z", cordoned };
}

export function instance(
  service: string,
  nodeName: string,
  options: { status?: ServiceStatus; labels?: Record<string, string>; endpoints?: Record<string, string> } = {},
): ServiceHealth {
  const status = options.status ?? "healthy";
  return {
    service_name: service,
    node_name: nodeName,
    status,
    healthy: status === "healthy",
    checked_at: "2026-01-01T00:00:00.000Z",
    endpoints: options.endpoints ?? { http: "http://10.76.0.5:8080" },
    networks: ["constellation_publicnet"],
    consecutive_failures: status === "healthy" ? 0 : 3,
    ...(options.labels ? { labels: options.labels } : {}),
  };
}

export function view(nodes: NodeMetadata[], instances: ServiceHealth[]): ClusterView {
  return {
    nodes: Object.fromEntries(nodes.map((n) => [n.name, n])),
    service_health: Object.fromEntries(instances.map((i) => [`${i.service_name}@${i.node_name}`, i])),
    warp_health: {},
    version: 1,
  };
}

/** `services` services with `replicas` instances each, placed round-robin on `nodeCount` nodes. */
export function syntheticView(services: number, nodeCount: number, replicas: number): ClusterView {
  const nodes = Array.from({ length: nodeCount }, (_, i) => node(`node-${i + 1}`, `100.64.0.${i + 1}`));
  const instances: ServiceHealth[] = [];
  for (let s = 0; s < services; s++) {
    const name = `service-${String(s + 1).padStart(4, "0")}`;
    const labels = {
      "traefik.enable": "true",
      [`traefik.http.services.${name}.loadbalancer.server.port`]: "8080",
      [`traefik.http.services.${name}.loadbalancer.healthcheck.path`]: "/healthz",
      [`traefik.http.routers.${name}.middlewares`]: "compress,security-headers",
    };
    for (let r = 0; r < Math.min(replicas, nodeCount); r++) {
      const nodeIndex = (s + r) % nodeCount;
      const address = `10.76.${nodeIndex}.${(s % 250) + 2}`;
      instances.push(instance(name, nodes[nodeIndex]!.name, { labels, endpoints: { http: `http://${address}:8080` } }));
    }
  }
  return view(nodes, instances);
}
