// The routing labels of one service instance (the `traefik.*` and
// `constellation.*` labels its container carries), parsed into settings.
// Labels come from containers that anyone with Docker access can start, so
// every value is held to a strict pattern; a bad one becomes a problem that
// names the label, quotes the value and says what was expected, and the
// setting falls back to its default or the route is left out. Nothing here
// throws and nothing a label says reaches the document unchecked.
//
// Label keys follow Traefik's Docker provider (case-insensitive after
// `traefik.`, any router or service name); rules, service links and TLS are
// written by the generator, so labels that set them are reported as ignored.

import { entryPointPattern, resolverPattern } from "./options.ts";

export type HttpScheme = "http" | "https" | "h2c";
export type BalancerStrategy = "wrr" | "p2c";
export type LabelProtocol = "http" | "tcp" | "udp";

export interface HealthCheckSettings {
  /** Absolute path, e.g. "/healthz". */
  path: string;
  /** Go duration strings in canonical form ("30s", "1m", "500ms"). */
  interval: string;
  timeout: string;
}

export interface HttpSettings {
  port: number | undefined;
  scheme: HttpScheme;
  healthCheck: HealthCheckSettings;
  /** In the order the label lists them, without duplicates. */
  middlewares: string[];
  entryPoints: string[] | undefined;
  certResolver: string | undefined;
  strategy: BalancerStrategy;
}

export interface TcpSettings {
  port: number | undefined;
  entryPoints: string[] | undefined;
}

export interface UdpSettings {
  port: number | undefined;
  entryPoints: string[];
  /** Port the container publishes on its node's host, so other nodes can reach it directly. */
  hostPort: number | undefined;
}

export interface InstanceSettings {
  enabled: boolean;
  http: HttpSettings | undefined;
  tcp: TcpSettings | undefined;
  udp: UdpSettings | undefined;
}

export interface LabelProblem {
  /** The label at fault, or undefined when the problem is about several. */
  label: string | undefined;
  message: string;
}

export interface LabelContext {
  meshEntryPoint: string;
  traefikMinorVersion: number;
}

/** The middlewares this provider defines; see traefik.ts. */
export const providerMiddlewares = ["compress", "security-headers", "cors"] as const;

export const healthCheckDefaults: HealthCheckSettings = { path: "/", interval: "30s", timeout: "10s" };
export const udpHostPortLabel = "constellation.udp.hostport";

/** Labels read per instance; the replicated state already holds at most 64. */
const labelsMax = 64;
const labelValueMax = 1024;
const listItemsMax = 8;
const problemsPerInstanceMax = 16;
const namePattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const healthPathPattern = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]{0,255}$/;
const foreignMiddlewarePattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}@[a-z0-9]{1,32}$/;

interface RawLabel {
  key: string;
  value: string;
  name: string;
  field: string;
}

type RawSections = Record<LabelProtocol, { routers: RawLabel[]; services: RawLabel[] }>;

class Problems {
  readonly list: LabelProblem[] = [];
  add(label: string | undefined, message: string): void {
    // A key is printed on terminals too: anything but plain printable ASCII is shown escaped.
    const printable = label === undefined || /^[\x21-\x7e]{1,256}$/.test(label) ? label : show(label);
    if (this.list.length < problemsPerInstanceMax) this.list.push({ label: printable, message });
  }
}

/** A label value as a problem message quotes it: escaped and cut short. */
export function show(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
}

export function parseInstanceLabels(
  labels: Readonly<Record<string, string>> | undefined,
  context: LabelContext,
): { settings: InstanceSettings; problems: LabelProblem[] } {
  const problems = new Problems();
  const keys = Object.keys(labels ?? {}).sort().slice(0, labelsMax);
  const enableKey = keys.find((key) => key.toLowerCase() === "traefik.enable");
  const enabled = enableKey !== undefined && parseEnable(enableKey, labels![enableKey]!, problems);
  const disabled: InstanceSettings = { enabled: false, http: undefined, tcp: undefined, udp: undefined };
  // Labels of a container that did not opt in are nobody's concern here.
  if (!enabled) return { settings: disabled, problems: problems.list };
  const raw: RawSections = { http: { routers: [], services: [] }, tcp: { routers: [], services: [] }, udp: { routers: [], services: [] } };
  let hostPortLabel: [string, string] | undefined;
  for (const key of keys) {
    const value = labels![key]!;
    const lower = key.toLowerCase();
    if (lower === "traefik.enable") continue;
    if (value.length > labelValueMax) {
      if (lower.startsWith("traefik.") || lower.startsWith("constellation.")) problems.add(key, `value is longer than ${labelValueMax} characters; ignored`);
      continue;
    }
    if (lower === udpHostPortLabel) hostPortLabel = [key, value];
    else if (lower.startsWith("traefik.")) classify(key, lower, value, raw, problems);
  }
  const declared = (protocol: LabelProtocol) => raw[protocol].routers.length + raw[protocol].services.length > 0;
  if (declared("http") && declared("tcp")) {
    problems.add(undefined, "both traefik.http.* and traefik.tcp.* labels: a TCP router for the same host would take every TLS connection, so the HTTP labels are ignored");
  }
  const httpWanted = !declared("tcp") && (declared("http") || !declared("udp"));
  const settings: InstanceSettings = {
    enabled: true,
    http: httpWanted ? httpSettings(raw.http, context, problems) : undefined,
    tcp: declared("tcp") ? tcpSettings(raw.tcp, context, problems) : undefined,
    udp: declared("udp") ? udpSettings(raw.udp, hostPortLabel, context, problems) : undefined,
  };
  if (hostPortLabel && !settings.udp) problems.add(hostPortLabel[0], "only UDP routes use a host port; ignored");
  return { settings, problems: problems.list };
}

