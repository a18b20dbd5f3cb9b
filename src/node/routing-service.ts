// Keeps this node's Traefik document current for the provider server and the
// routing table for the control API. The document is rebuilt from the
// cluster view when the state reports a change, and at the latest every
// `maxAgeMs` while someone asks, because a member that gossip declares dead
// drops out of the view without any state entry changing. Rebuilds happen on
// request, so a burst of changes costs one generation; identical bytes keep
// their ETag, so Traefik's conditional polls cost nothing.
//
// Until the node has synchronised its state once, there is no document: the
// provider answers 503 and Traefik keeps its last good configuration instead
// of withdrawing routes to services this node has not heard of yet. A node
// that hears from nobody for two anti-entropy rounds serves what it knows.

import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Config, GossipConfig } from "../config/schema.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import { SystemClock } from "../adapters/system-clock.ts";
import type { ClusterView } from "../state/model.ts";
import type { ProviderSnapshot, RoutingSource } from "../api/provider.ts";
import { generateRouting, type RoutingResult } from "../routing/generate.ts";
import { routingOptionsFromConfig, routingOptionsProblems, type MeshOverrides, type RoutingOptions } from "../routing/options.ts";
import { RoutingCache, type RoutingProblem } from "../routing/plan.ts";
import { describeProblem, routesTable, type RoutesResponse } from "../routing/table.ts";
import type { TraefikDocument } from "../routing/traefik-schema.ts";

export type RoutingConfig = Pick<Config, "nodeName" | "domain" | "traefik"> & { gossip?: Pick<GossipConfig, "pushPullIntervalMs"> };

export interface RoutingServiceOptions {
  clock?: Clock;
  /**
   * True once this node's replica has been synchronised with the cluster (a
   * push/pull merged, or there is nobody to merge with). Latched: once true,
   * the service never goes back to 503. Default: once the view lists this node.
   */
  synchronised?: () => boolean;
  /** Serve what is known after this long without synchronising. Default 2 x gossip.pushPullIntervalMs, else 60 s. */
  unsynchronisedServeAfterMs?: number;
  /** Longest a document is served without looking at the view again. Default 1000 ms. */
  maxAgeMs?: number;
  mesh?: MeshOverrides;
  log?: Logger;
}

interface Built {
  result: RoutingResult;
  snapshot: ProviderSnapshot & { document: TraefikDocument };
  table: RoutesResponse | undefined;
  builtAtMs: number;
}

/** Problems logged per change of the problem set; the rest are in `constellation routes`. */
const problemsLoggedMax = 5;

export class RoutingService implements RoutingSource {
  readonly options: RoutingOptions;
  /** Documents generated so far (each one a full pass over the view). */
  generations = 0;
  private readonly clock: Clock;
  private readonly unsubscribe: () => void;
  private readonly cache: RoutingCache;
  private readonly startedAtMs: number;
  private readonly serveAfterMs: number;
  private dirty = true;
  private ready = false;
  private built: Built | undefined;
  private loggedProblems = "";

  constructor(
    config: RoutingConfig,
    private readonly view: () => ClusterView,
    subscribe: (listener: (changedKeys: string[]) => void) => () => void,
    private readonly serviceOptions: RoutingServiceOptions = {},
  ) {
    this.options = routingOptionsFromConfig(config, serviceOptions.mesh);
    const problems = routingOptionsProblems(this.options);
    if (problems.length > 0) throw new Error(`routing cannot start: ${problems.join("; ")}`);
    this.cache = new RoutingCache(this.options);
    this.clock = serviceOptions.clock ?? new SystemClock();
    this.startedAtMs = this.clock.monotonicMs();
    this.serveAfterMs = serviceOptions.unsynchronisedServeAfterMs ?? (config.gossip ? 2 * config.gossip.pushPullIntervalMs : 60_000);
    this.unsubscribe = subscribe((changedKeys) => {
      // WARP health does not route anything.
      if (changedKeys.some((key) => !key.startsWith("warp/"))) this.dirty = true;
    });
  }

  snapshot(): (ProviderSnapshot & { document: TraefikDocument }) | undefined {
    return this.refresh()?.snapshot;
  }

  dynamicConfiguration(): TraefikDocument | undefined {
    return this.refresh()?.snapshot.document;
  }

  unavailableReason(): string {
    return "no routing table yet: cluster state has not been synchronised on this node";
  }

  /** The table for `constellation routes`, or undefined while there is no document. */
  routes(): RoutesResponse | undefined {
    const built = this.refresh();
    if (!built) return undefined;
    built.table ??= routesTable(built.result.plan);
    return built.table;
  }

  stop(): void {
    this.unsubscribe();
  }

  private isReady(nowMs: number): boolean {
    if (this.ready) return true;
    const synchronised = this.serviceOptions.synchronised ?? (() => this.view().nodes[this.options.nodeName] !== undefined);
    if (synchronised() || nowMs - this.startedAtMs >= this.serveAfterMs) {
      this.ready = true;
      this.dirty = true;
    }
    return this.ready;
  }

  private refresh(): Built | undefined {
    const nowMs = this.clock.monotonicMs();
    if (!this.isReady(nowMs)) return undefined;
    const maxAgeMs = this.serviceOptions.maxAgeMs ?? 1_000;
    if (this.built && !this.dirty && nowMs - this.built.builtAtMs < maxAgeMs) return this.built;
    this.dirty = false;
    const result = generateRouting(this.view(), this.options, this.cache);
    this.generations++;
    if (this.built && this.built.snapshot.json === result.json) {
      // Same bytes: same ETag and the compressed copy stays valid.
      this.built = { result, snapshot: this.built.snapshot, table: undefined, builtAtMs: nowMs };
    } else {
      this.built = { result, snapshot: snapshotOf(result), table: undefined, builtAtMs: nowMs };
    }
    this.logProblems(result.plan.problems, result.plan.problemsDropped);
    return this.built;
  }

  private logProblems(problems: RoutingProblem[], dropped: number): void {
    const key = JSON.stringify(problems);
    if (key === this.loggedProblems) return;
    this.loggedProblems = key;
    if (problems.length === 0) return;
    this.serviceOptions.log?.warn("some services cannot be routed as labelled; see `constellation routes`", {
      problems: problems.length + dropped,
      first: problems.slice(0, problemsLoggedMax).map(describeProblem),
    });
  }
}

function snapshotOf(result: RoutingResult): ProviderSnapshot & { document: TraefikDocument } {
  const bytes = Buffer.from(result.json, "utf8");
  const hash = createHash("sha256").update(bytes).digest("base64url").slice(0, 27);
  let gzipped: Uint8Array | undefined;
  return {
    // Decoded only when a section endpoint asks for it.
    get document() {
      return result.document;
    },
    json: result.json,
    etag: `"${hash}"`,
    // Compressed on first use: Traefik's Go client asks for gzip, curl does not.
    gzip: () => (gzipped ??= gzipSync(bytes, { level: 6 })),
  };
}
