// From a container snapshot to the health of a service instance.
//
// The seed's states: healthy = running and its healthcheck passing (or it has
// none); unhealthy = running and failing; stopped = not running. Around them:
// - a container Docker still calls "starting" (inside its start period, or
//   before its first passing probe) is not yet unhealthy: it is published as
//   unhealthy so it gets no traffic, but it counts no failure and is never
//   restarted for it;
// - a paused container is running to Docker but answers nobody: unhealthy;
// - an exited one-shot container (restart policy "no", exit code 0) finished
//   its job and is not a service at all, so it is withdrawn, not reported
//   stopped forever.
//
// `consecutive_failures` counts how often the instance was seen turning
// unhealthy or stopped since it was last healthy; `last_failure_time` is the
// latest such turn, `last_success_time` the latest time it was seen healthy.
// Counting turns rather than probes keeps the replicated record still while
// nothing changes.
//
// Endpoints: the container's address on the proxy network plus a port. The
// network is the one the `traefik.docker.network` label names, else the
// first configured proxy network the container is on, else its first network
// in name order. The port is the one the labels give for the protocol
// (`traefik.<http|tcp|udp>.services.<name>.loadbalancer.server.port`, the
// service named like the instance first, else the first name in order), else
// the lowest exposed TCP port, published as http. A stopped container has no
// address; its last known endpoints stay, so its record does not churn on
// every restart.

import type { ServiceStatus } from "../state/model.ts";
import type { ContainerSnapshot } from "./container.ts";
import { quote } from "./labels.ts";

/** What the monitor calls the container's condition; finer than the published status. */
export type ContainerPhase = "healthy" | "running" | "starting" | "unhealthy" | "paused" | "stopped" | "finished";

export interface Classification {
  phase: ContainerPhase;
  /** undefined: not a service (a finished one-shot). */
  status: ServiceStatus | undefined;
  /** True when this phase counts as a failure turn. */
  failing: boolean;
}

export function classify(snapshot: ContainerSnapshot): Classification {
  switch (snapshot.state) {
    case "running":
      switch (snapshot.health) {
        case "none":
          return { phase: "running", status: "healthy", failing: false };
        case "healthy":
          return { phase: "healthy", status: "healthy", failing: false };
        case "starting":
          return { phase: "starting", status: "unhealthy", failing: false };
        case "unhealthy":
          return { phase: "unhealthy", status: "unhealthy", failing: true };
      }
      break;
    case "paused":
      return { phase: "paused", status: "unhealthy", failing: true };
    case "exited":
      if (snapshot.exitCode === 0 && (snapshot.restartPolicy === "no" || snapshot.restartPolicy === "")) {
        return { phase: "finished", status: undefined, failing: false };
      }
      return { phase: "stopped", status: "stopped", failing: true };
    case "created":
      // Created but never started (or being started): not serving, but nothing has failed yet.
      return { phase: "stopped", status: "stopped", failing: false };
    case "restarting":
    case "removing":
    case "dead":
    case "unknown":
      return { phase: "stopped", status: "stopped", failing: true };
  }
  return { phase: "stopped", status: "stopped", failing: true };
}

/** The failure bookkeeping of one instance, carried from one observation to the next. */
export interface FailureRecord {
  status: ServiceStatus;
  consecutiveFailures: number;
  lastFailureWallMs: number | undefined;
  lastSuccessWallMs: number | undefined;
}

/**
 * The next failure record after an observation. A failure turn is counted
 * when the instance enters a failing phase from a non-failing one (or is
 * first seen failing); a healthy observation resets the count.
 */
export function nextFailureRecord(previous: FailureRecord | undefined, previousFailing: boolean, now: Classification & { status: ServiceStatus }, nowWallMs: number): FailureRecord {
  if (now.status === "healthy") {
    return { status: now.status, consecutiveFailures: 0, lastFailureWallMs: previous?.lastFailureWallMs, lastSuccessWallMs: nowWallMs };
  }
  const turned = now.failing && (previous === undefined || !previousFailing);
  return {
    status: now.status,
    consecutiveFailures: (previous?.consecutiveFailures ?? 0) + (turned ? 1 : 0),
    lastFailureWallMs: turned ? nowWallMs : previous?.lastFailureWallMs,
    lastSuccessWallMs: previous?.lastSuccessWallMs,
  };
}

