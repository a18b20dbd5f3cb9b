// The agent shell: owns configuration, logging and the servers, and tells the
// operator what is missing instead of exiting. Protocol cores (gossip, Raft,
// leases, routing, DNS) plug in here as they are built. Start order: the
// Raft log is opened first (so gossip's first metadata names this node's
// cluster), then gossip and the replicated state, then Raft, then the
// servers; stopping runs the other way round.

import { existsSync, mkdirSync } from "node:fs";
import type { LoadedConfig } from "../config/load.ts";
import type { Logger } from "../lib/log.ts";
import { controlApi, type ControlSource, type KeyringOperation } from "../api/control.ts";
import { loadMutationAuth, type MutationAuth } from "../api/auth.ts";
import type { KeyringView, MembersResponse } from "../api/models.ts";
import type { ClusterView } from "../state/model.ts";
import { GossipService } from "./gossip-service.ts";
import { RaftService } from "./raft-service.ts";
import { StateService } from "./state-service.ts";
import { RoutingService } from "./routing-service.ts";
import { DockerService } from "./docker-service.ts";
import { EdgeBinder } from "./edge-binder.ts";
import { dockerApi } from "../api/docker-api.ts";
import { compressPayload } from "../gossip/codec.ts";
import { SystemClock } from "../adapters/system-clock.ts";
import { decodeMemberMeta } from "../state/member-meta.ts";
import { decodeBase64 } from "../gossip/security.ts";
import { providerApi } from "../api/provider.ts";
import { lookupBridgeGateway, ProviderListeners } from "./provider-listeners.ts";
import { commit, version } from "../version.ts";
import { listenFailure } from "../lib/ip.ts";
import { createHash } from "node:crypto";

interface RunningServer {
  name: string;
  stop(): void;
}

