// The replicated cluster state inside the agent: owns the store and its
// gossip replicator, publishes this node's metadata, hides members that
// gossip holds dead or left, collects old tombstones and the entries of
// long-gone members, and serves views to the API, routing and DNS.

import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/log.ts";
import type { Clock } from "../lib/clock.ts";
import { StateStore, storeDefaults } from "../state/store.ts";
import { StateReplicator, type ChangeListener } from "../state/replicator.ts";
import type { ClusterView, NodeMetadata } from "../state/model.ts";
import type { GossipService } from "./gossip-service.ts";

/** How often tombstones and gone members' entries are collected. */
const collectIntervalMs = 60_000;

export class StateService {
  readonly store: StateStore;
  readonly replicator: StateReplicator;
  private collectTimer: ReturnType<typeof setInterval> | undefined;
  /** When a member we hold entries for was first seen missing from gossip entirely. */
  private readonly unknownSince = new Map<string, number>();

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly gossip: GossipService,
    private readonly clock: Clock,
    epoch: number,
  ) {
    this.store = new StateStore(config.nodeName, epoch, storeDefaults);
    this.replicator = new StateReplicator(
      this.store,
      () => clock.monotonicMs(),
      config.gossip.retransmitMult,
      () => gossip.running?.core.liveMemberCount() ?? 1,
    );
  }

  start(): void {
    this.publishNodeMetadata();
    this.collectTimer = setInterval(() => this.collect(), collectIntervalMs);
  }

  stop(): void {
    if (this.collectTimer) clearInterval(this.collectTimer);
  }

  subscribe(listener: ChangeListener): () => void {
    return this.replicator.subscribe(listener);
  }

  nodeMetadata(): NodeMetadata {
    const { config } = this;
    return {
      name: config.nodeName,
      public_ip: config.publicIp,
      tailscale_ip: config.advertiseAddr || config.bindAddr,
      priority: config.priority,
      capabilities: [...config.capabilities].sort(),
      last_seen: new Date(this.clock.wallMs()).toISOString(),
      cordoned: config.cordoned,
    };
  }

  publishNodeMetadata(): void {
    this.replicator.publish(`node/${this.config.nodeName}`, this.nodeMetadata());
  }

  /** Live members per gossip; this node always counts as live. */
  isLive(name: string): boolean {
    if (name === this.config.nodeName) return true;
    const state = this.gossip.running?.core.member(name)?.state;
    return state === "alive" || state === "suspect";
  }

  view(): ClusterView {
    return this.store.view((owner) => this.isLive(owner));
  }

  private goneSince(owner: string): number | undefined {
    const member = this.gossip.running?.core.member(owner);
    if (member) {
      this.unknownSince.delete(owner);
      return member.state === "dead" || member.state === "left" ? member.stateChangeMs : undefined;
    }
    // Gossip forgets members some time after they died; count from when we noticed.
    const nowMs = this.clock.monotonicMs();
    if (!this.unknownSince.has(owner)) this.unknownSince.set(owner, nowMs);
    return this.unknownSince.get(owner);
  }

  private collect(): void {
    const removed = this.store.collect(this.clock.monotonicMs(), (owner) => this.goneSince(owner));
    if (removed.length > 0) this.log.info("collected old state entries", { entries: removed.length });
  }
}
