// Load-balancer port binding, shell half: makes the edge proxy container
// publish (or stop publishing) the configured ports by recreating it with
// the same specification plus (or minus) the bindings, as planned by
// src/docker/edge.ts.
//
// The swap: create the new container under a transient name (old one still
// serving), connect its other networks, stop the old one, move the names,
// start the new one, remove the old one. `mayAct()` is asked before each
// step that changes what runs (before creating, before stopping the old
// container, before starting the new one); the caller makes it the lease's
// fencing check (for "published": this node still holds lb_leader under the
// token it acted on). A "no" before anything ran changes nothing; a "no" or
// a failure after the old container stopped rolls back: the new container
// is removed and the old one gets its name back and is started again.
// Every outcome is a value; nothing here throws for Docker's sake.

import { randomBytes } from "node:crypto";
import type { DockerClient } from "../adapters/docker-client.ts";
import type { Logger } from "../lib/log.ts";
import { edgeTransientName, planEdge, recreateSpec, type EdgeBinding, type EdgeWanted } from "../docker/edge.ts";

export type EdgeStep = "inspect" | "plan" | "create" | "connect" | "stop" | "rename" | "start";

export type EdgeResult =
  | { kind: "unchanged" }
  | { kind: "not-found"; detail: string }
  | { kind: "recreated"; containerId: string; added: string[]; removed: string[]; leftover: string | undefined }
  | { kind: "fenced"; before: EdgeStep; rolledBack: boolean }
  | { kind: "failed"; step: EdgeStep; error: string; rolledBack: boolean };

export interface EdgeRequest {
  containerName: string;
  bindings: readonly EdgeBinding[];
  wanted: EdgeWanted;
  stopTimeoutSeconds: number;
  /** Asked before every step that changes what runs; false stops (and rolls back) the swap. */
  mayAct: () => boolean | Promise<boolean>;
  /** When set, a container without this label is treated as absent (agents sharing one engine). */
  scope?: { key: string; value: string };
  log: Logger;
}

async function allowed(request: EdgeRequest): Promise<boolean> {
  try {
    return (await request.mayAct()) === true;
  } catch (error) {
    // A fencing check that cannot answer is a "no".
    request.log.warn("edge binding: the fencing check failed; not acting", { error: error as Error });
    return false;
  }
}

export async function applyEdgeBindings(client: DockerClient, request: EdgeRequest): Promise<EdgeResult> {
  const name = request.containerName;
  const inspected = await client.inspect(name);
  if (!inspected.ok) {
    return inspected.kind === "not-found" ? { kind: "not-found", detail: `no container named ${name}` } : { kind: "failed", step: "inspect", error: inspected.message, rolledBack: false };
  }
  const root = inspected.value as { Id?: string; HostConfig?: { PortBindings?: unknown }; Config?: { Labels?: Record<string, string> | null } };
  const scope = request.scope;
  if (scope && root.Config?.Labels?.[scope.key] !== scope.value) {
    return { kind: "not-found", detail: `container ${name} lacks this agent's scope label ${scope.key}=${scope.value}` };
  }
  const plan = planEdge(root.HostConfig?.PortBindings, request.wanted, request.bindings);
  if (plan.kind === "unchanged") return plan;
  const spec = recreateSpec(inspected.value, plan);
  if (typeof spec === "string") return { kind: "failed", step: "plan", error: spec, rolledBack: false };
  const oldId = root.Id!;
  const suffix = randomBytes(4).toString("hex");
  const fields = { container: name, wanted: request.wanted, add: plan.added, remove: plan.removed };
  if (!(await allowed(request))) return { kind: "fenced", before: "create", rolledBack: false };
  request.log.info("edge binding: recreating the edge proxy container", fields);

  const created = await client.createContainer(edgeTransientName(name, "next", suffix), spec.create);
  if (!created.ok) return { kind: "failed", step: "create", error: created.message, rolledBack: false };
  const newId = created.value;
  const discardNew = async () => void (await client.remove(newId));
  for (const network of spec.extraNetworks) {
    const connected = await client.connectNetwork(network.name, newId, network.endpoint);
    if (!connected.ok) {
      await discardNew();
      return { kind: "failed", step: "connect", error: connected.message, rolledBack: false };
    }
  }
  if (!(await allowed(request))) {
    await discardNew();
    return { kind: "fenced", before: "stop", rolledBack: false };
  }

  // From here on the old container stops serving: every way out either finishes the swap or rolls back.
  const oldName = edgeTransientName(name, "old", suffix);
  let oldRenamed = false;
  const rollBack = async (): Promise<boolean> => {
    await client.remove(newId);
    let ok = true;
    if (oldRenamed) ok = (await client.rename(oldId, name)).ok && ok;
    ok = (await client.start(oldId)).ok && ok;
    request.log.warn(ok ? "edge binding: rolled back to the previous container" : "edge binding: rollback incomplete; check the edge container", { container: name });
    return ok;
  };
  const stopped = await client.stop(oldId, request.stopTimeoutSeconds);
  if (!stopped.ok) return { kind: "failed", step: "stop", error: stopped.message, rolledBack: await rollBack() };
  const renamedOld = await client.rename(oldId, oldName);
  if (!renamedOld.ok) return { kind: "failed", step: "rename", error: renamedOld.message, rolledBack: await rollBack() };
  oldRenamed = true;
  const renamedNew = await client.rename(newId, name);
  if (!renamedNew.ok) return { kind: "failed", step: "rename", error: renamedNew.message, rolledBack: await rollBack() };
  if (!(await allowed(request))) return { kind: "fenced", before: "start", rolledBack: await rollBack() };
  const started = await client.start(newId);
  if (!started.ok) return { kind: "failed", step: "start", error: started.message, rolledBack: await rollBack() };

  const removed = await client.remove(oldId);
  const leftover = removed.ok ? undefined : oldName;
  if (leftover) request.log.warn("edge binding: the previous container could not be removed", { container: leftover, error: removed.ok ? "" : removed.message });
  request.log.info("edge binding: edge proxy container recreated", { ...fields, id: newId.slice(0, 12) });
  return { kind: "recreated", containerId: newId, added: plan.added, removed: plan.removed, leftover };
}