function parseEnable(key: string, value: string, problems: Problems): boolean {
  const parsed = parseBool(value);
  if (parsed === undefined) problems.add(key, `expected true or false, got ${show(value)}; the instance is not routed`);
  return parsed === true;
}

/** Go's strconv.ParseBool, which Traefik uses for its labels. */
export function parseBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

function classify(key: string, lower: string, value: string, raw: RawSections, problems: Problems): void {
  const parts = lower.split(".");
  const protocol = parts[1];
  const section = parts[2];
  if (protocol !== "http" && protocol !== "tcp" && protocol !== "udp") {
    problems.add(key, "not used by the cluster provider; ignored");
    return;
  }
  if (section === "middlewares") {
    problems.add(key, "middlewares are not defined by label here; attach compress, security-headers or cors with traefik.http.routers.<name>.middlewares; ignored");
    return;
  }
  if ((section !== "routers" && section !== "services") || parts.length < 5) {
    problems.add(key, `expected traefik.${protocol}.routers.<name>.<field> or traefik.${protocol}.services.<name>.<field>; ignored`);
    return;
  }
  const name = parts[3]!;
  if (!namePattern.test(name)) {
    problems.add(key, `${show(name)} is not a router or service name (letters, digits, - and _); ignored`);
    return;
  }
  raw[protocol][section].push({ key, value, name, field: parts.slice(4).join(".") });
}

/** Labels of the one router or service name used; several names are reported and only the first is read. */
function onlyFirstName(labels: RawLabel[], what: string, problems: Problems): RawLabel[] {
  const names = [...new Set(labels.map((label) => label.name))].sort();
  if (names.length > 1) {
    problems.add(undefined, `labels name ${names.length} ${what}s (${names.join(", ")}); one per container is supported, so only "${names[0]}" is read`);
  }
  return labels.filter((label) => label.name === names[0]);
}

/** Applies one label value to a draft; returns a problem message, or undefined when the value was taken. */
type FieldHandler<T> = (value: string, draft: T, context: LabelContext) => string | undefined;

interface FieldTable<T> {
  handlers: Record<string, FieldHandler<T>>;
  /** Fields that Traefik knows but the generator writes itself. */
  writtenByUs: ReadonlySet<string>;
}

function applyFields<T>(labels: RawLabel[], table: FieldTable<T>, draft: T, context: LabelContext, problems: Problems): void {
  for (const label of labels) {
    const handler = table.handlers[label.field];
    if (handler) {
      const problem = handler(label.value, draft, context);
      if (problem !== undefined) problems.add(label.key, problem);
    } else if (table.writtenByUs.has(label.field)) {
      problems.add(label.key, "the cluster provider writes rules, service links and TLS itself; ignored");
    } else {
      problems.add(label.key, "not supported by the cluster provider; ignored");
    }
  }
}

const routerFieldsWrittenByUs = ["rule", "rulesyntax", "service", "priority", "tls", "tls.options", "tls.domains", "tls.domains[0].main"];
const noFieldsWrittenByUs: ReadonlySet<string> = new Set();

interface TcpDraft {
  port: number | undefined;
  entryPoints: string[] | undefined;
  passthrough: boolean;
}

interface UdpDraft {
  port: number | undefined;
  entryPoints: string[] | undefined;
  hostPort: number | undefined;
}