export class Agent {
  private readonly servers: RunningServer[] = [];
  private startedAtMs = 0;
  private readonly components: Record<string, string> = {};
  private readonly gossip: GossipService;
  private state: StateService | undefined;
  private routing: RoutingService | undefined;
  private docker: DockerService | undefined;
  private raft: RaftService | undefined;
  private edge: EdgeBinder | undefined;
  private auth: MutationAuth | undefined;

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly log: Logger,
  ) {
    this.gossip = new GossipService(loaded.config, log);
  }

  async start(): Promise<void> {
    const { config } = this.loaded;
    this.startedAtMs = Date.now();
    this.log.info("starting agent", {
      node: config.nodeName,
      version,
      commit,
      profile: config.profile,
      bind_addr: config.bindAddr,
      config_file: this.loaded.configFile ?? null,
    });
    this.prepareDataDir();
    this.reportEnvironment();
    const { auth, problem } = loadMutationAuth(config.apiTokenFile);
    this.auth = auth;
    if (problem) this.log.warn("control API mutations are disabled", { reason: problem });
    const raft = new RaftService(config, this.log.child({ component: "raft" }), this.gossip, new SystemClock());
    this.raft = raft;
    raft.open();
    const epoch = this.gossip.reserveIncarnation();
    const state = new StateService(config, this.log.child({ component: "state" }), this.gossip, new SystemClock(), epoch);
    this.state = state;
    await this.gossip.start(state.replicator);
    state.start();
    raft.start();
    // A node with seeds serves routes once its replica merged a peer's full
    // state; one without seeds is the whole cluster and is synchronised at once.
    const routing = new RoutingService(config, () => state.view(), (listener) => state.subscribe(listener), {
      synchronised: () => state.replicator.counters.fullStatesMerged > 0 || config.join.length === 0,
      log: this.log.child({ component: "routing" }),
    });
    this.routing = routing;
    const docker = new DockerService(
      { nodeName: config.nodeName, stackName: config.stackName, docker: config.docker, log: this.log },
      {
        publish: (health) => state.replicator.publishService(health),
        remove: (service) => state.replicator.removeService(service, config.nodeName),
        publishWarp: (health) => state.replicator.publish(`warp/${config.nodeName}`, health),
      },
    );
    this.docker = docker;
    docker.start();
    const edge = new EdgeBinder(docker.client, config.docker, raft.leases, this.log.child({ component: "edge" }));
    this.edge = edge;
    edge.start();
    const control = controlApi({ ...this.controlSource(), routes: () => routing.routes() }).use(dockerApi(docker));
    const provider = providerApi(routing);
    this.listen("control API", control, config.apiPort);
    // Loopback and bindAddr now; the Docker bridge gateway when Docker names it (see provider-listeners.ts).
    const providerListeners = new ProviderListeners(provider.fetch, {
      port: config.providerPort,
      bindAddr: config.bindAddr,
      configured: config.providerBindAddrs,
      lookupGateway: () => lookupBridgeGateway(docker.client),
      log: this.log.child({ component: "provider" }),
    });
    providerListeners.start();
    this.servers.push({ name: "provider", stop: () => providerListeners.stop() });
    this.log.info("agent ready", {
      control_api: `http://${hostForUrl(config.bindAddr)}:${config.apiPort}`,
      provider: `http://${hostForUrl(providerListeners.addresses()[0]!)}:${config.providerPort}/api/dynamic`,
    });
  }

  async stop(): Promise<void> {
    // The edge proxy keeps its ports while the agent is away (traffic still
    // arrives here until DNS moves); then the leases are released, so this
    // node stops acting and the next leader need not wait them out.
    await this.edge?.stop();
    await this.raft?.leases.release();
    this.routing?.stop();
    await this.docker?.stop();
    this.state?.stop();
    this.raft?.stop();
    await this.gossip.stop();
    for (const server of this.servers.splice(0).reverse()) {
      server.stop();
      this.log.info("stopped", { server: server.name });
    }
  }

  private clusterSummary() {
    const view = this.cluster();
    const services = Object.values(view.service_health);
    return {
      nodes: Object.keys(view.nodes).length,
      services: services.length,
      healthy_services: services.filter((s) => s.status === "healthy").length,
      state_version: view.version,
    };
  }

  private controlSource(): ControlSource {
    const auth = this.auth;
    if (!auth) throw new Error("control source requested before start");
    return {
      auth,
      status: () => this.status(),
      members: () => this.members(),
      gossipStats: () => this.gossipStats(),
      keyring: () => this.keyring(),
      cluster: () => this.cluster(),
      changeKeyring: (operation, keyBase64) => this.changeKeyring(operation, keyBase64),
      ...(this.raft ? { raft: this.raft, leases: this.raft.leases } : {}),
    };
  }

  private cluster(): ClusterView {
    return this.state?.view() ?? { nodes: {}, service_health: {}, warp_health: {}, version: 0 };
  }

  private members(): MembersResponse | undefined {
    if (!this.gossip.running) return undefined;
    return {
      self: this.loaded.config.nodeName,
      members: this.gossip.members().map((member) => ({
        name: member.name,
        address: member.address,
        state: member.state,
        incarnation: member.incarnation,
        meta: (decodeMemberMeta(member.meta) as Record<string, unknown> | undefined) ?? null,
        meta_base64: Buffer.from(member.meta).toString("base64"),
        protocol: { min: member.vsn[0] ?? 0, max: member.vsn[1] ?? 0, current: member.vsn[2] ?? 0 },
      })),
    };
  }

  private gossipStats() {
    const shell = this.gossip.running;
    if (!shell) return undefined;
    return {
      health_score: shell.core.healthScore(),
      incarnation: shell.core.incarnation(),
      members_alive: shell.core.liveMemberCount(),
      members_total: shell.core.members().length,
      queued_broadcasts: shell.core.queuedBroadcasts(),
      state_entries: this.state?.store.size ?? 0,
      state_bytes: this.state?.replicator.localState().length ?? 0,
      state_bytes_compressed: this.state ? compressPayload(this.state.replicator.localState()).length : 0,
      counters: { ...shell.counters, ...shell.core.counters, ...this.state?.replicator.counters },
    };
  }

  private keyring(): KeyringView {
    const keys = this.gossip.running?.keyring()?.keys ?? [];
    return {
      enabled: keys.length > 0,
      keys: keys.map((key, index) => ({
        fingerprint: createHash("sha256").update(key).digest("hex").slice(0, 16),
        primary: index === 0,
        bytes: key.length,
      })),
    };
  }

  private changeKeyring(operation: KeyringOperation, keyBase64: string) {
    const shell = this.gossip.running;
    if (!shell) return { ok: false as const, error: "gossip is not running on this node" };
    const key = decodeBase64(keyBase64.trim());
    if (!key) return { ok: false as const, error: "the key is not valid base64" };
    const result = shell.changeKeyring(operation, key);
    if (!result.ok) return { ok: false as const, error: result.error };
    this.log.info("keyring changed", { operation, keys: result.keyring.keys.length });
    return { ok: true as const, keyring: this.keyring() };
  }

  status() {
    const { config } = this.loaded;
    const shell = this.gossip.running;
    if (shell) {
      const live = shell.core.liveMemberCount();
      this.components.gossip = `${live} of ${shell.core.members().length} members alive, health ${shell.core.healthScore()}`;
    } else {
      this.components.gossip = "stopped";
    }
    this.components.raft = this.raft?.summary() ?? "not started";
    this.components.leases = this.raft?.leases.summary() ?? "not started";
    this.components.docker = this.docker?.statusLine() ?? "stopped";
    this.components.edge = this.edge?.summary() ?? "stopped";
    return {
      node: config.nodeName,
      version,
      commit,
      profile: config.profile,
      uptime_seconds: Math.floor((Date.now() - this.startedAtMs) / 1000),
      started_at: new Date(this.startedAtMs).toISOString(),
      components: { ...this.components },
      cluster: this.clusterSummary(),
    };
  }

  private listen(name: string, app: { listen: Function; stop: Function; server: unknown }, port: number): void {
    const { bindAddr } = this.loaded.config;
    try {
      app.listen({ hostname: bindAddr, port });
    } catch (error) {
      throw listenFailure(name, bindAddr, port, "port in the configuration", error);
    }
    this.servers.push({ name, stop: () => void app.stop(true) });
    this.log.info("listening", { server: name, address: `${bindAddr}:${port}` });
  }

  private prepareDataDir(): void {
    const { dataDir } = this.loaded.config;
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new Error(`data directory ${dataDir} cannot be created: ${(error as Error).message}; set --data-dir or DATA_DIR`);
    }
  }

  /** One line per missing piece, so an operator sees what to configure next. */
  private reportEnvironment(): void {
    const { config } = this.loaded;
    const dnsConfigured = config.cloudflare.zoneId !== "" && existsSync(config.cloudflare.apiTokenFile);
    this.components.dns = dnsConfigured ? "configured" : "dry-run: no Cloudflare zone id or token file";
    if (!dnsConfigured) {
      this.log.warn("DNS in dry-run: set CLOUDFLARE_ZONE_ID and put the API token in the token file", {
        token_file: config.cloudflare.apiTokenFile,
      });
    }
    if (config.gossipKeyFile === "") {
      this.components.encryption = "off: no gossip key file";
      if (config.bindAddr !== "127.0.0.1" && config.bindAddr !== "::1") {
        this.log.warn("gossip and Raft are not encrypted; create a key with `constellation keygen` and set --gossip-key-file");
      }
    } else {
      this.components.encryption = "keyring configured";
    }
  }
}

function hostForUrl(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
