// The Traefik v3 dynamic configuration written from a routing plan, as the
// JSON text that is served. Pure.
//
// Per HTTP service `<svc>`:
// - router and service `<svc>-with-failover`, Host(`<svc>.<domain>`), on the
//   public entry points: a load balancer over every served instance (this
//   node's by container address, the others' through their mesh entry
//   point), with the health check from the labels and the Host header passed
//   on (the remote mesh router matches on it);
// - router and service `<svc>-<node>-direct`, Host(`<svc>.<node>.<domain>`),
//   per instance: that one instance, or no server when it is not served;
// - router `<svc>-mesh` on the mesh entry point, only for an instance on this
//   node, matching both host names and targeting this node's direct service,
//   so traffic that arrives through the mesh never leaves the node again.
// TCP does the same with HostSNI and TLS passthrough (`-tcp-with-failover`,
// `-tcp-direct`, `-tcp-mesh`); UDP has one router and service `<svc>-udp`.
// A service whose instances are all unhealthy keeps its routers with an empty
// server list, so clients get 503 from Traefik rather than 404.
//
// Fields equal to Traefik's own defaults are left out, which Traefik reads as
// the same configuration (it applies a struct's SetDefaults whenever its
// provider decoder creates one, and its service manager falls back to the
// same values):
// - `passHostHeader` defaults to true (ServersLoadBalancer.SetDefaults, and
//   dynamic.DefaultPassHostHeader in the service manager), which is what
//   the mesh needs; the key would cost 22 bytes on every HTTP service;
// - a load balancer health check's `interval` defaults to 30s and its
//   `timeout` to 5s (ServerHealthCheck.SetDefaults, v3.0 and later).
// A direct service is not folded into the failover service even when both
// hold the same single server: the failover service is health-checked and
// the direct one is not, other providers may reference either by name, and
// which of them exists would then change with the number of instances.
//
// The text is written directly, one string per map entry, joined once at the
// end, instead of building objects and calling JSON.stringify on them: a map
// with thousands of keys is slow to build in the engine and slow again to
// serialise, and a warm rebuild of 1000 services spent most of its time
// there. With the RoutingCache the plan was made with, a rebuild writes
// again only what changed: a service the plan kept (same PlannedService
// object) gets its entries of the last document, a changed service reuses
// the entries of its unchanged direct routes, the sorted order of a map is
// reused while its names are the same, and a document with no changed piece
// is the previous string itself. Every string written has passed a pattern
// that admits no character JSON must escape (service and node names and
// endpoints in plan.ts, label values in labels.ts, entry points, resolver
// and domain in options.ts), so it is written between quotes as it is.
// Every object lists its keys alphabetically and every map is written in
// name order, so the same plan gives the same bytes, cache or not (the unit
// tests compare the two after hundreds of random changes).

import { assert } from "../lib/assert.ts";
import type { RoutingOptions } from "./options.ts";
import type { PlannedBackend, PlannedProtocol, RoutingCache, RoutingPlan, ServiceStrings } from "./plan.ts";
import type { HttpSettings, TcpSettings, UdpSettings } from "./labels.ts";

/** Traefik's default health-check interval (dynamic.DefaultHealthCheckInterval). */
export const traefikHealthCheckIntervalDefault = "30s";
/** Traefik's default health-check timeout (dynamic.DefaultHealthCheckTimeout). */
export const traefikHealthCheckTimeoutDefault = "5s";

/**
 * One map of the document (routers or services of one protocol): entries
 * `"<name>":{...}`, each one string, copied out in name order at the end and
 * joined once with the rest of the document.
 */
class MapWriter {
  private readonly names: string[] = [];
  private readonly entries: string[] = [];

  constructor(
    /** This map's place in Sections.all, as recorded in ServiceEntries. */
    private readonly slot: number,
    private readonly recorder: { current: ServiceEntries | undefined },
  ) {}

  add(name: string, entry: string): void {
    this.names.push(name);
    this.entries.push(entry);
    const recording = this.recorder.current;
    if (recording !== undefined) {
      recording.slots.push(this.slot);
      recording.names.push(name);
      recording.entries.push(entry);
    }
  }

  get size(): number {
    return this.names.length;
  }

