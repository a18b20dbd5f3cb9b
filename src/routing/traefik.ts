// The Traefik v3 dynamic configuration written from a routing plan. Pure.
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
// Output is deterministic: maps are filled in sorted key order and every
// object literal lists its keys alphabetically, so JSON.stringify gives the
// same bytes for the same plan. An absent optional field is written as an
// undefined property, which JSON leaves out: every router and load balancer
// then has one object shape, which the engine builds and serialises about
// twice as fast as shapes made with conditional spreads. Arrays shared
// between objects (entry points, middlewares) are never mutated.

import { assert } from "../lib/assert.ts";
import type { RoutingOptions } from "./options.ts";
import { objectNames, type PlannedBackend, type PlannedProtocol, type RoutingPlan } from "./plan.ts";
import type { HttpSettings, TcpSettings, UdpSettings } from "./labels.ts";
import type { HttpRouter, HttpService, Middleware, TcpRouter, TcpService, TraefikDocument, UdpRouter, UdpService } from "./traefik-schema.ts";

type HttpLoadBalancer = HttpService["loadBalancer"];

/** Objects by name, in the order they were made; a name is taken once (asserted). */
class Named<T> {
  readonly byName = new Map<string, T>();
  push([name, value]: [string, T]): void {
    const size = this.byName.size;
    this.byName.set(name, value);
    if (this.byName.size === size) assert(false, `two objects named ${name}`);
  }
}

interface Sections {
  httpRouters: Named<HttpRouter>;
  httpServices: Named<HttpService>;
  tcpRouters: Named<TcpRouter>;
  tcpServices: Named<TcpService>;
  udpRouters: Named<UdpRouter>;
  udpServices: Named<UdpService>;
}

export function traefikDocument(plan: RoutingPlan): TraefikDocument {
  const sections: Sections = {
    httpRouters: new Named(),
    httpServices: new Named(),
    tcpRouters: new Named(),
    tcpServices: new Named(),
    udpRouters: new Named(),
    udpServices: new Named(),
  };
  for (const service of plan.services) {
    if (service.http) addHttp(service.name, service.http, plan.options, sections);
    if (service.tcp) addTcp(service.name, service.tcp, plan.options, sections);
    if (service.udp) addUdp(service.name, service.udp, sections);
  }
  const document: TraefikDocument = {};
  // Middlewares are always defined, so other providers can use them as `<name>@http` too.
  document.http = { middlewares: sortedMap(new Map(middlewareEntries(plan.options)))! };
  const httpRouters = sortedMap(sections.httpRouters);
  if (httpRouters) {
    document.http.routers = httpRouters;
    document.http.services = sortedMap(sections.httpServices)!;
  }
  const tcpRouters = sortedMap(sections.tcpRouters);
  if (tcpRouters) document.tcp = { routers: tcpRouters, services: sortedMap(sections.tcpServices)! };
  const udpRouters = sortedMap(sections.udpRouters);
  if (udpRouters) document.udp = { routers: udpRouters, services: sortedMap(sections.udpServices)! };
  return document;
}

