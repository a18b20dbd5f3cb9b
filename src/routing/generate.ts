// The routing core's entry point: cluster view and options in, the plan, the
// Traefik document and its bytes out. Pure and deterministic: the same view
// and options give the same bytes, which is what makes the ETag meaningful.

import type { ClusterView } from "../state/model.ts";
import type { RoutingOptions } from "./options.ts";
import { planRouting, type RoutingCache, type RoutingPlan } from "./plan.ts";
import { traefikDocument } from "./traefik.ts";
import type { TraefikDocument } from "./traefik-schema.ts";

export interface RoutingResult {
  plan: RoutingPlan;
  document: TraefikDocument;
  /** The document as served: compact JSON, keys in sorted order. */
  json: string;
}

export function generateRouting(view: ClusterView, options: RoutingOptions, cache?: RoutingCache): RoutingResult {
  const plan = planRouting(view, options, cache);
  const document = traefikDocument(plan);
  return { plan, document, json: JSON.stringify(document) };
}
