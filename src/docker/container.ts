// One container as the monitor sees it, parsed from the Docker Engine API's
// inspect answer (GET /containers/{id}/json) and list answer (GET
// /containers/json). The answers are JSON from a daemon that may be of any
// version, so every field is read defensively: a missing or odd field takes
// a neutral value, and only an answer without an id or a name is refused.

export type ContainerState = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead" | "unknown";
/** Docker's health status; "none" when the container has no healthcheck. */
export type DockerHealth = "none" | "starting" | "healthy" | "unhealthy";

export interface ContainerNetwork {
  name: string;
  /** "" when the container has no address there (stopped, or not yet connected). */
  ipv4: string;
  ipv6: string;
}

export interface ExposedPort {
  port: number;
  protocol: "tcp" | "udp" | "sctp";
}

export interface ContainerSnapshot {
  id: string;
  /** Without Docker's leading "/". */
  name: string;
  image: string;
  labels: Record<string, string>;
  state: ContainerState;
  exitCode: number;
  /** Wall-clock ms of the latest start; undefined when never started. */
  startedAtMs: number | undefined;
  health: DockerHealth;
  /** Consecutive failed probes, as Docker counts them. */
  failingStreak: number;
  /** The healthcheck's start period, in ms (0 when none). */
  startPeriodMs: number;
  /** Docker restart policy name: "no", "always", "unless-stopped" or "on-failure". */
  restartPolicy: string;
  networkMode: string;
  /** Sorted by name. */
  networks: ContainerNetwork[];
  /** Sorted by port, then protocol. */
  exposedPorts: ExposedPort[];
}

/** Labels and networks read per container; Docker allows more, the monitor does not need them. */
const labelsParsedMax = 4096;
const networksParsedMax = 64;
const exposedPortsParsedMax = 256;

type Json = Record<string, unknown>;

function object(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown, fallback = ""): string {
  return typeof value === "string" ? value : fallback;
}

function integer(value: unknown): number {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : 0;
}

const states: readonly ContainerState[] = ["created", "running", "paused", "restarting", "removing", "exited", "dead"];

function parseState(value: unknown): ContainerState {
  return states.find((state) => state === value) ?? "unknown";
}

function parseHealth(value: unknown): DockerHealth {
  return value === "starting" || value === "healthy" || value === "unhealthy" ? value : "none";
}

/** Docker writes "0001-01-01T00:00:00Z" for a time that never happened. */
export function parseDockerTime(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

function parseLabels(value: unknown): Record<string, string> {
  const labels: Record<string, string> = {};
  let count = 0;
  for (const [key, label] of Object.entries(object(value))) {
    if (typeof label !== "string") continue;
    if (++count > labelsParsedMax) break;
    labels[key] = label;
  }
  return labels;
}

function parseNetworks(value: unknown): ContainerNetwork[] {
  const networks: ContainerNetwork[] = [];
  for (const [name, raw] of Object.entries(object(value))) {
    if (networks.length >= networksParsedMax) break;
    const network = object(raw);
    networks.push({ name, ipv4: text(network.IPAddress), ipv6: text(network.GlobalIPv6Address) });
  }
  return networks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function parseExposedPorts(value: unknown): ExposedPort[] {
  const ports: ExposedPort[] = [];
  for (const key of Object.keys(object(value))) {
    if (ports.length >= exposedPortsParsedMax) break;
    const match = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/.exec(key);
    const port = match ? Number(match[1]) : 0;
    if (!match || port < 1 || port > 65535) continue;
    ports.push({ port, protocol: (match[2] ?? "tcp") as ExposedPort["protocol"] });
  }
  return ports.sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
}

/** Nanoseconds (Docker's unit for healthcheck durations) to ms. */
function nanosToMs(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value / 1_000_000) : 0;
}

export function parseInspect(raw: unknown): { ok: true; snapshot: ContainerSnapshot } | { ok: false; error: string } {
  const root = object(raw);
  const id = text(root.Id);
  const name = text(root.Name).replace(/^\//, "");
  if (!/^[0-9a-f]{12,64}$/.test(id)) return { ok: false, error: "inspect answer without a container id" };
  if (name === "") return { ok: false, error: `inspect answer for ${id.slice(0, 12)} without a name` };
  const state = object(root.State);
  const health = object(state.Health);
  const config = object(root.Config);
  const hostConfig = object(root.HostConfig);
  const networkSettings = object(root.NetworkSettings);
  const parsedState = parseState(state.Status);
  return {
    ok: true,
    snapshot: {
      id,
      name,
      image: text(config.Image, text(root.Image)),
      labels: parseLabels(config.Labels),
      // A paused container is still "running" to Docker; the state string tells them apart.
      state: parsedState === "unknown" && state.Running === true ? "running" : parsedState,
      exitCode: integer(state.ExitCode),
      startedAtMs: parseDockerTime(state.StartedAt),
      health: parseHealth(health.Status),
      failingStreak: Math.max(0, integer(health.FailingStreak)),
      startPeriodMs: nanosToMs(object(config.Healthcheck).StartPeriod),
      restartPolicy: text(object(hostConfig.RestartPolicy).Name) || "no",
      networkMode: text(hostConfig.NetworkMode),
      networks: parseNetworks(networkSettings.Networks),
      exposedPorts: parseExposedPorts(config.ExposedPorts),
    },
  };
}

/**
 * What a list entry says about a container, as one comparable string: its
 * state, its health (which the list only gives inside the status text) and
 * its addresses. A full resync inspects only containers whose key changed,
 * so a steady engine costs one list call per resync.
 */
export function summaryKey(raw: unknown): { id: string; key: string } | undefined {
  const entry = object(raw);
  const id = text(entry.Id);
  if (!/^[0-9a-f]{12,64}$/.test(id)) return undefined;
  const state = text(entry.State);
  const status = text(entry.Status);
  // Health counts only while running: a stopped container keeps its last health in inspect, not in the list.
  const health =
    state !== "running" ? "none" : /\(health: starting\)/.test(status) ? "starting" : /\(unhealthy\)/.test(status) ? "unhealthy" : /\(healthy\)/.test(status) ? "healthy" : "none";
  const networks = parseNetworks(object(entry.NetworkSettings).Networks)
    .map((network) => `${network.name}=${network.ipv4}/${network.ipv6}`)
    .join(",");
  // Legacy links add "/other/alias" names; the container's own name has one slash.
  const name = Array.isArray(entry.Names) ? entry.Names.find((n): n is string => typeof n === "string" && /^\/[^/]+$/.test(n)) ?? "" : "";
  return { id, key: `${state}|${health}|${name}|${networks}` };
}

/** The same key computed from an inspected snapshot, so both sides compare equal when nothing changed. */
export function snapshotKey(snapshot: ContainerSnapshot): string {
  const networks = snapshot.networks.map((network) => `${network.name}=${network.ipv4}/${network.ipv6}`).join(",");
  const health = snapshot.state === "running" ? snapshot.health : "none";
  return `${snapshot.state}|${health}|/${snapshot.name}|${networks}`;
}