/** undefined for no entries: Traefik refuses an empty map. */
function sortedMap<T>(named: Named<T> | Map<string, T>): Record<string, T> | undefined {
  const byName = named instanceof Named ? named.byName : named;
  if (byName.size === 0) return undefined;
  // The default sort compares UTF-16 code units natively, as `<` does, without a call per comparison.
  const names = [...byName.keys()].sort();
  const map: Record<string, T> = {};
  for (const name of names) map[name] = byName.get(name)!;
  return map;
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

function httpRouter(rule: string, service: string, settings: HttpSettings, options: RoutingOptions): HttpRouter {
  const certResolver = settings.certResolver ?? options.certResolver;
  return {
    entryPoints: settings.entryPoints ?? (options.entryPoints as string[]),
    middlewares: settings.middlewares.length > 0 ? settings.middlewares : undefined,
    rule,
    service,
    tls: certResolver !== "" ? { certResolver } : undefined,
  };
}

function httpLoadBalancer(urls: string[], healthCheck: HttpLoadBalancer["healthCheck"], strategy: "p2c" | undefined): HttpService {
  return { loadBalancer: { healthCheck, passHostHeader: true, servers: urls.map((url) => ({ url })), strategy } };
}

function addHttp(name: string, planned: PlannedProtocol<HttpSettings>, options: RoutingOptions, sections: Sections): void {
  const { settings, backends } = planned;
  const host = `${name}.${options.domain}`;
  const failover = objectNames.httpFailover(name);
  const { interval, path, timeout } = settings.healthCheck;
  sections.httpRouters.push([failover, httpRouter(`Host(\`${host}\`)`, failover, settings, options)]);
  const strategy = settings.strategy === "p2c" ? "p2c" : undefined;
  sections.httpServices.push([failover, httpLoadBalancer(served(backends), { hostname: host, interval, path, timeout }, strategy)]);
  for (const backend of backends) {
    if (!backend.direct) continue;
    const { name: direct, host: directHost } = backend.direct;
    sections.httpRouters.push([direct, httpRouter(`Host(\`${directHost}\`)`, direct, settings, options)]);
    sections.httpServices.push([direct, httpLoadBalancer(servedOne(backend), undefined, strategy)]);
    if (backend.via === "local") {
      sections.httpRouters.push([objectNames.httpMesh(name), {
        entryPoints: [options.meshEntryPoint],
        middlewares: undefined,
        rule: `Host(\`${host}\`) || Host(\`${directHost}\`)`,
        service: direct,
        tls: undefined,
      }]);
    }
  }
}

function addTcp(name: string, planned: PlannedProtocol<TcpSettings>, options: RoutingOptions, sections: Sections): void {
  const { settings, backends } = planned;
  const host = `${name}.${options.domain}`;
  const entryPoints = settings.entryPoints ?? (options.entryPoints as string[]);
  const failover = objectNames.tcpFailover(name);
  const router = (rule: string, service: string, routerEntryPoints: string[]): TcpRouter => ({
    entryPoints: routerEntryPoints,
    rule,
    service,
    tls: { passthrough: true },
  });
  sections.tcpRouters.push([failover, router(`HostSNI(\`${host}\`)`, failover, entryPoints)]);
  sections.tcpServices.push([failover, { loadBalancer: { servers: served(backends).map((address) => ({ address })) } }]);
  for (const backend of backends) {
    if (!backend.direct) continue;
    const { name: direct, host: directHost } = backend.direct;
    sections.tcpRouters.push([direct, router(`HostSNI(\`${directHost}\`)`, direct, entryPoints)]);
    sections.tcpServices.push([direct, { loadBalancer: { servers: servedOne(backend).map((address) => ({ address })) } }]);
    if (backend.via === "local") {
      sections.tcpRouters.push([objectNames.tcpMesh(name), router(`HostSNI(\`${host}\`) || HostSNI(\`${directHost}\`)`, direct, [options.meshEntryPoint])]);
    }
  }
}

function addUdp(name: string, planned: PlannedProtocol<UdpSettings>, sections: Sections): void {
  const udp = objectNames.udp(name);
  sections.udpRouters.push([udp, { entryPoints: planned.settings.entryPoints, service: udp }]);
  sections.udpServices.push([udp, { loadBalancer: { servers: served(planned.backends).map((address) => ({ address })) } }]);
}

/** compress, security-headers and cors; CORS admits HTTPS origins under the cluster's domain. */
function middlewareEntries(options: RoutingOptions): [string, Middleware][] {
  const domainPattern = options.domain.replace(/[.]/g, "\\.");
  return [
    ["compress", { compress: {} }],
    ["cors", {
      headers: {
        accessControlAllowHeaders: ["*"],
        accessControlAllowMethods: ["DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT"],
        accessControlAllowOriginListRegex: [`^https://([a-z0-9-]+\\.)*${domainPattern}$`],
        accessControlMaxAge: 600,
        addVaryHeader: true,
      },
    }],
    ["security-headers", {
      headers: {
        contentTypeNosniff: true,
        frameDeny: true,
        referrerPolicy: "strict-origin-when-cross-origin",
        stsIncludeSubdomains: true,
        stsSeconds: 31_536_000,
      },
    }],
  ];
}
