// The Traefik provider's sockets. A Traefik on the host network polls the
// provider on loopback; a Traefik container on Docker's default bridge network
// cannot reach the host's loopback and polls the bridge's gateway address
// instead (172.17.0.1 unless dockerd was told otherwise), which is an address
// of the host itself. So by default the provider listens on loopback, on
// bindAddr, and on that gateway, which it asks Docker for (network `bridge`,
// its IPAM config's Gateway). Docker may be missing when the agent starts,
// started later, or restarted with another bridge address, so the gateway is
// looked up again every gatewayCheckIntervalMs (one request on the Docker
// socket, or only a look at whether the socket exists) and its listener
// follows it. A configured address list (providerBindAddrs) replaces all of
// this and is used as given.
//
// Loopback and bindAddr are bound at start and a failure stops the agent with
// a sentence naming the address and port; the gateway is bound when found,
// and a failure there is logged and tried again at the next look.

import type { DockerClient } from "../adapters/docker-client.ts";
import { assert } from "../lib/assert.ts";
import { formatHostPort, isIP, isIPv4, listenFailure } from "../lib/ip.ts";
import type { Logger } from "../lib/log.ts";
import { eventLoopWakeups, type WakeupHandle, type Wakeups } from "./wakeups.ts";

export type GatewayLookup = { ok: true; gateway: string } | { ok: false; reason: string };

/** How often the Docker bridge gateway is looked up again. */
export const gatewayCheckIntervalMs = 30_000;
/** IPAM config entries looked at. */
const ipamConfigsMax = 16;
/** Addresses one provider listens on: the configuration allows 8; the default makes at most 3. */
const listenersMax = 8;

