// Load-balancer port binding, pure half. The node holding the `lb_leader`
// lease makes its edge proxy container (Traefik) publish the public ports;
// the others must not. Docker cannot add a port binding to an existing
// container, so a change means recreating the container with the same
// specification plus (or minus) the bindings. This file decides whether a
// change is needed and builds the new container's specification from the
// old one's inspect answer; src/node/docker-edge.ts carries it out under the
// lease's fencing check.
//
// Only the configured bindings are ever added or removed: other bindings
// the container has are kept as they are.

export interface EdgeBinding {
  /** "" binds every address, as Docker's default. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

export type EdgeWanted = "published" | "withdrawn";

type PortBindings = Record<string, { HostIp: string; HostPort: string }[]>;

export type EdgePlan =
  | { kind: "unchanged" }
  | { kind: "recreate"; portBindings: PortBindings; exposedPorts: string[]; added: string[]; removed: string[] };

const bindingPattern = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/;

/** "[hostIp:]hostPort:containerPort[/tcp|udp]", as `docker run -p` writes it; a string says what is wrong. */
export function parseEdgeBinding(text: string): EdgeBinding | string {
  const match = bindingPattern.exec(text.trim());
  if (!match) return `${JSON.stringify(text)}: expected [hostIp:]hostPort:containerPort[/tcp|udp], e.g. 443:443`;
  const hostPort = Number(match[2]);
  const containerPort = Number(match[3]);
  if (hostPort < 1 || hostPort > 65535 || containerPort < 1 || containerPort > 65535) {
    return `${JSON.stringify(text)}: ports must be from 1 to 65535`;
  }
  const hostIp = (match[1] ?? "").replace(/^\[|\]$/g, "");
  return { hostIp, hostPort, containerPort, protocol: (match[4] ?? "tcp") as "tcp" | "udp" };
}

export function describeBinding(binding: EdgeBinding): string {
  const host = binding.hostIp === "" ? "" : binding.hostIp.includes(":") ? `[${binding.hostIp}]:` : `${binding.hostIp}:`;
  return `${host}${binding.hostPort}->${binding.containerPort}/${binding.protocol}`;
}

function sameHostIp(a: string, b: string): boolean {
  const normal = (ip: string) => (ip === "0.0.0.0" || ip === "::" ? "" : ip);
  return normal(a) === normal(b);
}

function readPortBindings(value: unknown): PortBindings {
  const result: PortBindings = {};
  if (value === null || typeof value !== "object") return result;
  for (const [key, list] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(list)) continue;
    result[key] = list
      .filter((item): item is Record<string, unknown> => item !== null && typeof item === "object")
      .map((item) => ({ HostIp: typeof item.HostIp === "string" ? item.HostIp : "", HostPort: typeof item.HostPort === "string" ? item.HostPort : "" }));
  }
  return result;
}

function holds(bindings: PortBindings, binding: EdgeBinding): boolean {
  const list = bindings[`${binding.containerPort}/${binding.protocol}`] ?? [];
  return list.some((item) => sameHostIp(item.HostIp, binding.hostIp) && item.HostPort === String(binding.hostPort));
}

/** Whether the container's current bindings (HostConfig.PortBindings) need a change to be as wanted. */
export function planEdge(currentPortBindings: unknown, wanted: EdgeWanted, bindings: readonly EdgeBinding[]): EdgePlan {
  const current = readPortBindings(currentPortBindings);
  const next: PortBindings = structuredCopy(current);
  const added: string[] = [];
  const removed: string[] = [];
  for (const binding of bindings) {
    const key = `${binding.containerPort}/${binding.protocol}`;
    const present = holds(current, binding);
    if (wanted === "published" && !present) {
      next[key] = [...(next[key] ?? []), { HostIp: binding.hostIp, HostPort: String(binding.hostPort) }];
      added.push(describeBinding(binding));
    } else if (wanted === "withdrawn" && present) {
      const kept = (next[key] ?? []).filter((item) => !(sameHostIp(item.HostIp, binding.hostIp) && item.HostPort === String(binding.hostPort)));
      if (kept.length > 0) next[key] = kept;
      else delete next[key];
      removed.push(describeBinding(binding));
    }
  }
  if (added.length === 0 && removed.length === 0) return { kind: "unchanged" };
  const exposedPorts = wanted === "published" ? bindings.map((binding) => `${binding.containerPort}/${binding.protocol}`) : [];
  return { kind: "recreate", portBindings: next, exposedPorts: [...new Set(exposedPorts)].sort(), added, removed };
}