// The tables are built once: a parse allocates no handlers.
const httpServiceFields: FieldTable<HttpSettings> = {
  handlers: {
    "loadbalancer.server.port": (value, d) => setPort(value, (port) => (d.port = port)),
    "loadbalancer.server.scheme": (value, d) => {
      const scheme = value.toLowerCase();
      if (scheme !== "http" && scheme !== "https" && scheme !== "h2c") return `expected http, https or h2c, got ${show(value)}; using http`;
      d.scheme = scheme;
      return undefined;
    },
    "loadbalancer.healthcheck.path": (value, d) => {
      if (!healthPathPattern.test(value)) return `expected an absolute path such as /healthz (URL characters only, at most 256), got ${show(value)}; using /`;
      d.healthCheck.path = value;
      return undefined;
    },
    "loadbalancer.healthcheck.interval": (value, d) => setDuration(value, 1_000, 86_400_000, (text) => (d.healthCheck.interval = text)),
    "loadbalancer.healthcheck.timeout": (value, d) => setDuration(value, 100, 3_600_000, (text) => (d.healthCheck.timeout = text)),
    "loadbalancer.strategy": (value, d, context) => setStrategy(value, context, d),
  },
  writtenByUs: noFieldsWrittenByUs,
};

const httpRouterFields: FieldTable<HttpSettings> = {
  handlers: {
    middlewares: (value, d) => setMiddlewares(value, d),
    entrypoints: (value, d, context) => setEntryPoints(value, context, (list) => (d.entryPoints = list)),
    "tls.certresolver": (value, d) => {
      if (!resolverPattern.test(value)) return `expected a certificate resolver name (letters, digits, - and _), got ${show(value)}; using the configured one`;
      d.certResolver = value;
      return undefined;
    },
  },
  writtenByUs: new Set(routerFieldsWrittenByUs),
};

const tcpServiceFields: FieldTable<TcpDraft> = {
  handlers: { "loadbalancer.server.port": (value, d) => setPort(value, (port) => (d.port = port)) },
  writtenByUs: noFieldsWrittenByUs,
};

const tcpRouterFields: FieldTable<TcpDraft> = {
  handlers: {
    entrypoints: (value, d, context) => setEntryPoints(value, context, (list) => (d.entryPoints = list)),
    "tls.passthrough": (value, d) => {
      const parsed = parseBool(value);
      if (parsed === undefined) return `expected true or false, got ${show(value)}; using true`;
      d.passthrough = parsed;
      return undefined;
    },
  },
  writtenByUs: new Set(routerFieldsWrittenByUs.filter((field) => field !== "tls.passthrough")),
};

const udpServiceFields: FieldTable<UdpDraft> = {
  handlers: { "loadbalancer.server.port": (value, d) => setPort(value, (port) => (d.port = port)) },
  writtenByUs: noFieldsWrittenByUs,
};

const udpRouterFields: FieldTable<UdpDraft> = {
  handlers: { entrypoints: (value, d, context) => setEntryPoints(value, context, (list) => (d.entryPoints = list)) },
  writtenByUs: new Set(["service"]),
};

function httpSettings(raw: RawSections["http"], context: LabelContext, problems: Problems): HttpSettings {
  const draft: HttpSettings = {
    port: undefined,
    scheme: "http",
    healthCheck: { ...healthCheckDefaults },
    middlewares: [],
    entryPoints: undefined,
    certResolver: undefined,
    strategy: "wrr",
  };
  applyFields(onlyFirstName(raw.services, "HTTP service", problems), httpServiceFields, draft, context, problems);
  applyFields(onlyFirstName(raw.routers, "HTTP router", problems), httpRouterFields, draft, context, problems);
  return draft;
}

function tcpSettings(raw: RawSections["tcp"], context: LabelContext, problems: Problems): TcpSettings | undefined {
  const draft: TcpDraft = { port: undefined, entryPoints: undefined, passthrough: true };
  applyFields(onlyFirstName(raw.services, "TCP service", problems), tcpServiceFields, draft, context, problems);
  applyFields(onlyFirstName(raw.routers, "TCP router", problems), tcpRouterFields, draft, context, problems);
  if (!draft.passthrough) {
    // Between nodes a TCP connection is routed by its TLS server name, which
    // only survives when TLS is passed through to the container.
    problems.add(undefined, "TCP routes are TLS passthrough only (the hop between nodes is routed by the TLS server name); no TCP route");
    return undefined;
  }
  return { port: draft.port, entryPoints: draft.entryPoints };
}