export function isUnspecifiedAddress(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

export function isLoopbackAddress(address: string): boolean {
  return (isIPv4(address) && address.startsWith("127.")) || address === "::1";
}

/**
 * The addresses bound at start when none are configured: loopback (bindAddr
 * when it is a loopback address, else 127.0.0.1) and bindAddr. An unspecified
 * bindAddr (0.0.0.0, ::) covers every address, the gateway included, on its
 * own; binding another address on the same port next to it would fail.
 */
export function defaultProviderAddresses(bindAddr: string): string[] {
  if (isUnspecifiedAddress(bindAddr) || isLoopbackAddress(bindAddr)) return [bindAddr];
  return ["127.0.0.1", bindAddr];
}

/** The gateway of a Docker network description (GET /networks/bridge): the IPv4 one first. */
export function bridgeGatewayOf(network: unknown): string | undefined {
  const configs = (network as { IPAM?: { Config?: unknown } } | null)?.IPAM?.Config;
  if (!Array.isArray(configs)) return undefined;
  const gateways: string[] = [];
  for (const config of configs.slice(0, ipamConfigsMax)) {
    const gateway = (config as { Gateway?: unknown } | null)?.Gateway;
    if (typeof gateway === "string" && isIP(gateway)) gateways.push(gateway);
  }
  return gateways.find(isIPv4) ?? gateways[0];
}

/** Asks the Docker engine for the default bridge's gateway, through the agent's Docker client; every failure is a reason. */
export async function lookupBridgeGateway(client: DockerClient): Promise<GatewayLookup> {
  const socketProblem = client.socketProblem();
  if (socketProblem) return { ok: false, reason: socketProblem };
  const network = await client.inspectNetwork("bridge");
  if (!network.ok) return { ok: false, reason: network.kind === "not-found" ? "Docker has no network named bridge" : network.message };
  const gateway = bridgeGatewayOf(network.value);
  return gateway ? { ok: true, gateway } : { ok: false, reason: "Docker's network bridge has no gateway address" };
}

export interface ProviderListenersOptions {
  port: number;
  bindAddr: string;
  /** providerBindAddrs: when not empty, exactly these addresses and no gateway. */
  configured: readonly string[];
  lookupGateway: () => Promise<GatewayLookup>;
  log: Logger;
  wakeups?: Wakeups;
  checkIntervalMs?: number;
}

interface Listener {
  address: string;
  stop(): void;
}

type FetchHandler = (request: Request) => Response | Promise<Response>;

export class ProviderListeners {
  private readonly fixed: Listener[] = [];
  private gateway: Listener | undefined;
  private timer: WakeupHandle | undefined;
  private checking: Promise<void> | undefined;
  private lastProblem = "";
  private stopped = false;
  private readonly wakeups: Wakeups;
  private readonly checkIntervalMs: number;

  constructor(
    private readonly handler: FetchHandler,
    private readonly options: ProviderListenersOptions,
  ) {
    this.wakeups = options.wakeups ?? eventLoopWakeups;
    this.checkIntervalMs = options.checkIntervalMs ?? gatewayCheckIntervalMs;
  }

  /** Whether the Docker bridge gateway is looked for (nothing configured, and bindAddr is not unspecified). */
  get followsGateway(): boolean {
    return this.options.configured.length === 0 && !isUnspecifiedAddress(this.options.bindAddr);
  }

  /**
   * Binds the configured addresses, or loopback and bindAddr; throws a
   * sentence naming the address when one cannot be bound. Then looks for the
   * Docker bridge gateway in the background.
   */
  start(): void {
    const { configured, bindAddr, log } = this.options;
    const addresses = configured.length > 0 ? [...new Set(configured)] : defaultProviderAddresses(bindAddr);
    assert(addresses.length <= listenersMax, `provider: more than ${listenersMax} addresses to listen on`);
    for (const address of addresses) {
      if (!isIP(address)) throw new Error(`provider: ${JSON.stringify(address)} is not an IP address (providerBindAddrs)`);
    }
    try {
      for (const address of addresses) this.fixed.push(this.bind(address));
    } catch (error) {
      this.stop();
      throw error;
    }
    if (configured.length > 0) log.info("provider listens on the configured addresses only (providerBindAddrs)", { addresses });
    if (this.followsGateway) this.schedule(0);
  }

  /** Every address listened on now, the gateway last. */
  addresses(): string[] {
    return [...this.fixed, ...(this.gateway ? [this.gateway] : [])].map((listener) => listener.address);
  }

  /** Looks the gateway up once and follows it; concurrent calls share one look. */
  checkGateway(): Promise<void> {
    this.checking ??= this.followGateway().finally(() => (this.checking = undefined));
    return this.checking;
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    for (const listener of [...this.fixed.splice(0), ...(this.gateway ? [this.gateway] : [])]) listener.stop();
    this.gateway = undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.wakeups.after(delayMs, () => {
      void this.checkGateway()
        .catch((error: unknown) => this.report("warn", `looking up the Docker bridge gateway failed: ${(error as Error).message}`))
        .then(() => this.schedule(this.checkIntervalMs));
    });
  }

  private async followGateway(): Promise<void> {
    const lookup = await this.options.lookupGateway();
    if (this.stopped) return;
    const everyS = Math.round(this.checkIntervalMs / 1000);
    if (!lookup.ok) {
      // A listener on a gateway found before stays: the address usually
      // outlives the engine, and containers come back with it.
      const listening = this.addresses().join(", ");
      this.report(
        "info",
        this.gateway
          ? `the Docker bridge gateway cannot be looked up (${lookup.reason}); the provider keeps listening on ${listening}; looking again every ${everyS} s`
          : `the provider listens on ${listening} only, which a Traefik container on Docker's default bridge cannot reach, because ${lookup.reason}; looking again every ${everyS} s`,
      );
      return;
    }
    const address = lookup.gateway;
    if (this.gateway?.address === address || this.fixed.some((listener) => listener.address === address)) {
      this.report("info", "");
      return;
    }
    if (this.gateway) {
      this.options.log.info("Docker bridge gateway changed; provider follows it", { from: this.gateway.address, to: address });
      this.gateway.stop();
      this.gateway = undefined;
    }
    try {
      this.gateway = this.bind(address);
      this.report("info", "");
    } catch (error) {
      this.report("warn", `${(error as Error).message}; a Traefik container on Docker's default bridge cannot reach the provider; trying again every ${everyS} s`);
    }
  }

  /** Logs a problem once, not at every look; an empty problem clears it. */
  private report(level: "info" | "warn", problem: string): void {
    if (problem === this.lastProblem) return;
    this.lastProblem = problem;
    if (problem !== "") this.options.log[level](problem);
  }

  private bind(address: string): Listener {
    const { port, log } = this.options;
    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({ hostname: address, port, fetch: this.handler });
    } catch (error) {
      throw listenFailure("provider", address, port, "providerPort", error);
    }
    log.info("listening", { server: "provider", address: formatHostPort(address, server.port ?? port) });
    return { address, stop: () => void server.stop(true) };
  }
}
