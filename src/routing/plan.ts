// From the cluster view to a routing plan: which services are routed, over
// which instances, and for each instance the target this node would send its
// traffic to or the reason it gets none. Pure. The Traefik document
// (traefik.ts) and the table a person reads (table.ts) are both written from
// the plan, so they cannot disagree.
//
// Targets: an instance on this node is reached by its container address on
// the proxy network; an HTTP or TCP instance elsewhere through its node's
// mesh entry point (see options.ts); a UDP instance elsewhere at the port its
// container publishes on its node (UDP has no host name that a mesh router
// could route by, so a hop through the other Traefik could loop).

import { assertNever } from "../lib/assert.ts";
import { isIP, isIPv6 } from "../lib/ip.ts";
import type { ClusterView, NodeMetadata, ServiceHealth, ServiceStatus } from "../state/model.ts";
import type { RoutingOptions } from "./options.ts";
import { parseInstanceLabels, show, type HttpSettings, type InstanceSettings, type LabelProblem, type TcpSettings, type UdpSettings } from "./labels.ts";

/** Why an instance gets no traffic from this node. */
export type Exclusion = "unknown-node" | "stopped" | "unhealthy" | "cordoned" | "no-address" | "no-mesh-address" | "no-host-port";

/** How this node reaches an instance. */
export type Via = "local" | "mesh" | "host-port";

export interface PlannedBackend {
  node: string;
  status: ServiceStatus;
  via: Via;
  /** URL (HTTP) or host:port (TCP, UDP) this node sends to; undefined when there is none. */
  target: string | undefined;
  /** undefined when the instance is served. */
  exclusion: Exclusion | undefined;
  /** The router (and service) name and host of `<svc>.<node>.<domain>`; HTTP and TCP only. */
  direct: { name: string; host: string } | undefined;
}

export interface PlannedProtocol<S> {
  /** Service-wide settings, from the first routed instance in node order. */
  settings: S;
  /** Every routed instance, in node order, served or not. */
  backends: PlannedBackend[];
}

export interface PlannedService {
  name: string;
  http: PlannedProtocol<HttpSettings> | undefined;
  tcp: PlannedProtocol<TcpSettings> | undefined;
  udp: PlannedProtocol<UdpSettings> | undefined;
}

export interface RoutingProblem {
  service?: string;
  node?: string;
  label?: string;
  message: string;
}

export interface RoutingPlan {
  options: RoutingOptions;
  /** Routed services, sorted by name. */
  services: PlannedService[];
  problems: RoutingProblem[];
  /** Problems beyond problemsMax, counted but not listed. */
  problemsDropped: number;
}

export const problemsMax = 256;

/**
 * Object names, as the original agent chose them so that references from
 * other Traefik providers keep working. Each router's service has its name.
 */
export const objectNames = {
  httpFailover: (service: string) => `${service}-with-failover`,
  httpDirect: (service: string, node: string) => `${service}-${node}-direct`,
  httpMesh: (service: string) => `${service}-mesh`,
  tcpFailover: (service: string) => `${service}-tcp-with-failover`,
  tcpDirect: (service: string, node: string) => `${service}-${node}-tcp-direct`,
  tcpMesh: (service: string) => `${service}-tcp-mesh`,
  udp: (service: string) => `${service}-udp`,
} as const;

const serviceNamePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const hostLengthMax = 253;
const endpointPattern = /^([a-z][a-z0-9+.-]{0,15}):\/\/(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})):([0-9]{1,5})(?:\/[^\s]*)?$/;

interface ParsedInstance {
  settings: InstanceSettings;
  problems: LabelProblem[];
  /** The settings that must agree across instances, as one comparable string. */
  serviceWide: string;
}

interface ParsedEndpoint {
  /** Host and port of the endpoint with the lowest port (the first exposed port). */
  endpoint: { host: string; port: number } | undefined;
  problems: string[];
}