  /**
   * Writes `"<key>":{...}` in name order onto `out`, and returns the names
   * and their order for the next document: when it names the same objects
   * in the same sequence, which is the rule after a health flip, the order
   * is taken over instead of sorted again (the plan hands out the same
   * string objects, so the comparison is cheap).
   */
  writeTo(out: string[], key: string, before: MapOrder | undefined): MapOrder {
    const { names, entries } = this;
    let order: number[];
    if (before !== undefined && sameNames(before.names, names)) {
      order = before.order;
    } else {
      order = names.map((_, index) => index);
      // Names hold only letters, digits and hyphens; `<` compares UTF-16 code units.
      order.sort((a, b) => (names[a]! < names[b]! ? -1 : 1));
    }
    out.push(`"${key}":{`);
    let previous = "";
    for (let position = 0; position < order.length; position++) {
      const index = order[position]!;
      const name = names[index]!;
      assert(name !== previous, `two objects named ${name}`);
      previous = name;
      if (position > 0) out.push(",");
      out.push(entries[index]!);
    }
    out.push("}");
    return { names, order };
  }
}

/** A map's names in the sequence they were written, and the permutation that sorts them. */
export interface MapOrder {
  names: string[];
  order: number[];
}

function sameNames(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

interface Sections {
  httpRouters: MapWriter;
  httpServices: MapWriter;
  tcpRouters: MapWriter;
  tcpServices: MapWriter;
  udpRouters: MapWriter;
  udpServices: MapWriter;
  /** The six above, by slot. */
  all: MapWriter[];
}

/**
 * The entries one planned service added, in order, with the map of each. A
 * plan hands out the same PlannedService object while nothing it was made
 * from changed (plan.ts, keptPlan), and its entries depend on nothing else
 * but the options, so they are added again as they are.
 */
export interface ServiceEntries {
  slots: number[];
  names: string[];
  entries: string[];
}

function newSections(recorder: { current: ServiceEntries | undefined }): Sections {
  const all = Array.from({ length: 6 }, (_, slot) => new MapWriter(slot, recorder));
  const [httpRouters, httpServices, tcpRouters, tcpServices, udpRouters, udpServices] = all as [MapWriter, MapWriter, MapWriter, MapWriter, MapWriter, MapWriter];
  return { httpRouters, httpServices, tcpRouters, tcpServices, udpRouters, udpServices, all };
}

/** What one document's writing reads and keeps: options, and the caches of its RoutingCache (or fresh ones). */
interface WriteContext {
  options: RoutingOptions;
  sections: Sections;
  /** Router parts by parsed HTTP settings object. */
  routerParts: WeakMap<HttpSettings, unknown>;
  /** Entries written for a direct route, by the plan's direct-route object. */
  directEntries: WeakMap<object, unknown>;
}

/**
 * The document as served: compact JSON, keys in sorted order. With the cache
 * the plan was made with, entries whose inputs did not change are taken from
 * the previous document instead of being written again.
 */
export function traefikJson(plan: RoutingPlan, cache?: RoutingCache): string {
  const usable = cache?.fits(plan.options) === true;
  const recorder: { current: ServiceEntries | undefined } = { current: undefined };
  const context: WriteContext = {
    options: plan.options,
    sections: newSections(recorder),
    routerParts: usable ? cache!.httpSettings : new WeakMap(),
    directEntries: usable ? cache!.directRoutes : new WeakMap(),
  };
  const orders = usable ? cache!.mapOrders : new Map<string, MapOrder>();
  const written = usable ? cache!.serviceEntries : new WeakMap<object, ServiceEntries>();
  for (const service of plan.services) {
    const kept = written.get(service) as ServiceEntries | undefined;
    if (kept !== undefined) {
      for (let index = 0; index < kept.slots.length; index++) context.sections.all[kept.slots[index]!]!.add(kept.names[index]!, kept.entries[index]!);
      continue;
    }
    recorder.current = { slots: [], names: [], entries: [] };
    if (service.http) addHttp(service.strings, service.http, context);
    if (service.tcp) addTcp(service.strings, service.tcp, context);
    if (service.udp) addUdp(service.strings, service.udp, context);
    written.set(service, recorder.current);
    recorder.current = undefined;
  }
  const { sections } = context;
  // Middlewares are always defined, so other providers can use them as `<name>@http` too.
  const out: string[] = [usable ? (cache!.documentHead ??= documentHead(plan.options)) : documentHead(plan.options)];
  const write = (map: MapWriter, protocol: string, key: string) => orders.set(`${protocol}/${key}`, map.writeTo(out, key, orders.get(`${protocol}/${key}`)));
  if (sections.httpRouters.size > 0) {
    out.push(",");
    write(sections.httpRouters, "http", "routers");
    out.push(",");
    write(sections.httpServices, "http", "services");
  }
  out.push("}");
  for (const [protocol, routers, services] of [["tcp", sections.tcpRouters, sections.tcpServices], ["udp", sections.udpRouters, sections.udpServices]] as const) {
    if (routers.size === 0) continue;
    out.push(`,"${protocol}":{`);
    write(routers, protocol, "routers");
    out.push(",");
    write(services, protocol, "services");
    out.push("}");
  }
  out.push("}");
  // A rebuild that changed nothing (the provider looks at the view again
  // every second while Traefik polls) hands back the previous text itself,
  // which also spares the caller comparing and hashing it.
  const previous = usable ? cache!.lastDocument : undefined;
  if (previous !== undefined && sameStrings(previous.pieces, out)) return previous.json;
  const json = out.join("");
  if (usable) cache!.lastDocument = { pieces: out, json };
  return json;
}

/** Targets of the served backends, each once, in node order. */
function served(backends: PlannedBackend[]): string[] {
  const targets: string[] = [];
  for (const backend of backends) {
    if (backend.exclusion !== undefined) continue;
    if (backend.target === undefined) assert(false, `served backend on ${backend.node} has no target`);
    if (!targets.includes(backend.target)) targets.push(backend.target);
  }
  return targets;
}

/** The one target of a direct route, or none. */
function servedOne(backend: PlannedBackend): string[] {
  return backend.exclusion === undefined && backend.target !== undefined ? [backend.target] : [];
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, index) => item === b[index]);
}

