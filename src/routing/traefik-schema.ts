// The subset of Traefik v3's dynamic configuration that this provider emits,
// as a TypeBox schema: the single source of the document's types and the check
// every served document passes in the tests. Traefik refuses the WHOLE
// document for one unknown key or for an empty object where it expects
// content, so the schema is stricter than Traefik:
//
// - every object is closed (additionalProperties false), with the exact-case
//   keys of Traefik's Go json tags (entryPoints, loadBalancer, passHostHeader,
//   healthCheck, certResolver, accessControlAllowOriginListRegex, ...);
// - no map may be empty (`"http": {}`, `"routers": {}`, `"services": {}` make
//   Traefik answer "<name> cannot be a standalone element"), and the load
//   balancer's `healthCheck`, when present, holds at least its hostname and
//   path; only `compress: {}` is empty, which Traefik marks allowEmpty;
// - fields equal to Traefik's defaults are absent (see traefik.ts), so the
//   schema has no `passHostHeader` at all;
// - a service holds exactly one kind, `loadBalancer` (Traefik refuses
//   "multi-types service");
// - `servers: []` IS allowed: Traefik decodes an empty list as a list field
//   (not a standalone struct or map) and its round-robin balancer answers an
//   empty server set with 503 "no available server", which is how a service
//   with no healthy instance keeps its router (503, not 404);
// - a load balancer's `strategy` exists only in Traefik 3.4 and later, so the
//   schema for an older reader has no such field (traefikDocumentSchema).
//
// checkTraefikDocument adds what a schema cannot say: every router names a
// service of its own protocol and every middleware it names is defined.

import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";

const closed = { additionalProperties: false } as const;
const nonEmptyMap = { minProperties: 1 } as const;

const ObjectName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9-]{0,199}$" });
const EntryPointName = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$" });
const EntryPoints = Type.Array(EntryPointName, { minItems: 1, maxItems: 16 });
const HostName = Type.String({ maxLength: 253, pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$" });
const Duration = Type.String({ pattern: "^[0-9]{1,9}(ms|s|m|h)$", description: "A Go duration in canonical form." });
const HostAndPort = Type.String({ maxLength: 270, pattern: "^(\\[[0-9A-Fa-f:.]{2,45}\\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):[0-9]{1,5}$" });
const host = "[a-z0-9]([a-z0-9.-]*[a-z0-9])?";

export const HttpRouter = Type.Object(
  {
    entryPoints: EntryPoints,
    middlewares: Type.Optional(
      Type.Array(Type.String({ pattern: "^(compress|security-headers|cors|[A-Za-z0-9][A-Za-z0-9_-]{0,62}@[a-z0-9]{1,32})$" }), { minItems: 1, maxItems: 8 }),
    ),
    rule: Type.String({ maxLength: 600, pattern: `^Host\\(\`${host}\`\\)( \\|\\| Host\\(\`${host}\`\\))?$` }),
    service: ObjectName,
    tls: Type.Optional(Type.Object({ certResolver: Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$" }) }, closed)),
  },
  closed,
);

/**
 * `interval` and `timeout` are left out when they equal Traefik's defaults
 * (30s and 5s, set by ServerHealthCheck.SetDefaults since v3.0).
 */
export const HealthCheck = Type.Object(
  {
    hostname: HostName,
    interval: Type.Optional(Duration),
    path: Type.String({ maxLength: 256, pattern: "^/[A-Za-z0-9\\-._~!$&'()*+,;=:@%/?]*$" }),
    timeout: Type.Optional(Duration),
  },
  closed,
);

const HttpServer = Type.Object(
  { url: Type.String({ maxLength: 280, pattern: "^(http|https|h2c)://(\\[[0-9A-Fa-f:.]{2,45}\\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):[0-9]{1,5}$" }) },
  closed,
);

/**
 * No `passHostHeader`: mesh routing needs the Host header passed on, which is
 * Traefik's default (ServersLoadBalancer.SetDefaults, and the service
 * manager's fallback when a provider sets no default), so the document never
 * writes it and must never say false.
 */
const httpLoadBalancerFields = {
  healthCheck: Type.Optional(HealthCheck),
  servers: Type.Array(HttpServer, { maxItems: 1024 }),
};
const HttpLoadBalancerV30 = Type.Object(httpLoadBalancerFields, closed);
const HttpLoadBalancerV34 = Type.Object({ ...httpLoadBalancerFields, strategy: Type.Optional(Type.Literal("p2c")) }, closed);

const Headers = Type.Object(
  {
    accessControlAllowHeaders: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1 })),
    accessControlAllowMethods: Type.Optional(Type.Array(Type.String({ pattern: "^[A-Z]{3,7}$" }), { minItems: 1 })),
    accessControlAllowOriginListRegex: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 400 }), { minItems: 1 })),
    accessControlMaxAge: Type.Optional(Type.Integer({ minimum: 1 })),
    addVaryHeader: Type.Optional(Type.Boolean()),
    contentTypeNosniff: Type.Optional(Type.Boolean()),
    frameDeny: Type.Optional(Type.Boolean()),
    referrerPolicy: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    stsIncludeSubdomains: Type.Optional(Type.Boolean()),
    stsSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { ...closed, minProperties: 1 },
);