/**
 * Parsed labels and endpoints, kept by object: the state hands out the same
 * label and endpoint objects until an instance's spec changes, so a rebuild
 * after a health flip parses nothing again. Outputs do not depend on it.
 */
export class RoutingCache {
  readonly labels = new WeakMap<object, ParsedInstance>();
  readonly endpoints = new WeakMap<object, ParsedEndpoint>();
  constructor(readonly meshEntryPoint: string, readonly traefikMinorVersion: number) {}
}

class ProblemLog {
  readonly list: RoutingProblem[] = [];
  dropped = 0;
  add(problem: RoutingProblem): void {
    if (this.list.length < problemsMax) this.list.push(problem);
    else this.dropped++;
  }
}

interface PlanContext {
  options: RoutingOptions;
  view: ClusterView;
  cache: RoutingCache;
  problems: ProblemLog;
  /** Node name -> its label in host names (lower case); nodes whose label collides are absent. */
  nodeLabels: Map<string, string>;
  /** Node name -> its checked Tailscale address (undefined: none usable, already reported). */
  meshAddresses: Map<string, string | undefined>;
  /** Direct names taken so far: "a-b" on "c" and "a" on "b-c" both make "a-b-c-direct". */
  directNames: Record<ProtocolName, Set<string>>;
}

type ProtocolName = "http" | "tcp" | "udp";

export function planRouting(view: ClusterView, options: RoutingOptions, cache?: RoutingCache): RoutingPlan {
  const usable = cache && cache.meshEntryPoint === options.meshEntryPoint && cache.traefikMinorVersion === options.traefikMinorVersion;
  const problems = new ProblemLog();
  const context: PlanContext = {
    options,
    view,
    cache: usable ? cache : new RoutingCache(options.meshEntryPoint, options.traefikMinorVersion),
    problems,
    nodeLabels: nodeHostLabels(view, options, problems),
    meshAddresses: new Map(),
    directNames: { http: new Set(), tcp: new Set(), udp: new Set() },
  };
  const byService = new Map<string, ServiceHealth[]>();
  for (const key in view.service_health) {
    const instance = view.service_health[key]!;
    const list = byService.get(instance.service_name);
    if (list) list.push(instance);
    else byService.set(instance.service_name, [instance]);
  }
  const services: PlannedService[] = [];
  for (const name of [...byService.keys()].sort()) {
    const planned = planService(name, byService.get(name)!, context);
    if (planned) services.push(planned);
  }
  return { options, services, problems: problems.list, problemsDropped: problems.dropped };
}

/** Host labels of live nodes; two names that differ only in case cannot both have direct hosts. */
function nodeHostLabels(view: ClusterView, options: RoutingOptions, problems: ProblemLog): Map<string, string> {
  const labels = new Map<string, string>();
  const owners = new Map<string, string>();
  const names = new Set([...Object.keys(view.nodes), options.nodeName]);
  for (const name of [...names].sort()) {
    const label = name.toLowerCase();
    const owner = owners.get(label);
    if (owner !== undefined) {
      problems.add({ node: name, message: `node names "${owner}" and "${name}" give the same host name label "${label}"; "${name}" gets no direct routes` });
      continue;
    }
    owners.set(label, name);
    labels.set(name, label);
  }
  return labels;
}

const notRouted: ParsedInstance = { settings: { enabled: false, http: undefined, tcp: undefined, udp: undefined }, problems: [], serviceWide: "" };

function parsedInstance(health: ServiceHealth, cache: RoutingCache): ParsedInstance {
  const labels = health.labels;
  if (labels === undefined) return notRouted;
  let parsed = cache.labels.get(labels);
  if (!parsed) {
    const { settings, problems } = parseInstanceLabels(labels, cache);
    const { http, tcp, udp } = settings;
    const serviceWide = JSON.stringify([
      http && [http.healthCheck, http.middlewares, http.entryPoints, http.certResolver, http.strategy],
      tcp && [tcp.entryPoints],
      udp && [udp.entryPoints],
    ]);
    parsed = { settings, problems, serviceWide };
    cache.labels.set(labels, parsed);
  }
  return parsed;
}