function udpSettings(
  raw: RawSections["udp"],
  hostPortLabel: [string, string] | undefined,
  context: LabelContext,
  problems: Problems,
): UdpSettings | undefined {
  const draft: UdpDraft = { port: undefined, entryPoints: undefined, hostPort: undefined };
  applyFields(onlyFirstName(raw.services, "UDP service", problems), udpServiceFields, draft, context, problems);
  applyFields(onlyFirstName(raw.routers, "UDP router", problems), udpRouterFields, draft, context, problems);
  if (hostPortLabel) {
    const problem = setPort(hostPortLabel[1], (port) => (draft.hostPort = port));
    if (problem) problems.add(hostPortLabel[0], problem);
  }
  if (!draft.entryPoints) {
    // UDP has no host name to route by: each route needs its own entry point.
    problems.add(undefined, "a UDP route needs traefik.udp.routers.<name>.entrypoints naming a UDP entry point; no UDP route");
    return undefined;
  }
  return { port: draft.port, entryPoints: draft.entryPoints, hostPort: draft.hostPort };
}

export function parsePort(value: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function setPort(value: string, set: (port: number) => void): string | undefined {
  const port = parsePort(value);
  if (port === undefined) return `expected a port number from 1 to 65535, got ${show(value)}; ignored`;
  set(port);
  return undefined;
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A Go duration ("30s", "1m30s") or whole seconds ("30") in milliseconds; undefined if neither. */
export function parseDurationMs(value: string): number | undefined {
  if (/^[0-9]{1,6}$/.test(value)) return Number(value) * 1_000;
  if (!/^([0-9]{1,6}(ms|s|m|h))+$/.test(value)) return undefined;
  let totalMs = 0;
  for (const match of value.matchAll(/([0-9]+)(ms|s|m|h)/g)) totalMs += Number(match[1]) * durationUnitsMs[match[2]!]!;
  return totalMs;
}

/** The shortest Go duration string for a whole number of milliseconds. */
export function formatDuration(totalMs: number): string {
  if (totalMs % 3_600_000 === 0) return `${totalMs / 3_600_000}h`;
  if (totalMs % 60_000 === 0) return `${totalMs / 60_000}m`;
  if (totalMs % 1_000 === 0) return `${totalMs / 1_000}s`;
  return `${totalMs}ms`;
}

function setDuration(value: string, minMs: number, maxMs: number, set: (text: string) => void): string | undefined {
  const totalMs = parseDurationMs(value);
  if (totalMs === undefined || totalMs < minMs || totalMs > maxMs) {
    return `expected a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)} such as 30s or 1m, got ${show(value)}; using the default`;
  }
  set(formatDuration(totalMs));
  return undefined;
}

function setStrategy(value: string, context: LabelContext, draft: HttpSettings): string | undefined {
  const strategy = value.toLowerCase();
  if (strategy !== "wrr" && strategy !== "p2c") return `expected wrr or p2c, got ${show(value)}; using wrr`;
  if (strategy === "p2c" && context.traefikMinorVersion < 4) {
    return `strategy p2c needs Traefik 3.4 or newer and the provider is configured for Traefik 3.${context.traefikMinorVersion}; using wrr`;
  }
  draft.strategy = strategy;
  return undefined;
}

function listItems(value: string): string[] {
  return value.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

function setEntryPoints(value: string, context: LabelContext, set: (list: string[]) => void): string | undefined {
  const items = [...new Set(listItems(value))];
  if (items.length === 0 || items.length > listItemsMax) return `expected 1 to ${listItemsMax} entry point names separated by commas, got ${show(value)}; using the configured ones`;
  const bad = items.find((item) => !entryPointPattern.test(item));
  if (bad !== undefined) return `${show(bad)} is not an entry point name (letters, digits, - and _); using the configured ones`;
  if (items.includes(context.meshEntryPoint)) {
    return `the mesh entry point "${context.meshEntryPoint}" only carries traffic between nodes and cannot be named here; using the configured ones`;
  }
  set(items);
  return undefined;
}

/** Keeps the valid entries and reports the invalid ones, so one typo does not drop the others. */
function setMiddlewares(value: string, draft: HttpSettings): string | undefined {
  const items = listItems(value);
  if (items.length > listItemsMax) return `expected at most ${listItemsMax} middlewares, got ${items.length}; none attached`;
  const kept: string[] = [];
  const rejected: string[] = [];
  for (const item of items) {
    const local = item.endsWith("@http") ? item.slice(0, -"@http".length) : item;
    const ours = (providerMiddlewares as readonly string[]).includes(local);
    const foreign = !item.endsWith("@http") && foreignMiddlewarePattern.test(item);
    if (!ours && !foreign) {
      rejected.push(show(item));
      continue;
    }
    const name = ours ? local : item;
    if (!kept.includes(name)) kept.push(name);
  }
  draft.middlewares = kept;
  if (rejected.length === 0) return undefined;
  return `${rejected.join(", ")} ${rejected.length === 1 ? "is" : "are"} neither compress, security-headers, cors nor a name@provider reference; not attached`;
}