function structuredCopy(bindings: PortBindings): PortBindings {
  const copy: PortBindings = {};
  for (const [key, list] of Object.entries(bindings)) copy[key] = list.map((item) => ({ ...item }));
  return copy;
}

export interface RecreateSpec {
  name: string;
  /** Body of POST /containers/create (without the name). */
  create: Record<string, unknown>;
  /** Networks beyond the first, to connect before the container starts (older engines take one at create). */
  extraNetworks: { name: string; endpoint: Record<string, unknown> }[];
}

type Json = Record<string, unknown>;
const asObject = (value: unknown): Json => (value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {});

/**
 * The specification of a container identical to the inspected one except
 * for its port bindings. The image is taken by id, so a tag that moved
 * since does not change what runs. A hostname Docker generated from the old
 * id is dropped so the new container gets its own.
 */
export function recreateSpec(inspect: unknown, plan: Extract<EdgePlan, { kind: "recreate" }>): RecreateSpec | string {
  const root = asObject(inspect);
  const id = typeof root.Id === "string" ? root.Id : "";
  const name = typeof root.Name === "string" ? root.Name.replace(/^\//, "") : "";
  const image = typeof root.Image === "string" ? root.Image : "";
  if (id === "" || name === "" || image === "") return "the inspect answer lacks the container's id, name or image";
  const config: Json = { ...asObject(root.Config), Image: image };
  if (config.Hostname === id.slice(0, 12)) delete config.Hostname;
  const exposed: Json = { ...asObject(config.ExposedPorts) };
  for (const port of plan.exposedPorts) exposed[port] = {};
  config.ExposedPorts = exposed;
  const hostConfig: Json = { ...asObject(root.HostConfig), PortBindings: plan.portBindings };
  const networks = Object.entries(asObject(asObject(root.NetworkSettings).Networks)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const endpointOf = (raw: unknown): Json => {
    const endpoint = asObject(raw);
    // Docker adds the short id as an alias by itself; copying it would name the new container after the old one.
    const aliases = Array.isArray(endpoint.Aliases) ? endpoint.Aliases.filter((alias) => alias !== id.slice(0, 12)) : [];
    const result: Json = { Aliases: aliases };
    if (endpoint.IPAMConfig) result.IPAMConfig = endpoint.IPAMConfig;
    if (Array.isArray(endpoint.Links)) result.Links = endpoint.Links;
    if (endpoint.DriverOpts) result.DriverOpts = endpoint.DriverOpts;
    return result;
  };
  const networkMode = typeof hostConfig.NetworkMode === "string" ? hostConfig.NetworkMode : "";
  const first = networks.find(([networkName]) => networkName === networkMode) ?? networks[0];
  const create: Json = { ...config, HostConfig: hostConfig };
  const extraNetworks: RecreateSpec["extraNetworks"] = [];
  // host, none and container:<id> modes have no per-network endpoints to carry over.
  const bridged = !["host", "none"].includes(networkMode) && !networkMode.startsWith("container:");
  if (first && bridged) {
    create.NetworkingConfig = { EndpointsConfig: { [first[0]]: endpointOf(first[1]) } };
    for (const [networkName, raw] of networks) {
      if (networkName !== first[0]) extraNetworks.push({ name: networkName, endpoint: endpointOf(raw) });
    }
  }
  return { name, create, extraNetworks };
}

/**
 * Names the edge action gives containers while it swaps them: the new one
 * before it takes the real name, the old one until it is removed. The
 * monitor does not treat such transient containers as services.
 */
export const edgeTransientNamePattern = /-constellation-(?:next|old)-[0-9a-f]{8}$/;

export function edgeTransientName(name: string, role: "next" | "old", suffixHex: string): string {
  return `${name.slice(0, 200)}-constellation-${role}-${suffixHex}`;
}