interface RoutedInstance {
  health: ServiceHealth;
  parsed: ParsedInstance;
  endpoint: ParsedEndpoint["endpoint"];
}

function byNode(a: ServiceHealth, b: ServiceHealth): number {
  return a.node_name < b.node_name ? -1 : a.node_name > b.node_name ? 1 : 0;
}

function planService(name: string, instances: ServiceHealth[], context: PlanContext): PlannedService | undefined {
  if (instances.length > 1) instances.sort(byNode);
  const routed: RoutedInstance[] = [];
  for (const health of instances) {
    const parsed = parsedInstance(health, context.cache);
    for (const problem of parsed.problems) {
      const entry: RoutingProblem = { service: name, node: health.node_name, message: problem.message };
      if (problem.label !== undefined) entry.label = problem.label;
      context.problems.add(entry);
    }
    if (parsed.settings.enabled) routed.push({ health, parsed, endpoint: undefined });
  }
  const first = routed[0];
  if (!first) return undefined;
  if (!serviceNamePattern.test(name)) {
    context.problems.add({ service: name, message: `service name ${show(name)} is not a DNS label (lower-case letters, digits and inner hyphens, at most 63); not routed` });
    return undefined;
  }
  if (name.length + 1 + context.options.domain.length > hostLengthMax) {
    context.problems.add({ service: name, message: `host name ${name}.${context.options.domain} is longer than ${hostLengthMax} characters; not routed` });
    return undefined;
  }
  reportDisagreement(name, routed, context);
  for (const instance of routed) instance.endpoint = parsedEndpoint(instance.health, context).endpoint;
  const { http, tcp, udp } = first.parsed.settings;
  return {
    name,
    http: http && { settings: http, backends: routed.map((instance) => planBackend("http", instance, context)) },
    tcp: tcp && { settings: tcp, backends: routed.map((instance) => planBackend("tcp", instance, context)) },
    udp: udp && { settings: udp, backends: routed.map((instance) => planBackend("udp", instance, context)) },
  };
}

function reportDisagreement(name: string, routed: RoutedInstance[], context: PlanContext): void {
  if (routed.length < 2) return;
  const reference = routed[0]!;
  const differing = routed.filter((instance) => instance.parsed.serviceWide !== reference.parsed.serviceWide).map((instance) => instance.health.node_name);
  if (differing.length > 0) {
    const first = reference.health.node_name;
    context.problems.add({ service: name, message: `instances on ${differing.join(", ")} carry routing labels that differ from those on ${first}; the service follows ${first}'s` });
  }
}

function planBackend(protocol: ProtocolName, instance: RoutedInstance, context: PlanContext): PlannedBackend {
  const { health, endpoint } = instance;
  const settings = instance.parsed.settings;
  const local = health.node_name === context.options.nodeName;
  const node: NodeMetadata | undefined = context.view.nodes[health.node_name];
  let target: string | undefined;
  let unreachable: Exclusion | undefined = endpoint === undefined ? "no-address" : undefined;
  if (local) {
    if (endpoint) target = localTarget(protocol, settings, endpoint);
  } else {
    const meshAddress = node && meshAddressOf(node, context);
    if (meshAddress === undefined) unreachable ??= "no-mesh-address";
    else if (protocol === "http") target = `http://${hostPort(meshAddress, context.options.meshPort)}`;
    else if (protocol === "tcp") target = hostPort(meshAddress, context.options.meshPort);
    else if (settings.udp?.hostPort !== undefined) target = hostPort(meshAddress, settings.udp.hostPort);
    else unreachable ??= "no-host-port";
  }
  return {
    node: health.node_name,
    status: health.status,
    via: local ? "local" : protocol === "udp" ? "host-port" : "mesh",
    target,
    exclusion: exclusionOf(local, node, health.status, unreachable),
    direct: directRoute(protocol, health, context),
  };
}

