// A cluster of real gossip shells (src/node/gossip-shell.ts over the SWIM
// core) running on the simulator: each simulated node builds a
// SimGossipTransport and a GossipShell with its own PRNG fork and drifting
// clock, joins a few seed addresses, and persists its incarnation on its
// simulated disk so that a restart comes back with a higher one, as a real
// agent does. The harness reads every node's view of the membership, crashes
// and restarts nodes, partitions the network and changes its faults, and
// records every membership event with its virtual time, so the property
// tests can state what must hold and by when.

import { assert, assertNever } from "../../../src/lib/assert.ts";
import { Logger } from "../../../src/lib/log.ts";
import { Prng } from "../../../src/lib/prng.ts";
import { ipToBytes } from "../../../src/lib/ip.ts";
import { profiles } from "../../../src/config/profiles.ts";
import type { GossipConfig } from "../../../src/config/schema.ts";
import { GossipShell } from "../../../src/node/gossip-shell.ts";
import type { Wakeups } from "../../../src/node/wakeups.ts";
import { nodeAead } from "../../../src/adapters/aead.ts";
import { createKeyring, type Encryption } from "../../../src/gossip/security.ts";
import type { NodeState } from "../../../src/gossip/messages.ts";
import type { Member } from "../../../src/gossip/members.ts";
import { nullDelegate, type MemberEvent, type SwimDelegate } from "../../../src/gossip/types.ts";
import { Simulation } from "../kernel.ts";
import { SimNetwork, type NetworkFaults } from "../network.ts";
import { SimNode, type NodeContext, type SimProcess } from "../cluster.ts";
import type { SimStreamEnd } from "../network.ts";
import { SimGossipTransport } from "../sim-transport.ts";
import { seedsToRun } from "../seeds.ts";

/** The port every simulated node gossips on; nodes differ by address. */
export const gossipPort = 7946;
/** Key on the simulated disk holding the last incarnation this node used. */
const incarnationKey = "gossip/incarnation";
/** Events a run may record; a run that needs more should turn recording off (the benchmark does). */
const recordedEventsMax = 2_000_000;
/** Smallest re-arm step when a wake-up fires a hair early through clock rounding. */
const wakeupRetryMs = 0.001;

export interface GossipClusterOptions {
  seed: number;
  size: number;
  profile?: "lan" | "local";
  /** Overrides of single profile numbers. */
  gossip?: Partial<GossipConfig>;
  faults?: NetworkFaults;
  /** How many of the first nodes serve as seeds; each node joins all of them but itself. Default 3. */
  seedNodes?: number;
  /** Encrypt gossip with one AES key (real AES-GCM, nonces from the node's PRNG). */
  encrypt?: boolean;
  /** Cluster label on every packet and stream. */
  label?: string;
  /** memberlist's EnableCompression; default true. */
  compress?: boolean;
  /** TCP fallback pings (memberlist's default true). */
  tcpPings?: boolean;
  /** Largest clock drift in ppm, either way; each node draws its own. Default 200. */
  driftPpmMax?: number;
  /** Builds the delegate of each process (a restart gets a new one). */
  delegate?: (node: GossipNode) => SwimDelegate;
  /** Record membership events (tests do; the benchmark turns it off at large sizes). */
  recordEvents?: boolean;
}

/** One membership event as seen by `observer`, at virtual (real) time `atMs`. */
export interface RecordedEvent {
  atMs: number;
  observer: string;
  kind: MemberEvent["kind"];
  /** The member the event is about, for member events. */
  member?: string;
  state?: NodeState;
  incarnation?: number;
}

/** The process a simulated node runs: a transport and a shell. */
export class GossipProcess implements SimProcess {
  readonly transport: SimGossipTransport;
  readonly shell: GossipShell;
  /** True once the shell finished a graceful leave and was stopped. */
  left = false;
  /** Bytes this process wrote to streams (the shell's counters cover packets only). */
  streamBytesSent = 0;
  private readonly countStreamBytes = (bytes: Uint8Array): void => {
    this.streamBytesSent += bytes.length;
  };