function stringArrayJson(items: readonly string[]): string {
  return items.length === 0 ? "[]" : `["${items.join('","')}"]`;
}

/** `[{"<field>":"<value>"},...]` */
function serversJson(field: string, values: readonly string[]): string {
  return values.length === 0 ? "[]" : `[{"${field}":"${values.join(`"},{"${field}":"`)}"}]`;
}

/** The parts of an HTTP router that come from the service's settings: `head` runs up to the rule's host, `tail` follows the service name. */
interface RouterParts {
  head: string;
  tail: string;
}

/**
 * Written once per parsed settings object: the state hands out the same
 * settings for every instance of a service and across rebuilds.
 */
function routerParts(settings: HttpSettings, context: WriteContext): RouterParts {
  let parts = context.routerParts.get(settings) as RouterParts | undefined;
  if (parts === undefined) {
    const { options } = context;
    const entryPoints = settings.entryPoints ?? options.entryPoints;
    const middlewares = settings.middlewares.length > 0 ? `"middlewares":${stringArrayJson(settings.middlewares)},` : "";
    const certResolver = settings.certResolver ?? options.certResolver;
    parts = {
      head: `{"entryPoints":${stringArrayJson(entryPoints)},${middlewares}"rule":"Host(\``,
      tail: certResolver !== "" ? `","tls":{"certResolver":"${certResolver}"}}` : `"}`,
    };
    context.routerParts.set(settings, parts);
  }
  return parts;
}

function httpRouterEntry(name: string, parts: RouterParts, host: string): string {
  return `"${name}":${parts.head}${host}\`)","service":"${name}${parts.tail}`;
}

/** An HTTP load balancer's entry; `healthCheck` is its JSON or "", `strategy` the JSON after the servers or "". */
function httpServiceEntry(name: string, urls: readonly string[], healthCheck: string, strategy: string): string {
  const check = healthCheck === "" ? "" : `"healthCheck":${healthCheck},`;
  return `"${name}":{"loadBalancer":{${check}"servers":${serversJson("url", urls)}${strategy}}}`;
}

function healthCheckJson(host: string, settings: HttpSettings): string {
  const { interval, path, timeout } = settings.healthCheck;
  const intervalJson = interval === traefikHealthCheckIntervalDefault ? "" : `,"interval":"${interval}"`;
  const timeoutJson = timeout === traefikHealthCheckTimeoutDefault ? "" : `,"timeout":"${timeout}"`;
  return `{"hostname":"${host}"${intervalJson},"path":"${path}"${timeoutJson}}`;
}

/** A service's failover entries as last written, with what they were written from. */
interface FailoverEntries {
  parts: RouterParts;
  settings: HttpSettings;
  router: string;
  healthCheck: string;
  urls: string[];
  service: string;
}

/** A direct route's entries as last written, with what they were written from. */
interface DirectEntries {
  parts: RouterParts;
  router: string;
  /** The served target, or "" for none, and the strategy the service entry was written with. */
  target: string;
  strategy: string;
  service: string;
  mesh: string | undefined;
}

