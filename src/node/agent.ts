// The agent shell: owns configuration, logging and the servers, and tells the
// operator what is missing instead of exiting. Protocol cores (gossip, Raft,
// leases, routing, DNS) plug in here as they are built.

import { existsSync, mkdirSync } from "node:fs";
import type { LoadedConfig } from "../config/load.ts";
import type { Logger } from "../lib/log.ts";
import { controlApi } from "../api/control.ts";
import { providerApi } from "../api/provider.ts";
import { commit, version } from "../version.ts";

interface RunningServer {
  name: string;
  stop(): void;
}

export class Agent {
  private readonly servers: RunningServer[] = [];
  private startedAtMs = 0;
  private readonly components: Record<string, string> = {};

  constructor(
    private readonly loaded: LoadedConfig,
    private readonly log: Logger,
  ) {}

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
    const control = controlApi({ status: () => this.status() });
    const provider = providerApi({
      dynamicConfiguration: () => undefined,
      unavailableReason: () => "no routing table yet: cluster state has not been synchronised on this node",
    });
    this.listen("control API", control, config.apiPort);
    this.listen("provider", provider, config.providerPort);
    this.log.info("agent ready", {
      control_api: `http://${hostForUrl(config.bindAddr)}:${config.apiPort}`,
      provider: `http://${hostForUrl(config.bindAddr)}:${config.providerPort}/api/dynamic`,
    });
  }

  async stop(): Promise<void> {
    for (const server of this.servers.splice(0).reverse()) {
      server.stop();
      this.log.info("stopped", { server: server.name });
    }
  }

  status() {
    const { config } = this.loaded;
    return {
      node: config.nodeName,
      version,
      commit,
      profile: config.profile,
      uptime_seconds: Math.floor((Date.now() - this.startedAtMs) / 1000),
      started_at: new Date(this.startedAtMs).toISOString(),
      components: { ...this.components },
    };
  }

  private listen(name: string, app: { listen: Function; stop: Function; server: unknown }, port: number): void {
    const { bindAddr } = this.loaded.config;
    try {
      app.listen({ hostname: bindAddr, port });
    } catch (error) {
      const message = (error as Error).message;
      const inUse = /in use|EADDRINUSE/i.test(message);
      throw new Error(
        inUse
          ? `${name}: port ${port} on ${bindAddr} is already in use; choose another port in the configuration`
          : `${name}: cannot listen on ${bindAddr}:${port}: ${message}`,
      );
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
    const dockerPresent = existsSync(config.docker.socketPath);
    this.components.docker = dockerPresent ? `socket ${config.docker.socketPath}` : "no socket: containers not monitored";
    if (!dockerPresent) {
      this.log.warn("Docker socket not found; container health and self-healing are off", { socket: config.docker.socketPath });
    }
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
    this.components.gossip = "not available in this version";
    this.components.raft = "not available in this version";
  }
}

function hostForUrl(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}
