// What the routing generator needs to know about this node and its Traefik:
// the domain, this node's name, the public entry points and certificate
// resolver (from the configuration), and the mesh entry point through which
// other nodes' Traefik instances reach this node's containers.
//
// The mesh: remote instances are reached at `http://<tailscale_ip>:<meshPort>`
// on the remote node's Traefik (entry point `mesh`, bound to its Tailscale
// address). Plain HTTP is deliberate: Tailscale (WireGuard) already
// authenticates the peer and encrypts the hop, and TLS on top would need a
// certificate for an IP address on every node. The request keeps its Host
// header, so the remote node's mesh routers (which only ever target local
// containers) pick the right service; no hop goes through public DNS and no
// hop can loop. TCP routes use the same entry point: Traefik tells a TLS
// ClientHello (routed by SNI, passed through) from plain HTTP.

import type { Config } from "../config/schema.ts";

export interface RoutingOptions {
  /** Services are published as `<svc>.<domain>` and `<svc>.<node>.<domain>`. */
  domain: string;
  /** This node: its containers are reached directly, everyone else's through the mesh. */
  nodeName: string;
  /** Entry points of public routers, in the order given. */
  entryPoints: readonly string[];
  /** Certificate resolver of public HTTP routers; empty means no TLS on them. */
  certResolver: string;
  /** Name of the entry point, bound to the Tailscale address, that carries node-to-node traffic. */
  meshEntryPoint: string;
  /** Port of the mesh entry point on every node. */
  meshPort: number;
  /**
   * Minor version of the oldest Traefik v3 that reads the document. Fields that
   * need a newer Traefik (a load balancer's `strategy` needs 3.4) are emitted
   * only when this says the reader has them.
   */
  traefikMinorVersion: number;
}

export const meshEntryPointDefault = "mesh";
/** Next to nothing that Traefik or this agent uses by default (80, 443, 8080, 8081, 8082). */
export const meshPortDefault = 8090;

export type MeshOverrides = Partial<Pick<RoutingOptions, "meshEntryPoint" | "meshPort" | "traefikMinorVersion">>;

export function routingOptionsFromConfig(
  config: Pick<Config, "nodeName" | "domain" | "traefik">,
  overrides: MeshOverrides = {},
): RoutingOptions {
  return {
    domain: config.domain.toLowerCase(),
    nodeName: config.nodeName,
    entryPoints: [...config.traefik.entryPoints],
    certResolver: config.traefik.certResolver,
    meshEntryPoint: overrides.meshEntryPoint ?? meshEntryPointDefault,
    meshPort: overrides.meshPort ?? meshPortDefault,
    traefikMinorVersion: overrides.traefikMinorVersion ?? 0,
  };
}

export const entryPointPattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const resolverPattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const domainPattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const nodePattern = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Everything wrong with the options, one sentence each; empty when they are
 * usable. Checked once at start-up, because a bad entry point name would make
 * Traefik refuse every document.
 */
export function routingOptionsProblems(options: RoutingOptions): string[] {
  const problems: string[] = [];
  if (!domainPattern.test(options.domain) || options.domain.length > 200) {
    problems.push(`domain "${options.domain}" is not a DNS name of lower-case labels (at most 200 characters)`);
  }
  if (!nodePattern.test(options.nodeName)) problems.push(`node name "${options.nodeName}" is not a DNS label`);
  if (options.entryPoints.length === 0) problems.push("traefik.entryPoints is empty; public routers need at least one");
  for (const entryPoint of options.entryPoints) {
    if (!entryPointPattern.test(entryPoint)) problems.push(`traefik.entryPoints: "${entryPoint}" is not an entry point name (letters, digits, - and _)`);
    if (entryPoint === options.meshEntryPoint) problems.push(`traefik.entryPoints must not include the mesh entry point "${entryPoint}"`);
  }
  if (options.certResolver !== "" && !resolverPattern.test(options.certResolver)) {
    problems.push(`traefik.certResolver "${options.certResolver}" is not a resolver name (letters, digits, - and _)`);
  }
  if (!entryPointPattern.test(options.meshEntryPoint)) problems.push(`mesh entry point "${options.meshEntryPoint}" is not an entry point name`);
  if (!Number.isInteger(options.meshPort) || options.meshPort < 1 || options.meshPort > 65535) {
    problems.push(`mesh port ${options.meshPort} is outside 1-65535`);
  }
  if (!Number.isInteger(options.traefikMinorVersion) || options.traefikMinorVersion < 0 || options.traefikMinorVersion > 99) {
    problems.push(`Traefik minor version ${options.traefikMinorVersion} is not an integer from 0 to 99`);
  }
  return problems;
}