function addHttp(strings: ServiceStrings, planned: PlannedProtocol<HttpSettings>, context: WriteContext): void {
  const { settings, backends } = planned;
  const { httpRouters, httpServices } = context.sections;
  const { host, httpFailover: failover, httpMesh: mesh } = strings;
  const parts = routerParts(settings, context);
  const strategy = settings.strategy === "p2c" ? ',"strategy":"p2c"' : "";
  const urls = served(backends);
  let written = strings.written as FailoverEntries | undefined;
  if (written === undefined || written.parts !== parts || written.settings !== settings) {
    const healthCheck = healthCheckJson(host, settings);
    written = { parts, settings, router: httpRouterEntry(failover, parts, host), healthCheck, urls, service: httpServiceEntry(failover, urls, healthCheck, strategy) };
    strings.written = written;
  } else if (!sameStrings(written.urls, urls)) {
    written.urls = urls;
    written.service = httpServiceEntry(failover, urls, written.healthCheck, strategy);
  }
  httpRouters.add(failover, written.router);
  httpServices.add(failover, written.service);
  for (const backend of backends) {
    const direct = backend.direct;
    if (!direct) continue;
    const target = servedOne(backend)[0] ?? "";
    let entries = context.directEntries.get(direct) as DirectEntries | undefined;
    if (entries === undefined || entries.parts !== parts) {
      entries = { parts, router: httpRouterEntry(direct.name, parts, direct.host), target: "", strategy: "", service: "", mesh: undefined };
      context.directEntries.set(direct, entries);
    }
    if (entries.service === "" || entries.target !== target || entries.strategy !== strategy) {
      entries.target = target;
      entries.strategy = strategy;
      entries.service = httpServiceEntry(direct.name, target === "" ? [] : [target], "", strategy);
    }
    httpRouters.add(direct.name, entries.router);
    httpServices.add(direct.name, entries.service);
    if (backend.via === "local") {
      entries.mesh ??= `"${mesh}":{"entryPoints":["${context.options.meshEntryPoint}"],"rule":"Host(\`${host}\`) || Host(\`${direct.host}\`)","service":"${direct.name}"}`;
      httpRouters.add(mesh, entries.mesh);
    }
  }
}

function addressServiceEntry(name: string, addresses: readonly string[]): string {
  return `"${name}":{"loadBalancer":{"servers":${serversJson("address", addresses)}}}`;
}

function tcpRouterEntry(name: string, entryPoints: string, rule: string, service: string): string {
  return `"${name}":{"entryPoints":${entryPoints},"rule":"${rule}","service":"${service}","tls":{"passthrough":true}}`;
}

function addTcp(strings: ServiceStrings, planned: PlannedProtocol<TcpSettings>, context: WriteContext): void {
  const { settings, backends } = planned;
  const { options } = context;
  const { tcpRouters, tcpServices } = context.sections;
  const { host, tcpFailover: failover, tcpMesh: mesh } = strings;
  const entryPoints = stringArrayJson(settings.entryPoints ?? options.entryPoints);
  tcpRouters.add(failover, tcpRouterEntry(failover, entryPoints, `HostSNI(\`${host}\`)`, failover));
  tcpServices.add(failover, addressServiceEntry(failover, served(backends)));
  for (const backend of backends) {
    if (!backend.direct) continue;
    const { name: direct, host: directHost } = backend.direct;
    tcpRouters.add(direct, tcpRouterEntry(direct, entryPoints, `HostSNI(\`${directHost}\`)`, direct));
    tcpServices.add(direct, addressServiceEntry(direct, servedOne(backend)));
    if (backend.via === "local") {
      const rule = `HostSNI(\`${host}\`) || HostSNI(\`${directHost}\`)`;
      tcpRouters.add(mesh, tcpRouterEntry(mesh, `["${options.meshEntryPoint}"]`, rule, direct));
    }
  }
}

function addUdp(strings: ServiceStrings, planned: PlannedProtocol<UdpSettings>, context: WriteContext): void {
  const udp = strings.udp;
  context.sections.udpRouters.add(udp, `"${udp}":{"entryPoints":${stringArrayJson(planned.settings.entryPoints)},"service":"${udp}"}`);
  context.sections.udpServices.add(udp, addressServiceEntry(udp, served(planned.backends)));
}

/**
 * The document's opening up to the end of the middlewares: compress, cors
 * and security-headers, in name order; CORS admits HTTPS origins under the
 * cluster's domain.
 */
function documentHead(options: RoutingOptions): string {
  const domainPattern = options.domain.replace(/[.]/g, "\\.");
  // Written with JSON.stringify: the regular expression holds backslashes, which JSON escapes.
  return `{"http":{"middlewares":${JSON.stringify({
    compress: { compress: {} },
    cors: {
      headers: {
        accessControlAllowHeaders: ["*"],
        accessControlAllowMethods: ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"],
        accessControlAllowOriginListRegex: [`^https://([a-z0-9-]+\\.)*${domainPattern}$`],
        accessControlMaxAge: 600,
        addVaryHeader: true,
      },
    },
    "security-headers": {
      headers: {
        contentTypeNosniff: true,
        frameDeny: true,
        referrerPolicy: "strict-origin-when-cross-origin",
        stsIncludeSubdomains: true,
        stsSeconds: 31_536_000,
      },
    },
  })}`;
}
