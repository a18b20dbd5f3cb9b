// The routing core's entry point: cluster view and options in, the plan and
// the Traefik document's bytes out. Pure and deterministic: the same view and
// options give the same bytes, which is what makes the ETag meaningful.

import type { ClusterView } from "../state/model.ts";
import type { RoutingOptions } from "./options.ts";
import { planRouting, type RoutingCache, type RoutingPlan } from "./plan.ts";
import { traefikJson } from "./traefik.ts";
import type { TraefikDocument } from "./traefik-schema.ts";

export class RoutingResult {
  private parsed: TraefikDocument | undefined;

  constructor(
    readonly plan: RoutingPlan,
    /** The document as served: compact JSON, keys in sorted order. */
    readonly json: string,
  ) {}

  /**
   * The document as an object, decoded from `json` on first use (only the
   * section endpoints and tests look at it), so it is exactly what Traefik
   * reads.
   */
  get document(): TraefikDocument {
    this.parsed ??= JSON.parse(this.json) as TraefikDocument;
    return this.parsed;
  }
}

export function generateRouting(view: ClusterView, options: RoutingOptions, cache?: RoutingCache): RoutingResult {
  const plan = planRouting(view, options, cache);
  return new RoutingResult(plan, traefikJson(plan, cache));
}