/** One kind per middleware; `compress: {}` is the one empty object Traefik accepts here. */
export const Middleware = Type.Union([
  Type.Object({ compress: Type.Object({}, closed) }, closed),
  Type.Object({ headers: Headers }, closed),
]);

export const TcpRouter = Type.Object(
  {
    entryPoints: EntryPoints,
    rule: Type.String({ maxLength: 600, pattern: `^HostSNI\\(\`${host}\`\\)( \\|\\| HostSNI\\(\`${host}\`\\))?$` }),
    service: ObjectName,
    tls: Type.Object({ passthrough: Type.Literal(true) }, closed),
  },
  closed,
);

const AddressServers = Type.Object({ servers: Type.Array(Type.Object({ address: HostAndPort }, closed), { maxItems: 1024 }) }, closed);
export const TcpService = Type.Object({ loadBalancer: AddressServers }, closed);
export const UdpRouter = Type.Object({ entryPoints: EntryPoints, service: ObjectName }, closed);
export const UdpService = Type.Object({ loadBalancer: AddressServers }, closed);

const mapOf = <T extends TSchema>(value: T) => Type.Optional(Type.Record(ObjectName, value, nonEmptyMap));

function documentSchema<L extends TSchema>(loadBalancer: L) {
  const HttpService = Type.Object({ loadBalancer }, closed);
  return Type.Object(
    {
      http: Type.Optional(
        Type.Object({ middlewares: mapOf(Middleware), routers: mapOf(HttpRouter), services: mapOf(HttpService) }, { ...closed, ...nonEmptyMap }),
      ),
      tcp: Type.Optional(Type.Object({ routers: mapOf(TcpRouter), services: mapOf(TcpService) }, { ...closed, ...nonEmptyMap })),
      udp: Type.Optional(Type.Object({ routers: mapOf(UdpRouter), services: mapOf(UdpService) }, { ...closed, ...nonEmptyMap })),
    },
    closed,
  );
}

/** For Traefik 3.0 to 3.3. */
export const TraefikDocumentV30 = documentSchema(HttpLoadBalancerV30);
/** For Traefik 3.4 and later: adds the load balancer's `strategy`. */
export const TraefikDocumentV34 = documentSchema(HttpLoadBalancerV34);

export type TraefikDocument = Static<typeof TraefikDocumentV34>;
export type HttpRouter = Static<typeof HttpRouter>;
export type HttpService = NonNullable<NonNullable<TraefikDocument["http"]>["services"]>[string];
export type Middleware = Static<typeof Middleware>;
export type TcpRouter = Static<typeof TcpRouter>;
export type TcpService = Static<typeof TcpService>;
export type UdpRouter = Static<typeof UdpRouter>;
export type UdpService = Static<typeof UdpService>;

export function traefikDocumentSchema(traefikMinorVersion: number): TSchema {
  return traefikMinorVersion >= 4 ? TraefikDocumentV34 : TraefikDocumentV30;
}

const errorsMax = 20;

/**
 * Every reason Traefik (of the given 3.x minor version) would refuse the
 * document or an object in it, up to errorsMax; empty when it is valid.
 */
export function checkTraefikDocument(document: unknown, traefikMinorVersion = 0): string[] {
  const schema = traefikDocumentSchema(traefikMinorVersion);
  const errors: string[] = [];
  for (const error of Value.Errors(schema, document)) {
    errors.push(`${error.path || "/"}: ${error.message}`);
    if (errors.length >= errorsMax) return errors;
  }
  if (errors.length > 0) return errors;
  const typed = document as TraefikDocument;
  const sections = [
    ["http", typed.http?.routers, typed.http?.services],
    ["tcp", typed.tcp?.routers, typed.tcp?.services],
    ["udp", typed.udp?.routers, typed.udp?.services],
  ] as const;
  for (const [protocol, routers, services] of sections) {
    for (const [name, router] of Object.entries(routers ?? {})) {
      if (!services?.[router.service]) errors.push(`/${protocol}/routers/${name}: service "${router.service}" is not defined`);
      const middlewares = (router as { middlewares?: string[] }).middlewares ?? [];
      for (const middleware of middlewares) {
        if (!middleware.includes("@") && !typed.http?.middlewares?.[middleware]) {
          errors.push(`/${protocol}/routers/${name}: middleware "${middleware}" is not defined`);
        }
      }
    }
  }
  return errors.slice(0, errorsMax);
}
