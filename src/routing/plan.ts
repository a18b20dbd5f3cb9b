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
//
// Plans made with one RoutingCache share the objects of services that did
// not change, so a plan is read, never changed, by whoever receives it.

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
  /** Host and object names; the same object across plans made with one cache. */
  strings: ServiceStrings;
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
const nodeNamePattern = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
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

/** Strings made from one instance's record: they do not change while the record does not. */
interface InstanceStrings {
  /** The node's host label the direct routes were named with. */
  label: string | undefined;
  direct: { http?: { name: string; host: string }; tcp?: { name: string; host: string } };
  /** Targets on this node, by protocol. */
  local: { http?: string; tcp?: string; udp?: string };
}

/** Services whose strings are kept; past this the map starts again empty. */
export const cachedServicesMax = 16_384;
/** Nodes whose mesh targets are kept; past this the map starts again empty. */
export const cachedNodesMax = 4_096;

/**
 * What a rebuild can take from the one before, kept by object: the state
 * hands out the same label, endpoint, instance and node objects until they
 * change, so a rebuild after a health flip parses nothing again, keeps the
 * plan of every service none of whose records changed (keptPlan), and makes
 * the strings of the changed instance only (strings made once are also
 * cheap to write out again; see traefik.ts). Outputs do not depend on it.
 * Valid for one set of options (`fits`); maps keyed by name are bounded, the
 * rest are weak.
 */
export class RoutingCache {
  readonly labels = new WeakMap<object, ParsedInstance>();
  readonly endpoints = new WeakMap<object, ParsedEndpoint>();
  readonly instances = new WeakMap<ServiceHealth, InstanceStrings>();
  /** Per service name: its host and object names, and what the writer keeps (traefik.ts). */
  readonly services = new Map<string, ServiceStrings>();
  /** Per parsed HTTP settings object: what the writer keeps (traefik.ts). */
  readonly httpSettings = new WeakMap<HttpSettings, unknown>();
  /** Per direct-route object handed out in plans: what the writer keeps (traefik.ts). */
  readonly directRoutes = new WeakMap<object, unknown>();
  /** Per planned service object: the entries the writer added for it (traefik.ts). */
  readonly serviceEntries = new WeakMap<object, { slots: number[]; names: string[]; entries: string[] }>();
  /** Per node name: the targets of its mesh entry point, with the address they were made from. */
  readonly meshTargets = new Map<string, { meshAddress: string; http: string; tcp: string }>();
  /** Per map of the document ("http/routers", ...): its names and their sorted order (traefik.ts); six at most. */
  readonly mapOrders = new Map<string, { names: string[]; order: number[] }>();
  /** The document's opening and middlewares, as written (traefik.ts). */
  documentHead: string | undefined;
  /** Per service name: its plan as last made, when it can be kept (see keptPlan); only the last plan's services. */
  plans = new Map<string, KeptPlan>();
  /** The last document written and the pieces it was joined from (traefik.ts). */
  lastDocument: { pieces: string[]; json: string } | undefined;
  readonly meshEntryPoint: string;
  readonly traefikMinorVersion: number;
  private readonly optionsKey: string;

  constructor(private readonly options: RoutingOptions) {
    this.meshEntryPoint = options.meshEntryPoint;
    this.traefikMinorVersion = options.traefikMinorVersion;
    this.optionsKey = JSON.stringify(options);
  }

  fits(options: RoutingOptions): boolean {
    // The provider passes the same options object on every rebuild.
    return options === this.options || JSON.stringify(options) === this.optionsKey;
  }

  serviceStrings(name: string, domain: string): ServiceStrings {
    let strings = this.services.get(name);
    if (strings === undefined) {
      if (this.services.size >= cachedServicesMax) this.services.clear();
      strings = {
        host: `${name}.${domain}`,
        httpFailover: objectNames.httpFailover(name),
        httpMesh: objectNames.httpMesh(name),
        tcpFailover: objectNames.tcpFailover(name),
        tcpMesh: objectNames.tcpMesh(name),
        udp: objectNames.udp(name),
        written: undefined,
      };
      this.services.set(name, strings);
    }
    return strings;
  }
}

/** A service's host and object names, made once per name (see objectNames). */
export interface ServiceStrings {
  /** `<svc>.<domain>` */
  host: string;
  httpFailover: string;
  httpMesh: string;
  tcpFailover: string;
  tcpMesh: string;
  udp: string;
  /** Kept by the writer (traefik.ts) with the settings it was written from. */
  written: unknown;
}

class ProblemLog {
  readonly list: RoutingProblem[] = [];
  dropped = 0;
  /** Problems added so far, listed or dropped. */
  get count(): number {
    return this.list.length + this.dropped;
  }

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
  /** What the service being planned looked at, so that its plan can be kept (see keptPlan). */
  recording: { meshNodes: NodeMetadata[]; meshProblems: number };
}

type ProtocolName = "http" | "tcp" | "udp";

