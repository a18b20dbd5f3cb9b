// The Docker section of the configuration turned into the monitor's
// options, and the checks the schema alone cannot express (values that must
// parse, bounds between two fields). Start-up reports each problem with the
// key and where its value came from.

import type { DockerConfig } from "../config/schema.ts";
import { parseEdgeBinding, type EdgeBinding } from "./edge.ts";
import { parseScopeLabel } from "./labels.ts";
import { monitorDefaults, type MonitorOptions } from "./monitor.ts";

export interface DockerConfigProblem {
  key: string;
  message: string;
}

export function dockerConfigProblems(docker: DockerConfig): DockerConfigProblem[] {
  const problems: DockerConfigProblem[] = [];
  if (docker.scopeLabel !== "") {
    const scope = parseScopeLabel(docker.scopeLabel);
    if (typeof scope === "string") problems.push({ key: "docker.scopeLabel", message: scope });
  }
  if (docker.reconnectMinMs > docker.reconnectMaxMs) {
    problems.push({ key: "docker.reconnectMinMs", message: `must not exceed docker.reconnectMaxMs = ${docker.reconnectMaxMs}` });
  }
  if (docker.restart.backoffBaseMs > docker.restart.backoffMaxMs) {
    problems.push({ key: "docker.restart.backoffBaseMs", message: `must not exceed docker.restart.backoffMaxMs = ${docker.restart.backoffMaxMs}` });
  }
  try {
    const url = new URL(docker.warp.traceUrl);
    if (url.protocol !== "http:" && url.protocol !== "https:") problems.push({ key: "docker.warp.traceUrl", message: "expected an http:// or https:// URL" });
  } catch {
    problems.push({ key: "docker.warp.traceUrl", message: `${JSON.stringify(docker.warp.traceUrl)} is not a URL` });
  }
  for (const text of docker.edge.bindings) {
    const binding = parseEdgeBinding(text);
    if (typeof binding === "string") problems.push({ key: "docker.edge.bindings", message: binding });
  }
  return problems;
}

/** The scope label as key and value (already checked at start-up), or undefined when every container is in scope. */
export function scopeOf(docker: DockerConfig): { key: string; value: string } | undefined {
  const scope = docker.scopeLabel === "" ? undefined : parseScopeLabel(docker.scopeLabel);
  return typeof scope === "object" ? scope : undefined;
}

/** The edge bindings, already checked at start-up. */
export function edgeBindingsOf(docker: DockerConfig): EdgeBinding[] {
  return docker.edge.bindings.map(parseEdgeBinding).filter((binding): binding is EdgeBinding => typeof binding !== "string");
}

export function monitorOptionsFromConfig(nodeName: string, stackName: string, docker: DockerConfig): MonitorOptions {
  const proxyNetworks = docker.proxyNetwork === "" ? [] : [docker.proxyNetwork, `${stackName}_${docker.proxyNetwork}`];
  return {
    nodeName,
    proxyNetworks,
    scope: scopeOf(docker),
    restart: {
      dryRun: docker.restart.dryRun,
      graceMs: docker.restart.graceMs,
      backoffBaseMs: docker.restart.backoffBaseMs,
      backoffMaxMs: docker.restart.backoffMaxMs,
      budgetPerHour: docker.restart.budgetPerHour,
    },
    containersMax: monitorDefaults.containersMax,
    historyMax: monitorDefaults.historyMax,
  };
}