  constructor(
    readonly context: NodeContext,
    private readonly network: SimNetwork,
    options: ConstructorParameters<typeof GossipShell>[0],
    delegate: SwimDelegate,
    onEvent: (process: GossipProcess, event: MemberEvent) => void,
  ) {
    this.transport = new SimGossipTransport(withCountedStreams(context, this.countStreamBytes));
    const log = new Logger(() => {}, context.clock, "error");
    this.shell = new GossipShell(options, this.transport, context.clock, wakeupsOf(context), context.prng.fork(), delegate, log);
    this.shell.onEvent = (event) => onEvent(this, event);
  }

  onDatagram(from: string, bytes: Uint8Array): void {
    this.transport.deliverPacket(from, bytes);
  }

  onStream(stream: SimStreamEnd): void {
    this.transport.deliverStream(countingSends(stream, this.countStreamBytes));
  }
}

/** Count what a stream end sends (the shell's counters cover packets only). */
export function countingSends(end: SimStreamEnd, onSend: (bytes: Uint8Array) => void): SimStreamEnd {
  const send = end.send.bind(end);
  end.send = (bytes) => {
    onSend(bytes);
    return send(bytes);
  };
  return end;
}

/** The node's context, with the bytes of streams it opens counted. */
function withCountedStreams(context: NodeContext, onSend: (bytes: Uint8Array) => void): NodeContext {
  return {
    ...context,
    openStream: (to, done) => context.openStream(to, (result) => done(typeof result === "string" ? result : countingSends(result, onSend))),
  };
}

/**
 * Wake-ups in the node's local (drifting) time. Converting local delays to
 * real ones and back can land a hair before the due time; the contract says
 * "never before", so such a wake-up quietly waits the remainder.
 */
function wakeupsOf(context: NodeContext): Wakeups {
  return {
    after(delayMs, run) {
      const dueMs = context.clock.monotonicMs() + delayMs;
      let timer = context.setTimer(delayMs, "gossip-wakeup", function fire() {
        const earlyMs = dueMs - context.clock.monotonicMs();
        if (earlyMs > 0) {
          timer = context.setTimer(Math.max(earlyMs, wakeupRetryMs), "gossip-wakeup", fire);
          return;
        }
        run();
      });
      return { cancel: () => context.cancelTimer(timer) };
    },
  };
}

/** A simulated machine in the cluster, with its fixed name and address. */
export class GossipNode {
  /** Crashes and exits after leaving, so far. */
  stops = 0;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly host: string,
    readonly sim: SimNode,
  ) {}

  get address(): string {
    return this.sim.address;
  }

  get process(): GossipProcess | undefined {
    return this.sim.current<GossipProcess>();
  }

  /** Running and not gracefully departed. */
  get live(): boolean {
    const process = this.process;
    return process !== undefined && !process.left;
  }

  get shell(): GossipShell {
    const process = this.process;
    assert(process, `${this.name} is not running`);
    return process.shell;
  }
}

export function nodeName(index: number): string {
  return `node-${String(index).padStart(4, "0")}`;
}