function localTarget(protocol: ProtocolName, settings: InstanceSettings, endpoint: { host: string; port: number }): string {
  switch (protocol) {
    case "http":
      return `${settings.http!.scheme}://${hostPort(endpoint.host, settings.http!.port ?? endpoint.port)}`;
    case "tcp":
      return hostPort(endpoint.host, settings.tcp!.port ?? endpoint.port);
    case "udp":
      return hostPort(endpoint.host, settings.udp!.port ?? endpoint.port);
    default:
      return assertNever(protocol, "protocol");
  }
}

/** In order of what a person should fix first. */
function exclusionOf(local: boolean, node: NodeMetadata | undefined, status: ServiceStatus, unreachable: Exclusion | undefined): Exclusion | undefined {
  if (!local && !node) return "unknown-node";
  if (status === "stopped") return "stopped";
  if (status === "unhealthy") return "unhealthy";
  if (node?.cordoned) return "cordoned";
  return unreachable;
}

function directRoute(protocol: ProtocolName, health: ServiceHealth, context: PlanContext): PlannedBackend["direct"] {
  const label = context.nodeLabels.get(health.node_name);
  if (protocol === "udp" || label === undefined) return undefined;
  const service = health.service_name;
  const name = protocol === "http" ? objectNames.httpDirect(service, health.node_name) : objectNames.tcpDirect(service, health.node_name);
  const host = `${service}.${label}.${context.options.domain}`;
  const taken = context.directNames[protocol];
  if (taken.has(name) || host.length > hostLengthMax) {
    const why = taken.has(name) ? `its name ${name} is already taken by another service's direct route` : `${host} is longer than ${hostLengthMax} characters`;
    context.problems.add({ service, node: health.node_name, message: `no direct ${protocol.toUpperCase()} route: ${why}` });
    return undefined;
  }
  taken.add(name);
  return { name, host };
}

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The remote node's Tailscale address, checked once per plan; a bad one is reported once. */
function meshAddressOf(node: NodeMetadata, context: PlanContext): string | undefined {
  if (context.meshAddresses.has(node.name)) return context.meshAddresses.get(node.name);
  const address = isIP(node.tailscale_ip) ? node.tailscale_ip : undefined;
  context.meshAddresses.set(node.name, address);
  if (address === undefined) {
    context.problems.add({ node: node.name, message: `node advertises ${show(node.tailscale_ip)} as its Tailscale address, which is not an IP address; its instances cannot be reached through the mesh` });
  }
  return address;
}

/**
 * The container's address on the proxy network: host and port of the
 * endpoint with the lowest port, the first exposed port (a label may name
 * another port). Malformed endpoints are reported and skipped.
 */
function parsedEndpoint(health: ServiceHealth, context: PlanContext): ParsedEndpoint {
  let parsed = context.cache.endpoints.get(health.endpoints);
  if (!parsed) {
    parsed = parseEndpoints(health.endpoints);
    context.cache.endpoints.set(health.endpoints, parsed);
  }
  for (const message of parsed.problems) context.problems.add({ service: health.service_name, node: health.node_name, message });
  return parsed;
}

function parseEndpoints(endpoints: Readonly<Record<string, string>>): ParsedEndpoint {
  const problems: string[] = [];
  let best: { host: string; port: number } | undefined;
  for (const key of Object.keys(endpoints).sort()) {
    const url = endpoints[key]!;
    const match = endpointPattern.exec(url);
    const rawHost = match?.[2] ?? "";
    const bracketed = rawHost.startsWith("[");
    const host = bracketed ? rawHost.slice(1, -1) : rawHost;
    const port = match ? Number(match[3]) : 0;
    if (!match || (bracketed && !isIPv6(host)) || port < 1 || port > 65535) {
      problems.push(`endpoint ${show(key)} = ${show(url)} is not scheme://address:port; ignored`);
      continue;
    }
    if (!best || port < best.port) best = { host, port };
  }
  return { endpoint: best, problems };
}