/**
 * One service's plan as last made and everything it was made from: its
 * instance records (sorted by node), their nodes' metadata records and host
 * labels, and the remote nodes whose mesh address it looked at. A service
 * whose planning reported a problem of its own is not kept.
 */
export interface KeptPlan {
  instances: ServiceHealth[];
  nodes: (NodeMetadata | undefined)[];
  labels: (string | undefined)[];
  meshNodes: NodeMetadata[];
  planned: PlannedService;
}

export function planRouting(view: ClusterView, options: RoutingOptions, cache?: RoutingCache): RoutingPlan {
  const problems = new ProblemLog();
  const context: PlanContext = {
    options,
    view,
    cache: cache?.fits(options) ? cache : new RoutingCache(options),
    problems,
    nodeLabels: nodeHostLabels(view, options, problems),
    meshAddresses: new Map(),
    directNames: { http: new Set(), tcp: new Set(), udp: new Set() },
    recording: { meshNodes: [], meshProblems: 0 },
  };
  const byService = new Map<string, ServiceHealth[]>();
  for (const key in view.service_health) {
    const instance = view.service_health[key]!;
    const list = byService.get(instance.service_name);
    if (list) list.push(instance);
    else byService.set(instance.service_name, [instance]);
  }
  const services: PlannedService[] = [];
  const kept = context.cache.plans;
  // Only this plan's services are kept for the next, so the map holds no service that left.
  const keptNext = new Map<string, KeptPlan>();
  for (const name of [...byService.keys()].sort()) {
    const instances = byService.get(name)!;
    sortByNode(instances);
    let planned = keptPlan(kept.get(name), instances, context);
    if (planned === undefined) {
      context.recording = { meshNodes: [], meshProblems: 0 };
      const problemsBefore = problems.count;
      planned = planService(name, instances, context);
      const ownProblems = problems.count - problemsBefore - context.recording.meshProblems;
      if (planned && ownProblems === 0) {
        keptNext.set(name, {
          instances,
          nodes: instances.map((instance) => view.nodes[instance.node_name]),
          labels: instances.map((instance) => context.nodeLabels.get(instance.node_name)),
          meshNodes: context.recording.meshNodes,
          planned,
        });
      }
    } else {
      keptNext.set(name, kept.get(name)!);
    }
    if (planned) services.push(planned);
  }
  context.cache.plans = keptNext;
  return { options, services, problems: problems.list, problemsDropped: problems.dropped };
}

/**
 * The kept plan of a service, when everything it was made from is the same
 * records as now and its direct names are still free; it then takes its
 * names and looks at the mesh addresses it looked at before (a bad one is
 * reported once per plan, by whichever service meets it first), so the
 * plan and its problems come out exactly as if it were made again.
 */
function keptPlan(kept: KeptPlan | undefined, instances: ServiceHealth[], context: PlanContext): PlannedService | undefined {
  if (kept === undefined || kept.instances.length !== instances.length) return undefined;
  for (let index = 0; index < instances.length; index++) {
    const instance = instances[index]!;
    if (kept.instances[index] !== instance) return undefined;
    if (kept.nodes[index] !== context.view.nodes[instance.node_name]) return undefined;
    if (kept.labels[index] !== context.nodeLabels.get(instance.node_name)) return undefined;
  }
  const { planned } = kept;
  for (const protocol of ["http", "tcp"] as const) {
    for (const backend of planned[protocol]?.backends ?? []) {
      if (backend.direct && context.directNames[protocol].has(backend.direct.name)) return undefined;
    }
  }
  for (const protocol of ["http", "tcp"] as const) {
    for (const backend of planned[protocol]?.backends ?? []) {
      if (backend.direct) context.directNames[protocol].add(backend.direct.name);
    }
  }
  for (const node of kept.meshNodes) meshAddressOf(node, context);
  return planned;
}

/**
 * Host labels of live nodes; two names that differ only in case cannot both
 * have direct hosts, and a name that is not a DNS label has none (it would
 * make an invalid router name and host).
 */