export function nodeHost(index: number): string {
  const n = index + 1;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export class GossipCluster {
  readonly sim: Simulation;
  readonly network: SimNetwork;
  readonly nodes: GossipNode[] = [];
  readonly events: RecordedEvent[] = [];
  readonly gossip: GossipConfig;
  private readonly byName = new Map<string, GossipNode>();
  private readonly seedAddresses: string[];
  private readonly encryption: Encryption | undefined;
  /** Extra listeners, for tests that react to events as they happen. */
  readonly listeners: ((node: GossipNode, event: MemberEvent) => void)[] = [];

  constructor(readonly options: GossipClusterOptions) {
    assert(options.size >= 1, "a cluster needs at least one node");
    this.sim = new Simulation(options.seed);
    this.network = new SimNetwork(this.sim, options.faults);
    this.gossip = { ...profiles[options.profile ?? "lan"].gossip, ...options.gossip };
    const seedNodes = Math.min(options.size, options.seedNodes ?? 3);
    this.seedAddresses = Array.from({ length: seedNodes }, (_, i) => `${nodeHost(i)}:${gossipPort}`);
    this.encryption = options.encrypt ? this.makeEncryption(this.sim.prng) : undefined;
    const driftPpmMax = options.driftPpmMax ?? 200;
    for (let i = 0; i < options.size; i++) {
      const host = nodeHost(i);
      const name = nodeName(i);
      let node: GossipNode | undefined;
      const sim = new SimNode(this.sim, this.network, `${host}:${gossipPort}`, (context) => this.boot(node!, context), {
        offsetMs: this.sim.prng.int(100_000),
        driftPpm: this.sim.prng.intBetween(-driftPpmMax, driftPpmMax),
      });
      node = new GossipNode(i, name, host, sim);
      this.nodes.push(node);
      this.byName.set(name, node);
    }
  }

  private makeEncryption(prng: Prng): Encryption {
    const key = prng.fill(new Uint8Array(32));
    const keyring = createKeyring([key]);
    assert(keyring.ok, "a 32-byte key is valid");
    const label = new TextEncoder().encode(this.options.label ?? "");
    return { aead: nodeAead, keyring: keyring.keyring, label, version: 1 };
  }

  /** The factory of every node's process: a fresh shell, its incarnation one above the last it persisted. */
  private boot(node: GossipNode, context: NodeContext): GossipProcess {
    const incarnation = readIncarnation(context) + 1;
    writeIncarnation(context, incarnation);
    const addr = ipToBytes(node.host);
    assert(addr, `simulated host ${node.host} is an IP address`);
    const options: ConstructorParameters<typeof GossipShell>[0] = {
      swim: {
        name: node.name,
        advertiseHost: node.host,
        advertiseAddr: addr,
        advertisePort: gossipPort,
        meta: new Uint8Array(0),
        gossip: this.gossip,
        tcpPings: this.options.tcpPings ?? true,
        incarnation,
      },
      compress: this.options.compress ?? true,
      randomBytes: (length) => context.prng.fill(new Uint8Array(length)),
    };
    if (this.encryption) options.encryption = this.encryption;
    else if (this.options.label) options.label = new TextEncoder().encode(this.options.label);
    const delegate = this.options.delegate?.(node) ?? nullDelegate;
    const process = new GossipProcess(context, this.network, options, delegate, (from, event) => this.onEvent(node, from, event));
    // Join once the process is installed: the node's network refuses to send
    // for a process that is still being built.
    context.setTimer(0, "gossip-join", () => process.shell.join(this.seedAddresses));
    return process;
  }

  private onEvent(node: GossipNode, process: GossipProcess, event: MemberEvent): void {
    if (event.kind === "refuted") writeIncarnation(process.context, event.incarnation);
    if (this.options.recordEvents ?? true) {
      assert(this.events.length < recordedEventsMax, `more than ${recordedEventsMax} membership events recorded`);
      this.events.push(recordOf(this.sim.nowMs, node.name, event));
    }
    for (const listener of this.listeners) listener(node, event);
    if (event.kind === "left") {
      // The owner stops the shell after a graceful leave, and then the process exits.
      process.left = true;
      process.shell.stop();
      this.sim.after(0, `${node.name} exits after leaving`, () => {
        if (node.process === process) this.crash(node);
      });
    }
  }

  // ------------------------------------------------------------- lifecycle

  /** Start every node at once. */
  startAll(): void {
    for (const node of this.nodes) node.sim.start();
  }

  /** Crash a node's process (connections to it are refused), or with `hostDown` its whole machine (unanswered). */
  crash(node: GossipNode, hostDown = false): void {
    node.stops++;
    node.sim.crash(hostDown);
  }

  restart(node: GossipNode): void {
    node.sim.restart();
  }

  setMeta(node: GossipNode, meta: Uint8Array): void {
    node.shell.setMeta(meta);
    // A new incarnation that a restart must exceed: persist it like a refutation.
    const process = node.process;
    assert(process, "setMeta needs a running node");
    writeIncarnation(process.context, process.shell.core.incarnation());
  }

  leave(node: GossipNode): void {
    node.shell.leave();
  }

  /**
   * Run until `condition` holds, checking it every `checkEveryMs` of virtual
   * time (checking after every event would cost more than the protocol), or
   * until `limitMs` pass. Returns the virtual time taken, or undefined.
   */
  runUntil(condition: () => boolean, limitMs: number, checkEveryMs = 50): number | undefined {
    const startMs = this.sim.nowMs;
    for (let elapsedMs = 0; ; elapsedMs += checkEveryMs) {
      if (condition()) return elapsedMs;
      if (elapsedMs >= limitMs) return undefined;
      this.sim.runUntil(startMs + Math.min(limitMs, elapsedMs + checkEveryMs));
    }
  }

  // ---------------------------------------------------------------- faults

  setFaults(faults: NetworkFaults): void {
    this.network.faults = { ...faults };
  }

  partition(from: readonly GossipNode[], to: readonly GossipNode[], oneWay = false): void {
    this.network.partition(
      from.map((n) => n.address),
      to.map((n) => n.address),
      oneWay,
    );
  }

  heal(): void {
    this.network.heal();
  }

  // ----------------------------------------------------------------- views

  liveNodes(): GossipNode[] {
    return this.nodes.filter((node) => node.live);
  }

  /** `observer`'s record of `member`, or undefined when it does not know it (or has forgotten it). */
  memberIn(observer: GossipNode, member: string): Member | undefined {
    return observer.shell.core.member(member);
  }

  stateIn(observer: GossipNode, member: string): NodeState | undefined {
    return this.memberIn(observer, member)?.state;
  }

  /** True when every live node sees every live node (itself included) as alive. */
  allAliveAmongLive(): boolean {
    const live = this.liveNodes();
    for (const observer of live) {
      const core = observer.shell.core;
      for (const member of live) {
        if (core.member(member.name)?.state !== "alive") return false;
      }
    }
    return true;
  }

  /** A readable account of who sees whom in which state, for failure messages. */
  describeViews(): string {
    const lines: string[] = [];
    for (const observer of this.liveNodes()) {
      const wrong = this.liveNodes()
        .map((m) => [m.name, this.stateIn(observer, m.name) ?? "unknown"] as const)
        .filter(([, state]) => state !== "alive")
        .map(([name, state]) => `${name}=${state}`);
      if (wrong.length > 0) lines.push(`${observer.name} sees ${wrong.join(" ")}`);
    }
    return lines.length === 0 ? "all live nodes see each other alive" : lines.join("\n");
  }

  /**
   * The healed phase that ends a run: loss and duplication stop (delays and
   * jitter stay) and every live node must see every live node alive within
   * `limitMs`. Under continuing loss without TCP fallback pings, suspicions
   * come and go all the time, so "everyone alive" is only a stable state to
   * demand once the faults are gone.
   */
  settle(limitMs: number): void {
    this.network.faults = { ...this.network.faults, lossRate: 0, duplicateRate: 0 };
    const tookMs = this.runUntil(() => this.allAliveAmongLive(), limitMs);
    if (tookMs === undefined) throw new Error(`no convergence within ${limitMs} ms after the faults stopped:\n${this.describeViews()}`);
  }

  /** "Dead" declarations about members that never crashed or left: there must be none. */
  falseDeaths(): RecordedEvent[] {
    return this.events.filter((e) => {
      if (e.kind !== "leave" || e.state !== "dead" || e.member === undefined) return false;
      const member = this.byName.get(e.member);
      return member !== undefined && member.stops === 0;
    });
  }

  /**
   * Checked at the end of every run: no live node sees any member at an
   * incarnation the member itself never reached (incarnations only come from
   * their owner; suspicions and deaths repeat them, never raise them), and
   * every live node sees itself alive. Throws with the offending view.
   */
  checkIncarnations(): void {
    for (const observer of this.liveNodes()) {
      const self = this.memberIn(observer, observer.name);
      assert(self?.state === "alive", `${observer.name} sees itself ${self?.state}`);
      for (const member of observer.shell.core.members()) {
        const owner = this.byName.get(member.name);
        assert(owner, `${observer.name} knows a member nobody runs: ${member.name}`);
        const highest = readIncarnation(owner.sim);
        assert(
          member.incarnation <= highest,
          `${observer.name} sees ${member.name} at incarnation ${member.incarnation}, above its owner's highest ${highest}`,
        );
      }
    }
  }

  /** Packet bytes sent by the running processes (what the shells count). */
  totalBytesSent(): number {
    let total = 0;
    for (const node of this.nodes) total += node.process?.shell.counters.bytesSent ?? 0;
    return total;
  }

  /** Stream bytes (push/pull, TCP pings, user streams) written by the running processes. */
  totalStreamBytesSent(): number {
    let total = 0;
    for (const node of this.nodes) total += node.process?.streamBytesSent ?? 0;
    return total;
  }
}

/**
 * A test's time limit for `defaultSeeds` runs of about `perSeedMs` each
 * (wall time), scaled when SEED or SEEDS changes how many run, so a soak is
 * not cut short by the limit meant for CI.
 */
export function simTimeoutMs(defaultSeeds: number, perSeedMs: number): number {
  return Math.max(5_000, seedsToRun(defaultSeeds).length * perSeedMs * 4);
}

/** What a run varies besides its scenario: network faults and the shell's legal settings. */
export type RunKnobs = Required<Pick<GossipClusterOptions, "faults" | "encrypt" | "compress" | "tcpPings" | "seedNodes">> &
  Pick<GossipClusterOptions, "label">;

export interface KnobLimits {
  /** Highest packet loss rate drawn (uniform from 0). */
  lossMax: number;
  /** Force TCP fallback pings on or off; drawn when undefined. */
  tcpPings?: boolean;
}

/**
 * Knobs drawn from the seed within legal bounds, as FoundationDB's simulator
 * does, so that configuration edges get tested: loss, duplication, delay
 * jitter (which reorders packets), encryption, a label, compression, TCP
 * fallback pings and how many seeds nodes join. A separate generator keeps
 * the simulation's own stream untouched by this choice.
 */
export function randomKnobs(seed: number, limits: KnobLimits): RunKnobs {
  const prng = new Prng((seed * 2654435761) % 0x7fffffff ^ 0x5eed);
  const delayMinMs = 1 + prng.int(5);
  const knobs: RunKnobs = {
    faults: {
      lossRate: Math.round(prng.float() * limits.lossMax * 1000) / 1000,
      duplicateRate: Math.round(prng.float() * 0.05 * 1000) / 1000,
      delayMinMs,
      delayMaxMs: delayMinMs + prng.int(60),
    },
    encrypt: prng.chance(0.3),
    compress: prng.chance(0.7),
    tcpPings: limits.tcpPings ?? prng.chance(0.5),
    seedNodes: 1 + prng.int(3),
  };
  if (prng.chance(0.3)) knobs.label = "constellation-sim";
  return knobs;
}

/** One line naming the knobs, for failure messages. */
export function describeKnobs(knobs: RunKnobs): string {
  const f = knobs.faults;
  return (
    `loss ${f.lossRate} dup ${f.duplicateRate} delay ${f.delayMinMs}-${f.delayMaxMs} ms, ` +
    `encrypt ${knobs.encrypt} label ${knobs.label !== undefined} compress ${knobs.compress} ` +
    `tcpPings ${knobs.tcpPings} seeds ${knobs.seedNodes}`
  );
}

function recordOf(atMs: number, observer: string, event: MemberEvent): RecordedEvent {
  switch (event.kind) {
    case "join":
    case "update":
    case "leave":
    case "suspect":
      return { atMs, observer, kind: event.kind, member: event.member.name, state: event.member.state, incarnation: event.member.incarnation };
    case "refuted":
      return { atMs, observer, kind: event.kind, member: observer, incarnation: event.incarnation };
    case "conflict":
    case "joined":
    case "join-failed":
    case "left":
      return { atMs, observer, kind: event.kind };
    default:
      assertNever(event, "member event");
  }
}

function readIncarnation(context: Pick<NodeContext, "disk">): number {
  const bytes = context.disk.read(incarnationKey);
  if (!bytes || bytes.length !== 4) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
}

/** Persist and sync at once: an incarnation used on the wire must survive a crash. */
function writeIncarnation(context: NodeContext, incarnation: number): void {
  if (incarnation <= readIncarnation(context)) return;
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, incarnation);
  context.disk.write(incarnationKey, bytes);
  context.disk.sync();
}