export interface EndpointOptions {
  /** Networks to reach containers on, in order of preference (e.g. ["publicnet", "<stack>_publicnet"]). */
  proxyNetworks: readonly string[];
}

export interface EndpointResult {
  /** protocol -> URL; empty when the container has no address or no port. */
  endpoints: Record<string, string>;
  /** Names of the container's networks, sorted. */
  networks: string[];
  problems: string[];
}

const portLabelPattern = /^traefik\.(http|tcp|udp)\.services\.([^.]+)\.loadbalancer\.server\.port$/;
/** Networks listed per instance (the replicated record allows 16). */
const networksPublishedMax = 16;
const networkNameMax = 256;

function addressOf(snapshot: ContainerSnapshot, dockerNetwork: string | undefined, options: EndpointOptions, problems: string[]): string | undefined {
  const withAddress = snapshot.networks.filter((network) => network.ipv4 !== "" || network.ipv6 !== "");
  const pick = (name: string) => withAddress.find((network) => network.name === name);
  let chosen = dockerNetwork !== undefined ? pick(dockerNetwork) : undefined;
  if (dockerNetwork !== undefined && !chosen && withAddress.length > 0) {
    problems.push(`label traefik.docker.network names ${quote(dockerNetwork)}, which the container has no address on; another network is used`);
  }
  for (const name of options.proxyNetworks) chosen ??= pick(name);
  chosen ??= withAddress[0];
  if (!chosen) return undefined;
  return chosen.ipv4 !== "" ? chosen.ipv4 : `[${chosen.ipv6}]`;
}

/** The port each protocol's labels give; a malformed one is a problem and is skipped. */
function labelPorts(serviceName: string, labels: Readonly<Record<string, string>>, problems: string[]): Map<string, number> {
  const candidates = new Map<string, { name: string; key: string; value: string }[]>();
  for (const key of Object.keys(labels).sort()) {
    const match = portLabelPattern.exec(key.toLowerCase());
    if (!match) continue;
    const list = candidates.get(match[1]!) ?? [];
    list.push({ name: match[2]!, key, value: labels[key]! });
    candidates.set(match[1]!, list);
  }
  const ports = new Map<string, number>();
  for (const [protocol, list] of candidates) {
    const chosen = list.find((candidate) => candidate.name === serviceName.toLowerCase()) ?? list[0]!;
    const value = chosen.value.trim();
    const port = /^\d{1,5}$/.test(value) ? Number(value) : 0;
    if (port < 1 || port > 65535) {
      problems.push(`label ${chosen.key} = ${quote(chosen.value)}: expected a port from 1 to 65535; ignored`);
      continue;
    }
    ports.set(protocol, port);
  }
  return ports;
}

export function endpointsOf(
  snapshot: ContainerSnapshot,
  serviceName: string,
  labels: Readonly<Record<string, string>>,
  dockerNetwork: string | undefined,
  options: EndpointOptions,
): EndpointResult {
  const problems: string[] = [];
  const networks = snapshot.networks
    .map((network) => network.name)
    .filter((name) => name.length <= networkNameMax)
    .slice(0, networksPublishedMax);
  const ports = labelPorts(serviceName, labels, problems);
  const address = addressOf(snapshot, dockerNetwork, options, problems);
  const endpoints: Record<string, string> = {};
  if (address === undefined) return { endpoints, networks, problems };
  if (ports.size === 0) {
    const exposed = snapshot.exposedPorts.find((port) => port.protocol === "tcp");
    if (exposed) ports.set("http", exposed.port);
  }
  for (const protocol of [...ports.keys()].sort()) endpoints[protocol] = `${protocol}://${address}:${ports.get(protocol)}`;
  return { endpoints, networks, problems };
}