function nodeHostLabels(view: ClusterView, options: RoutingOptions, problems: ProblemLog): Map<string, string> {
  const labels = new Map<string, string>();
  const owners = new Map<string, string>();
  const names = new Set([...Object.keys(view.nodes), options.nodeName]);
  for (const name of [...names].sort()) {
    if (!nodeNamePattern.test(name)) {
      problems.add({ node: name, message: `node name ${show(name)} is not a DNS label; it gets no direct routes` });
      continue;
    }
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

/** Instances of one service sorted by insertion; more go to the engine's sort. */
const insertionSortMax = 16;

/**
 * Sorts one service's instances by node name in place. A service has a few
 * instances (one per node at most), and for a few the engine's sort costs
 * more per call than the comparisons do.
 */
function sortByNode(instances: ServiceHealth[]): void {
  if (instances.length > insertionSortMax) {
    instances.sort((a, b) => (a.node_name < b.node_name ? -1 : a.node_name > b.node_name ? 1 : 0));
    return;
  }
  for (let index = 1; index < instances.length; index++) {
    const instance = instances[index]!;
    let position = index - 1;
    while (position >= 0 && instances[position]!.node_name > instance.node_name) {
      instances[position + 1] = instances[position]!;
      position--;
    }
    instances[position + 1] = instance;
  }
}

/** `instances` sorted by node name. */
function planService(name: string, instances: ServiceHealth[], context: PlanContext): PlannedService | undefined {
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
    strings: context.cache.serviceStrings(name, context.options.domain),
    http: http && { settings: http, backends: routed.map((instance) => planBackend("http", instance, first.parsed.settings, context)) },
    tcp: tcp && { settings: tcp, backends: routed.map((instance) => planBackend("tcp", instance, first.parsed.settings, context)) },
    udp: udp && { settings: udp, backends: routed.map((instance) => planBackend("udp", instance, first.parsed.settings, context)) },
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

/** `serviceSettings`: the settings the service follows, those of its first routed instance. */
function planBackend(protocol: ProtocolName, instance: RoutedInstance, serviceSettings: InstanceSettings, context: PlanContext): PlannedBackend {
  const { health, endpoint } = instance;
  const settings = instance.parsed.settings;
  const local = health.node_name === context.options.nodeName;
  const node: NodeMetadata | undefined = context.view.nodes[health.node_name];
  const strings = instanceStrings(health, context);
  let target: string | undefined;
  let unreachable: Exclusion | undefined = endpoint === undefined ? "no-address" : undefined;
  if (local && endpoint) {
    // An instance whose labels route another protocol than the service does
    // (reported as a disagreement) is reached with the service's port and
    // scheme; that target depends on another record, so it is not kept.
    if (settings[protocol] !== undefined) target = strings.local[protocol] ??= localTarget(protocol, settings, endpoint);
    else target = localTarget(protocol, serviceSettings, endpoint);
  } else if (!local) {
    if (node) context.recording.meshNodes.push(node);
    const meshAddress = node && meshAddressOf(node, context);
    if (meshAddress === undefined) unreachable ??= "no-mesh-address";
    else if (protocol === "http") target = meshTargetsOf(node!.name, meshAddress, context).http;
    else if (protocol === "tcp") target = meshTargetsOf(node!.name, meshAddress, context).tcp;
    else if (settings.udp?.hostPort !== undefined) target = hostPort(meshAddress, settings.udp.hostPort);
    else unreachable ??= "no-host-port";
  }
  return {
    node: health.node_name,
    status: health.status,
    via: local ? "local" : protocol === "udp" ? "host-port" : "mesh",
    target,
    exclusion: exclusionOf(local, node, health.status, unreachable),
    direct: protocol === "udp" ? undefined : directRoute(protocol, health, strings, context),
  };
}

/** The instance's strings from the cache; made again when its node's host label changed. */
function instanceStrings(health: ServiceHealth, context: PlanContext): InstanceStrings {
  const label = context.nodeLabels.get(health.node_name);
  let strings = context.cache.instances.get(health);
  if (strings === undefined || strings.label !== label) {
    strings = { label, direct: {}, local: {} };
    context.cache.instances.set(health, strings);
  }
  return strings;
}

/** The HTTP and TCP targets of a node's mesh entry point, kept while its address stays. */
function meshTargetsOf(nodeName: string, meshAddress: string, context: PlanContext): { http: string; tcp: string } {
  const kept = context.cache.meshTargets;
  let targets = kept.get(nodeName);
  if (targets === undefined || targets.meshAddress !== meshAddress) {
    if (kept.size >= cachedNodesMax) kept.clear();
    const address = hostPort(meshAddress, context.options.meshPort);
    targets = { meshAddress, http: `http://${address}`, tcp: address };
    kept.set(nodeName, targets);
  }
  return targets;
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

function directRoute(protocol: "http" | "tcp", health: ServiceHealth, strings: InstanceStrings, context: PlanContext): PlannedBackend["direct"] {
  const label = strings.label;
  if (label === undefined) return undefined;
  const service = health.service_name;
  const direct = (strings.direct[protocol] ??= {
    name: protocol === "http" ? objectNames.httpDirect(service, health.node_name) : objectNames.tcpDirect(service, health.node_name),
    host: `${service}.${label}.${context.options.domain}`,
  });
  const { name, host } = direct;
  const taken = context.directNames[protocol];
  if (taken.has(name) || host.length > hostLengthMax) {
    const why = taken.has(name) ? `its name ${name} is already taken by another service's direct route` : `${host} is longer than ${hostLengthMax} characters`;
    context.problems.add({ service, node: health.node_name, message: `no direct ${protocol.toUpperCase()} route: ${why}` });
    return undefined;
  }
  taken.add(name);
  return direct;
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
    context.recording.meshProblems++;
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
