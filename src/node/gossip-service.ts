// Gossip inside the agent: binds the transport, loads the keyring, keeps the
// incarnation across restarts, publishes this node's metadata (re-published
// when it changes, such as when this node joins a Raft cluster), joins the
// seeds, logs membership changes and hands them to listeners, and leaves
// gracefully on shutdown.

import { readFileSync, statSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../lib/log.ts";
import { Prng } from "../lib/prng.ts";
import { formatHostPort, ipToBytes, listenFailure, parseHostPort } from "../lib/ip.ts";
import { BunGossipTransport } from "../adapters/bun-transport.ts";
import { SystemClock } from "../adapters/system-clock.ts";
import { nodeAead } from "../adapters/aead.ts";
import { parseKeyringFile, type Encryption } from "../gossip/security.ts";
import { nullDelegate, type MemberEvent, type SwimDelegate } from "../gossip/types.ts";
import { viewOf } from "../gossip/members.ts";
import { encodeMemberMeta, type MemberMeta } from "../state/member-meta.ts";
import { assert } from "../lib/assert.ts";
import { GossipShell } from "./gossip-shell.ts";
import { eventLoopWakeups } from "./wakeups.ts";

/** How long a graceful leave may take before the agent stops anyway. */
const leaveWaitMs = 3000;
/** Listeners of membership events (the agent has a handful of services). */
const memberListenersMax = 16;

export type MemberListener = (event: MemberEvent) => void;

export class GossipService {
  private shell: GossipShell | undefined;
  private readonly incarnationFile: string;
  private leftResolve: (() => void) | undefined;
  private reservedIncarnation: number | undefined;
  private readonly memberListeners = new Set<MemberListener>();
  /** The Raft cluster this node advertises; undefined until it belongs to one. */
  private raftCluster: string | undefined;
  /** Seeds other than this node were given and none has answered yet. */
  private joining = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.incarnationFile = join(config.dataDir, "gossip-incarnation");
  }

  /**
   * The incarnation this run will start with (also the epoch of this node's
   * replicated state). Reserved and saved once; needs the data directory.
   */
  reserveIncarnation(): number {
    this.reservedIncarnation ??= this.nextIncarnation();
    return this.reservedIncarnation;
  }

  get running(): GossipShell | undefined {
    return this.shell;
  }

  async start(delegate: SwimDelegate = nullDelegate): Promise<void> {
    const { config } = this;
    const advertiseHost = config.advertiseAddr || config.bindAddr;
    const advertiseAddr = ipToBytes(advertiseHost);
    if (!advertiseAddr || /^0\.0\.0\.0$|^::$/.test(advertiseHost)) {
      throw new Error(`gossip needs a concrete address to advertise; bindAddr is ${config.bindAddr}, so set advertiseAddr`);
    }
    const encryption = this.loadEncryption();
    let transport: BunGossipTransport;
    try {
      transport = await BunGossipTransport.bind(config.bindAddr, config.gossipPort);
    } catch (error) {
      throw listenFailure("gossip", config.bindAddr, config.gossipPort, "gossipPort", error);
    }
    const incarnation = this.reserveIncarnation();
    const shell = new GossipShell(
      {
        swim: {
          name: config.nodeName,
          advertiseHost,
          advertiseAddr,
          advertisePort: config.gossipPort,
          meta: encodeMemberMeta(this.memberMeta()),
          gossip: config.gossip,
          incarnation,
        },
        encryption,
        randomBytes: (length) => new Uint8Array(randomBytes(length)),
      },
      transport,
      new SystemClock(),
      eventLoopWakeups,
      new Prng(randomBytes(4).readUInt32LE(0)),
      delegate,
      this.log.child({ component: "gossip" }),
    );
    shell.onEvent = (event) => this.onEvent(event);
    this.shell = shell;
    this.log.info("gossip listening", {
      address: transport.localAddress,
      advertise: formatHostPort(advertiseHost, config.gossipPort),
      encrypted: encryption !== undefined,
      incarnation,
    });
    const seeds = config.join.map((seed) => {
      const parsed = parseHostPort(seed, config.gossipPort);
      return typeof parsed === "string" ? seed : formatHostPort(parsed.host, parsed.port);
    });
    const selfAddress = formatHostPort(advertiseHost, config.gossipPort);
    this.joining = seeds.some((seed) => seed !== selfAddress);
    if (seeds.length > 0) shell.join(seeds);
  }

  /**
   * Hear every membership event after this service has logged it; returns
   * the function that stops listening.
   */
  onMemberEvent(listener: MemberListener): () => void {
    assert(this.memberListeners.size < memberListenersMax, `more than ${memberListenersMax} member listeners`);
    this.memberListeners.add(listener);
    return () => this.memberListeners.delete(listener);
  }

  /**
   * True while this node was told to join seeds and has heard from no other
   * member yet: until it does, it cannot know whether a cluster exists.
   */
  joinPending(): boolean {
    return this.joining;
  }

  /**
   * Advertise the Raft cluster this node belongs to, from now on and in every
   * later start's first metadata (the caller persists it). Re-publishes the
   * metadata at once when gossip runs.
   */
  setRaftCluster(clusterId: string): void {
    if (this.raftCluster === clusterId) return;
    this.raftCluster = clusterId;
    this.shell?.setMeta(encodeMemberMeta(this.memberMeta()));
  }

  memberMeta(): MemberMeta {
    const { config } = this;
    return {
      v: 1,
      priority: config.priority,
      cordoned: config.cordoned,
      raft_port: config.raftPort,
      api_port: config.apiPort,
      provider_port: config.providerPort,
      public_ip: config.publicIp,
      ...(this.raftCluster === undefined ? {} : { raft_cluster: this.raftCluster }),
    };
  }

  /** Leave the cluster gracefully (bounded wait), then close the sockets. */
  async stop(): Promise<void> {
    const shell = this.shell;
    if (!shell) return;
    this.shell = undefined;
    const left = new Promise<void>((resolve) => (this.leftResolve = resolve));
    shell.leave();
    await Promise.race([left, Bun.sleep(leaveWaitMs)]);
    this.saveIncarnation(shell.core.incarnation());
    shell.stop();
  }

  /** Keys come from a file that only the agent's user may read. */
  private loadEncryption(): Encryption | undefined {
    const path = this.config.gossipKeyFile;
    if (path === "") return undefined;
    let text: string;
    try {
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        throw new Error(`is readable by group or others (mode ${mode.toString(8)}); run chmod 600 ${path}`);
      }
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new Error(`gossip key file ${path}: ${(error as Error).message}`);
    }
    const parsed = parseKeyringFile(text);
    if (!parsed.ok) throw new Error(`gossip key file ${path}: ${parsed.error}`);
    return { aead: nodeAead, keyring: parsed.keyring, label: new Uint8Array(0), version: 1 };
  }

  /**
   * An incarnation above any this node used before, so that after a restart
   * its "alive" outranks what the cluster remembers of it. The wall clock in
   * seconds does that even if the data directory was lost; the stored value
   * covers a clock that went backwards.
   */
  private nextIncarnation(): number {
    let stored = 0;
    try {
      const value = Number(readFileSync(this.incarnationFile, "utf8").trim());
      if (Number.isSafeInteger(value) && value > 0) stored = value;
    } catch {
      // First start, or the file was lost: the clock alone decides.
    }
    const incarnation = Math.min(0xfffffff0, Math.max(stored + 1, Math.floor(Date.now() / 1000)));
    this.saveIncarnation(incarnation);
    return incarnation;
  }

  private saveIncarnation(incarnation: number): void {
    try {
      writeFileSync(`${this.incarnationFile}.tmp`, `${incarnation}\n`, { mode: 0o600 });
      renameSync(`${this.incarnationFile}.tmp`, this.incarnationFile);
    } catch (error) {
      this.log.warn("cannot save the gossip incarnation", { file: this.incarnationFile, error: (error as Error).message });
    }
  }

  private onEvent(event: MemberEvent): void {
    // Any other member means a push/pull brought this node the cluster's
    // member list, which is all a seed's answer would have told it.
    if (event.kind === "joined" || (event.kind === "join" && event.member.name !== this.config.nodeName)) this.joining = false;
    this.logEvent(event);
    for (const listener of this.memberListeners) listener(event);
  }

  private logEvent(event: MemberEvent): void {
    switch (event.kind) {
      case "join":
      case "update":
      case "leave":
        this.log.info(`member ${event.kind === "leave" ? event.member.state : event.kind}`, {
          member: event.member.name,
          address: event.member.address,
          incarnation: event.member.incarnation,
        });
        return;
      case "suspect":
        this.log.warn("member suspected", { member: event.member.name, from: event.from });
        return;
      case "refuted":
        this.log.warn("refuted a suspicion of this node", { incarnation: event.incarnation });
        this.saveIncarnation(event.incarnation);
        return;
      case "conflict":
        this.log.error("two nodes claim one name", { name: event.name, existing: event.existing, claimed: event.claimed });
        return;
      case "joined":
        this.log.info("joined the cluster", { contacted: event.contacted });
        return;
      case "join-failed":
        this.log.warn("could not join any seed; retrying", {
          attempt: event.attempt,
          retry_in_ms: event.nextRetryMs,
          errors: event.errors,
        });
        return;
      case "left":
        this.leftResolve?.();
        return;
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  }

  /** Members for the API, sorted by name. */
  members() {
    const shell = this.shell;
    if (!shell) return [];
    return shell.core
      .members()
      .map(viewOf)
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
