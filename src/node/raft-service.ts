// Raft inside the agent: owns the log (<dataDir>/raft.db), the TCP transport
// on bindAddr:raftPort (sealed with the gossip keyring when gossip is
// encrypted) and a RawNode, which it ticks from a timer and drives with the
// documented loop: persist and fsync, then send, then apply, then advance.
// Node ids are node names; a peer's address is its gossip host and the
// raft_port of its metadata. Once a second, and soon after every membership
// event, it shows the Autopilot what gossip knows of the members and what
// Raft knows of itself, and carries out the one action it decides on:
// bootstrap, add a learner, promote, remove, or hand over leadership.
//
// Bootstrap safety rests on cluster ids. The founders of a cluster all derive
// the same id from the founder set; a node that joins later takes the id of
// the first member that reaches it. Every node persists its id beside the log
// (raft-files.ts) and advertises it in gossip, and the Autopilot never
// bootstraps while any live member advertises one, so a restarted or new node
// never starts a second cluster. Messages cross only between members of the
// same cluster (raft-peers.ts), so two clusters that formed apart anyway, or a
// cluster rebuilt by `raft recover`, never mix their logs.
//
// Failures: the storage and the listener are opened at start-up, and a
// failure there stops the agent with a sentence naming the file or port. A
// storage failure later (SqliteRaftStorageError), or a broken invariant,
// stops Raft on this node, keeps the rest of the agent running, and is
// reported in the status: the node restarts from what its file holds when the
// agent is restarted. Bad input from the network is dropped and counted.

import { randomBytes } from "node:crypto";
import type { Config } from "../config/schema.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../lib/log.ts";
import { Prng } from "../lib/prng.ts";
import { assert, assertNever } from "../lib/assert.ts";
import { SqliteRaftStorage, SqliteRaftStorageError } from "../adapters/raft-sqlite.ts";
import { RaftTcpTransport } from "../adapters/raft-tcp.ts";
import { nodeAead } from "../adapters/aead.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type Ready,
  type Snapshot,
  type SoftState,
  type TickTiming,
  RawNode,
  bootstrapStorage,
  decodeConfState,
  decodeMessage,
  emptyConfState,
  encodeMessage,
  persistReady,
  ticksFromTiming,
} from "../raft/index.ts";
import { Autopilot, type AutopilotAction, type AutopilotConfig, type AutopilotRaft, autopilotDefaults, clusterIdOf } from "../raft/autopilot.ts";
import type { RaftSender } from "../raft/transport.ts";
import type { Member } from "../gossip/members.ts";
import type { RaftControl, RaftLeaderView, RaftPeersView, RaftPeerView, RaftStatusView, RemovePeerResult } from "../api/raft-api.ts";
import type { GossipService } from "./gossip-service.ts";
import { ClusterMachine, snapshotIfDue } from "./raft-machine.ts";
import { type LeaseRaft, LeaseService } from "./lease-service.ts";
import {
  type RaftMember,
  GoneMembers,
  admitMessage,
  autopilotMembers,
  describeMember,
  foundersInView,
  removePeerRefusal,
  sendAllowed,
} from "./raft-peers.ts";
import { raftDatabasePath, readClusterFile, writeClusterFile } from "./raft-files.ts";

/** How often the Autopilot looks at the members when nothing happens. */
export const autopilotIntervalMs = 1000;
/** Membership events are gathered this long before the Autopilot looks. */
const autopilotEventDelayMs = 50;
/** Readies handled in one go; more wait for the next turn of the event loop, so timers and sockets keep running. */
const readiesPerDrainMax = 64;
/** Decoded gossip metadata remembered by node name; cleared when full. */
const memberCacheMax = 1024;
/** The same complaint is logged at most once per this interval. */
const complaintIntervalMs = 60_000;
/** Distinct complaints remembered for rate limiting; cleared when full. */
const complaintsMax = 256;

type Phase = { kind: "opened" } | { kind: "running" } | { kind: "failed"; reason: string } | { kind: "stopped" };

interface Counters {
  messagesReceived: number;
  messagesSent: number;
  droppedMalformed: number;
  droppedSenderMismatch: number;
  droppedOtherCluster: number;
  droppedNoAddress: number;
  autopilotActions: number;
  autopilotRefusals: number;
  leadershipTransfers: number;
  snapshots: number;
}

export class RaftService implements RaftControl, LeaseRaft {
  private phase: Phase = { kind: "stopped" };
  private storage: SqliteRaftStorage | undefined;
  private transport: RaftTcpTransport | undefined;
  private node: RawNode | undefined;
  private clusterId: string | undefined;
  private readonly self: string;
  private readonly timing: TickTiming;
  private readonly machine = new ClusterMachine();
  /** The leases granted by this Raft group (the state machine's lease table). */
  readonly leases: LeaseService;
  private readonly autopilot = new Autopilot();
  private readonly autopilotConfig: AutopilotConfig;
  private readonly gone = new GoneMembers();
  /** Latest membership in the log (committed or not): whom this node talks to. */
  private conf: ConfState = emptyConfState;
  /** Index of the latest config entry written to the log, for "a change is pending". */
  private lastConfigIndex = 0;
  /** Entries up to here were applied before this start; re-applying them is not news. */
  private replayedThroughIndex = 0;
  private readonly members = new Map<string, { incarnation: number; meta: Uint8Array; info: RaftMember }>();
  private readonly nameByAddress = new Map<string, string>();
  private readonly unreachable = new Set<string>();
  private readonly complaints = new Map<string, number>();
  private logged = { role: "follower", lead: "" };
  /** What the node waits for before it belongs to a cluster (for the status). */
  private waiting = "waiting for gossip";
  private tickTimer: ReturnType<typeof setInterval> | undefined;
  private autopilotTimer: ReturnType<typeof setInterval> | undefined;
  private evaluateTimer: ReturnType<typeof setTimeout> | undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private unsubscribe: (() => void) | undefined;
  readonly counters: Counters = {
    messagesReceived: 0,
    messagesSent: 0,
    droppedMalformed: 0,
    droppedSenderMismatch: 0,
    droppedOtherCluster: 0,
    droppedNoAddress: 0,
    autopilotActions: 0,
    autopilotRefusals: 0,
    leadershipTransfers: 0,
    snapshots: 0,
  };

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly gossip: GossipService,
    private readonly clock: Clock,
  ) {
    this.self = config.nodeName;
    this.timing = ticksFromTiming(config.raft);
    this.autopilotConfig = {
      ...autopilotDefaults,
      bootstrapExpect: config.bootstrapExpect,
      maxVoters: config.maxVoters,
      deadRemoveMs: config.raft.deadVoterRemoveMs,
    };
    this.leases = new LeaseService(this.self, config.lease, log.child({ component: "lease" }), clock, this.machine.leases);
    this.leases.attach(this);
  }

  // ------------------------------------------------------------ lifecycle

  /**
   * Open the log and read the cluster file, before gossip starts, so that the
   * first metadata this node gossips already names its cluster. Throws an
   * Error whose message says what is wrong and what to do.
   */
  open(): void {
    const { dataDir } = this.config;
    const file = readClusterFile(dataDir);
    if (!file.ok) throw new Error(`raft: ${file.error}`);
    if (file.record && file.record.node !== this.self) {
      throw new Error(
        `raft: ${dataDir} holds the Raft state of node "${file.record.node}", not "${this.self}"; ` +
          `run this node as ${file.record.node} or give it its own data directory`,
      );
    }
    const opened = SqliteRaftStorage.open(raftDatabasePath(dataDir));
    if (!opened.ok) {
      const hint = opened.error.kind === "locked" ? "; is another agent running with this data directory?" : "";
      throw new Error(`${opened.error.message}${hint}`);
    }
    const storage = opened.storage;
    this.storage = storage;
    this.clusterId = file.record?.cluster_id ?? this.clusterIdFromLog(storage);
    this.restoreMachine(storage.snapshot());
    this.phase = { kind: "opened" };
    if (this.clusterId !== undefined) this.gossip.setRaftCluster(this.clusterId);
  }

  /** A log bootstrapped here whose cluster file was lost names its cluster in entry 1. */
  private clusterIdFromLog(storage: SqliteRaftStorage): string | undefined {
    if (storage.lastIndex() === 0 || storage.firstIndex() !== 1) return undefined;
    const [first] = storage.entries(1, 2, 64 * 1024);
    const conf = first?.kind === "config" && first.term === 1 ? decodeConfState(first.data) : undefined;
    if (!conf) return undefined;
    const clusterId = clusterIdOf(conf.voters);
    writeClusterFile(this.config.dataDir, { cluster_id: clusterId, node: this.self });
    this.log.warn("raft cluster file was missing; restored it from the first log entry", { cluster_id: clusterId });
    return clusterId;
  }

  /** Listen on the raft port and start the node; gossip must be running. Throws when the port cannot be had. */
  start(): void {
    const storage = this.storage;
    const shell = this.gossip.running;
    assert(storage !== undefined && this.phase.kind === "opened", "raft start() before open()");
    assert(shell !== undefined, "raft start() before gossip runs");
    const keyring = shell.keyring();
    const transport = RaftTcpTransport.listen({
      nodeId: this.self,
      bindAddr: this.config.bindAddr,
      port: this.config.raftPort,
      // The keyring is read per frame, so a rotation through the API applies to Raft at once.
      security: keyring ? { aead: nodeAead, keyring: () => shell.keyring() ?? keyring } : undefined,
      log: this.log.child({ component: "raft-transport" }),
    });
    this.transport = transport;
    transport.setHandlers({
      onMessage: (from, bytes) => this.guard(() => this.receive(from, bytes)),
      onUnreachable: (address) => this.guard(() => this.peerUnreachable(address)),
    });
    this.createNode();
    this.phase = { kind: "running" };
    this.tickTimer = setInterval(() => this.guard(() => this.tick()), this.timing.tickIntervalMs);
    this.autopilotTimer = setInterval(() => this.guard(() => this.evaluate()), autopilotIntervalMs);
    this.unsubscribe = this.gossip.onMemberEvent((event) => {
      // A peer that restarted is reached at once rather than after the dial back-off.
      if (event.kind === "join") {
        const address = this.member(event.member.name)?.raftAddress;
        if (address) this.transport?.redialNow(address);
      }
      this.evaluateSoon();
    });
    this.log.info("raft listening", {
      address: transport.localAddress,
      encrypted: keyring !== undefined,
      cluster_id: this.clusterId ?? null,
      voters: this.conf.voters,
      last_index: storage.lastIndex(),
    });
    this.guard(() => {
      this.campaignIfAlone();
      this.drain();
      this.evaluate();
    });
  }

  /** Stop ticking and listening and close the log. Leaving the configuration is not part of stopping. */
  stop(): void {
    const wasRunning = this.phase.kind === "running";
    this.halt();
    if (this.phase.kind !== "failed") this.phase = { kind: "stopped" };
    if (wasRunning) this.log.info("raft stopped");
  }

  private halt(): void {
    clearInterval(this.tickTimer);
    clearInterval(this.autopilotTimer);
    clearTimeout(this.evaluateTimer);
    clearTimeout(this.drainTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.transport?.close();
    this.transport = undefined;
    const storage = this.storage;
    this.storage = undefined;
    this.node = undefined;
    if (!storage) return;
    try {
      // Only commit-index moves can be unsynced; keep them rather than relearn them.
      storage.sync();
    } catch {
      // The storage already failed; close() below discards what it held.
    }
    storage.close();
  }

  /**
   * Runs a piece of work on the node; an exception stops Raft here instead of
   * crashing the agent. Returns the work's result, or undefined when Raft is
   * not running or just stopped.
   */
  private guard<T>(work: () => T): T | undefined {
    if (this.phase.kind !== "running") return undefined;
    try {
      return work();
    } catch (error) {
      const reason = error instanceof SqliteRaftStorageError ? error.message : `internal error: ${(error as Error).message}`;
      this.log.error("raft stopped on this node after an error; restart the agent to resume from the log", {
        error: reason,
        stack: error instanceof SqliteRaftStorageError ? undefined : (error as Error).stack,
      });
      this.phase = { kind: "failed", reason };
      this.halt();
      return undefined;
    }
  }

  private createNode(): void {
    const storage = this.storage!;
    this.node = new RawNode({
      id: this.self,
      storage,
      prng: new Prng(randomBytes(4).readUInt32LE(0)),
      electionTicks: this.timing.electionTicks,
      heartbeatTicks: this.timing.heartbeatTicks,
      appliedIndex: this.machine.appliedIndex,
    });
    const status = this.node.status();
    this.conf = status.conf;
    this.lastConfigIndex = status.lastIndex;
    this.replayedThroughIndex = status.commit;
  }

  /** A node that is the only voter need not wait out an election timeout: nobody else can vote. */
  private campaignIfAlone(): void {
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.self) this.node?.campaign();
  }

  // ------------------------------------------------------------ the drive loop

  private tick(): void {
    this.node?.tick();
    this.drain();
    this.leases.tick();
  }

  /** Handle every Ready in the documented order (see Ready in src/raft/rawnode.ts). */
  private drain(): void {
    const node = this.node;
    const storage = this.storage;
    if (!node || !storage) return;
    for (let handled = 0; node.hasReady(); handled++) {
      if (handled === readiesPerDrainMax) {
        this.drainTimer ??= setTimeout(() => {
          this.drainTimer = undefined;
          this.guard(() => this.drain());
        }, 0);
        break;
      }
      const ready = node.ready();
      // Nothing leaves this node before what it depends on is on disk.
      persistReady(storage, ready);
      assert(!storage.unsyncedWrites || !ready.mustSync, "a Ready that must be synced left unsynced writes");
      if (ready.softState) this.noteSoftState(ready.softState, node.basicStatus().term);
      this.noteWritten(ready);
      this.send(ready.messages);
      for (const entry of ready.committedEntries) this.apply(entry);
      if (ready.snapshot) this.restoreMachine(ready.snapshot);
      node.advance(ready);
      this.snapshotIfDue();
    }
    for (const id of this.unreachable) node.reportUnreachable(id);
    this.unreachable.clear();
  }

  /** Keeps the membership and the latest config index in step with what the log now holds. */
  private noteWritten(ready: Ready): void {
    const configs = ready.entries.filter((entry) => entry.kind === "config");
    if (configs.length === 0 && !ready.snapshot) return;
    for (const entry of configs) this.lastConfigIndex = Math.max(this.lastConfigIndex, entry.index);
    if (ready.snapshot) this.lastConfigIndex = Math.max(this.lastConfigIndex, ready.snapshot.meta.index);
    this.conf = this.node!.status().conf;
  }

  private send(messages: readonly Message[]): void {
    const transport = this.transport;
    if (!transport) return;
    for (const message of messages) {
      const peer = this.member(message.to);
      if (!peer?.raftAddress) {
        this.counters.droppedNoAddress++;
        this.unreachable.add(message.to);
        this.complain(`no-address ${message.to}`, "no Raft address for a peer; gossip does not know it yet", { peer: message.to });
        continue;
      }
      if (!sendAllowed(this.clusterId, peer)) {
        this.counters.droppedOtherCluster++;
        this.complain(`send-foreign ${message.to}`, "not sending to a member of another Raft cluster", { peer: message.to, its_cluster: peer.clusterId });
        continue;
      }
      transport.send(peer.raftAddress, encodeMessage(message));
      this.counters.messagesSent++;
    }
  }

  private restoreMachine(snapshot: Snapshot): void {
    const complaint = this.machine.restore(snapshot);
    if (complaint) this.log.warn("raft snapshot image only partly readable; the lease table starts empty", { index: snapshot.meta.index, problem: complaint });
    this.leases.restored();
  }

  private apply(entry: Entry): void {
    const before = this.machine.conf;
    const applied = this.machine.apply(entry);
    assert(this.machine.appliedIndex <= this.storage!.hardState().commit, `applied ${entry.index} past the stored commit`);
    const replayed = entry.index <= this.replayedThroughIndex;
    if (applied.kind === "lease") return this.leases.applied(applied.command, applied.outcome, replayed);
    if (applied.kind === "unreadable") {
      return this.complain("unreadable entry", "raft entry this version cannot read; applied as nothing", { index: entry.index, problem: applied.error });
    }
    if (applied.kind !== "config") return;
    const conf = applied.conf;
    const level = replayed ? "debug" : "info";
    this.log[level]("raft membership applied", { index: entry.index, voters: conf.voters, learners: conf.learners });
    const members = new Set([...conf.voters, ...conf.learners]);
    for (const id of [...before.voters, ...before.learners]) {
      if (members.has(id)) continue;
      if (id === this.self) {
        if (level === "info") this.log.warn("this node was removed from the Raft configuration; it waits to be added again");
        continue;
      }
      const address = this.member(id)?.raftAddress;
      if (address) this.transport?.forget(address);
    }
  }

  private snapshotIfDue(): void {
    const taken = snapshotIfDue(this.storage!, this.machine, this.config.raft.snapshotEveryEntries);
    if (!taken) return;
    this.counters.snapshots++;
    this.log.info("raft snapshot taken", { index: taken.index, log_starts_after: taken.compactedThrough });
  }

  private noteSoftState(soft: SoftState, term: number): void {
    // A node cut off from the others pre-votes every election timeout; a line
    // per attempt would drown the log, so pre-candidacy is logged at debug
    // and every other change of role or leader at info.
    if (soft.role === "pre-candidate") {
      this.log.debug("raft pre-vote", { term });
      return;
    }
    if (soft.role === this.logged.role && soft.lead === this.logged.lead) return;
    this.logged = { role: soft.role, lead: soft.lead };
    this.log.info("raft role changed", { role: soft.role, leader: soft.lead || null, term });
  }

  // ------------------------------------------------------------ the network

  private receive(from: RaftSender, bytes: Uint8Array): void {
    if (!this.node) return;
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      this.counters.droppedMalformed++;
      this.complain(`malformed ${from.nodeId}`, "malformed Raft message dropped", { from: from.nodeId, address: from.address, reason: decoded.error });
      return;
    }
    const message = decoded.message;
    if (message.from !== from.nodeId) {
      this.counters.droppedSenderMismatch++;
      this.complain(`mismatch ${from.nodeId}`, "Raft message dropped: it names another sender than its connection", { connection: from.nodeId, claims: message.from });
      return;
    }
    const admission = admitMessage(this.clusterId, this.conf, this.member(message.from));
    if (!admission.accept) {
      this.counters.droppedOtherCluster++;
      // Before this node belongs to a cluster, founders' first messages can
      // arrive before their metadata names the cluster: expected, not alarming.
      const level = this.clusterId === undefined ? "debug" : "warn";
      this.complain(`refused ${message.from}`, "Raft message refused", { from: message.from, reason: admission.reason }, level);
      return;
    }
    if (admission.adopt !== undefined) this.adoptCluster(admission.adopt, message.from);
    this.counters.messagesReceived++;
    // Adopting a cluster may have made a new node over the same storage.
    this.node!.step(message);
    this.drain();
  }

  private peerUnreachable(address: string): void {
    const id = this.nameByAddress.get(address);
    if (id === undefined || !this.node) return;
    this.node.reportUnreachable(id);
    this.drain();
  }

  /**
   * A member of a cluster reached this node, which belongs to none: take the
   * cluster's id, keep it, advertise it. When this node is one of that
   * cluster's founders (another founder bootstrapped first and its id
   * reached this node before this node's own decision), it writes the same
   * first entry itself, as it would have a moment later: then every founder
   * can campaign, even if the first one dies before replicating anything.
   */
  private adoptCluster(clusterId: string, via: string): void {
    assert(this.clusterId === undefined, `adopting cluster ${clusterId} while in ${this.clusterId}`);
    writeClusterFile(this.config.dataDir, { cluster_id: clusterId, node: this.self });
    this.clusterId = clusterId;
    this.gossip.setRaftCluster(clusterId);
    this.waiting = "";
    const members = this.gossip.running?.core.members().map((member) => this.describe(member)) ?? [];
    const founders = foundersInView(members, this.config.bootstrapExpect, this.self);
    const founder = founders !== undefined && clusterIdOf(founders) === clusterId && bootstrapStorage(this.storage!, { voters: founders, learners: [] });
    if (founder) this.createNode();
    this.log.info("joining raft cluster", { cluster_id: clusterId, via, ...(founder ? { founders } : {}) });
  }

  /** What gossip says of `name`, with its metadata decoded once per change. */
  private member(name: string): RaftMember | undefined {
    const found = this.gossip.running?.core.member(name);
    return found ? this.describe(found) : undefined;
  }

  private describe(member: Member): RaftMember {
    const cached = this.members.get(member.name);
    if (cached && cached.incarnation === member.incarnation && cached.meta === member.meta) {
      if (cached.info.state !== member.state || cached.info.stateChangeMs !== member.stateChangeMs) {
        cached.info = { ...cached.info, state: member.state, stateChangeMs: member.stateChangeMs };
      }
      return cached.info;
    }
    if (this.members.size >= memberCacheMax) {
      this.members.clear();
      this.nameByAddress.clear();
    }
    const info = describeMember(member);
    this.members.set(member.name, { incarnation: member.incarnation, meta: member.meta, info });
    if (info.raftAddress) this.nameByAddress.set(info.raftAddress, member.name);
    return info;
  }

  // ------------------------------------------------------------ autopilot

  private evaluateSoon(): void {
    if (this.phase.kind !== "running" || this.evaluateTimer) return;
    this.evaluateTimer = setTimeout(() => {
      this.evaluateTimer = undefined;
      this.guard(() => this.evaluate());
    }, autopilotEventDelayMs);
  }

  private evaluate(): void {
    const shell = this.gossip.running;
    if (!shell || !this.node) return;
    const nowMs = this.clock.monotonicMs();
    const present = shell.core.members().map((member) => this.describe(member));
    const raft = this.autopilotRaft();
    if (!raft && this.gossip.joinPending()) {
      this.waiting = "waiting to hear from a join seed before deciding whether to bootstrap";
      return;
    }
    const standIns = raft ? this.gone.standIns(present, [...this.conf.voters, ...this.conf.learners], this.self, nowMs) : [];
    const members = autopilotMembers(present, this.clusterId, standIns);
    const action = this.autopilot.decide({ nowMs, self: this.self, raft, members, config: this.autopilotConfig });
    if (!raft) this.waiting = this.describeWait(members);
    if (action) this.carryOut(action, nowMs);
  }

  /** Raft's side of the Autopilot's input; undefined while this node has never been part of a cluster. */
  private autopilotRaft(): AutopilotRaft | undefined {
    const node = this.node!;
    const storage = this.storage!;
    const fresh = storage.lastIndex() === 0 && storage.hardState().term === 0 && storage.snapshot().meta.index === 0;
    if (fresh && this.clusterId === undefined) return undefined;
    const status = node.status();
    const isLeader = status.role === "leader";
    const match: Record<string, number> = {};
    for (const [id, peer] of Object.entries(status.peers)) match[id] = peer.match;
    // The core refuses a change until this term's first entry and the latest
    // config entry are committed; asking only then keeps refusals out of the log.
    const changePending = isLeader && (node.logTerm(status.commit) !== status.term || this.lastConfigIndex > status.commit);
    return { isLeader, voters: status.conf.voters, learners: status.conf.learners, match, lastIndex: status.lastIndex, changePending };
  }

  private describeWait(members: readonly { name: string; raftCapable: boolean; state: string; clusterId?: string }[]): string {
    const existing = members.find((member) => member.clusterId !== undefined && (member.state === "alive" || member.state === "suspect"));
    if (existing) return `waiting to be added to cluster ${existing.clusterId} (advertised by ${existing.name})`;
    const seen = members.filter((member) => member.raftCapable && member.state === "alive").length;
    const expected = this.config.bootstrapExpect;
    return seen < expected
      ? `waiting for ${expected} raft-capable members to bootstrap (${seen} seen)`
      : `waiting for the ${expected} members to stay the same for ${this.autopilotConfig.bootstrapStableMs / 1000} s before bootstrapping`;
  }

  private carryOut(action: AutopilotAction, nowMs: number): void {
    switch (action.kind) {
      case "bootstrap":
        return this.bootstrap(action.voters, action.clusterId);
      case "add-learner":
        return this.change({ type: "add-learner", node: action.id }, "a live raft-capable member is outside the configuration");
      case "promote":
        return this.change({ type: "promote", node: action.id }, "the learner caught up and the voters are fewer than the target");
      case "remove":
        return this.change({ type: "remove", node: action.id }, action.reason);
      case "transfer": {
        // The leases go first, so the next leader takes them without waiting them out.
        this.leases.handover();
        const result = this.node!.transferLeadership(action.to);
        if (!result.ok) this.leases.handoverAborted();
        if (!result.ok) return this.refused(`transfer ${action.to}`, "leadership transfer", action.to, result.error, action.reason);
        this.autopilot.noteTransfer(nowMs);
        this.counters.autopilotActions++;
        this.counters.leadershipTransfers++;
        this.log.info("raft autopilot: transferring leadership", { to: action.to, reason: action.reason });
        this.drain();
        return;
      }
      default:
        assertNever(action, "autopilot action");
    }
  }

  private bootstrap(voters: string[], clusterId: string): void {
    const storage = this.storage!;
    // Every founder must write the same first entry, hence the same sorted list.
    assert(voters.includes(this.self), `bootstrap without this node among the founders ${voters.join(",")}`);
    assert(voters.every((id, i) => i === 0 || voters[i - 1]! < id), `founders not sorted: ${voters.join(",")}`);
    assert(this.clusterId === undefined, "bootstrap of a node that already belongs to a cluster");
    if (!bootstrapStorage(storage, { voters, learners: [] })) {
      return this.refused("bootstrap", "bootstrap", this.self, "the Raft storage is not empty", "");
    }
    writeClusterFile(this.config.dataDir, { cluster_id: clusterId, node: this.self });
    this.clusterId = clusterId;
    this.waiting = "";
    this.gossip.setRaftCluster(clusterId);
    this.counters.autopilotActions++;
    this.log.info("raft autopilot: bootstrapped a new cluster", {
      cluster_id: clusterId,
      founders: voters,
      reason: `${voters.length} raft-capable member${voters.length === 1 ? "" : "s"} seen (bootstrapExpect ${this.config.bootstrapExpect}) and no existing cluster advertised`,
    });
    this.createNode();
    this.campaignIfAlone();
    this.drain();
  }

  private change(change: ConfChange, reason: string): void {
    const result = this.node!.proposeConfChange(change);
    if (!result.ok) return this.refused(`${change.type} ${change.node}`, change.type, change.node, result.error, reason);
    this.counters.autopilotActions++;
    this.log.info(`raft autopilot: ${change.type}`, { node: change.node, index: result.index, reason });
    this.drain();
  }

  private refused(key: string, what: string, node: string, error: string, reason: string): void {
    this.counters.autopilotRefusals++;
    this.complain(`autopilot ${key} ${error}`, `raft autopilot: ${what} refused`, { node, error, ...(reason ? { reason } : {}) });
  }

  /** Logs a warning (or a debug line), at most once per complaintIntervalMs for the same key. */
  private complain(key: string, message: string, fields: Record<string, unknown>, level: "warn" | "debug" = "warn"): void {
    const nowMs = this.clock.monotonicMs();
    const last = this.complaints.get(key);
    if (last !== undefined && nowMs - last < complaintIntervalMs) return;
    if (this.complaints.size >= complaintsMax) this.complaints.clear();
    this.complaints.set(key, nowMs);
    this.log[level](message, fields);
  }

  // ------------------------------------------------------------ for the leases

  leadership(): { isLeader: boolean; ready: boolean } {
    const node = this.node;
    if (this.phase.kind !== "running" || !node) return { isLeader: false, ready: false };
    const status = node.basicStatus();
    const isLeader = status.role === "leader";
    return { isLeader, ready: isLeader && node.logTerm(this.machine.appliedIndex) === status.term };
  }

  propose(data: Uint8Array): { ok: true; index: number } | { ok: false; error: string } {
    const node = this.node;
    if (this.phase.kind !== "running" || !node) return { ok: false, error: `Raft is ${this.phase.kind} on this node` };
    const result = this.guard(() => {
      const proposed = node.propose([data]);
      if (proposed.ok) this.drain();
      return proposed;
    });
    if (!result) return { ok: false, error: "Raft stopped on this node while proposing" };
    return result.ok ? { ok: true, index: result.firstIndex } : { ok: false, error: result.error };
  }

  appliedIndex(): number {
    return this.machine.appliedIndex;
  }

  // ------------------------------------------------------------ operator views and actions

  status(): RaftStatusView {
    const node = this.node;
    const status = node?.status();
    const storage = this.storage;
    const peers: RaftStatusView["peers"] = {};
    for (const [id, peer] of Object.entries(status?.peers ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
      peers[id] = { match: peer.match, next: peer.next, state: peer.state, recent_active: peer.recentActive, is_learner: peer.isLearner };
    }
    return {
      is_leader: status?.role === "leader",
      leader: status?.lead ?? "",
      timestamp: new Date(this.clock.wallMs()).toISOString(),
      node: this.self,
      state: this.phase.kind === "opened" ? "starting" : this.phase.kind,
      ...(this.phase.kind === "failed" ? { error: this.phase.reason } : {}),
      cluster_id: this.clusterId ?? null,
      ...(this.clusterId === undefined && this.waiting !== "" ? { waiting: this.waiting } : {}),
      role: status?.role ?? "follower",
      term: status?.term ?? 0,
      voters: [...(status?.conf.voters ?? this.conf.voters)],
      learners: [...(status?.conf.learners ?? this.conf.learners)],
      commit_index: status?.commit ?? 0,
      applied_index: this.machine.appliedIndex,
      first_index: status?.firstIndex ?? 0,
      last_index: status?.lastIndex ?? 0,
      snapshot_index: storage?.snapshot().meta.index ?? 0,
      peers,
      counters: { ...this.counters, ...(this.transport?.counters() ?? {}) },
    };
  }

  leader(): RaftLeaderView {
    const status = this.node?.basicStatus();
    return { leader: status?.lead ?? "", term: status?.term ?? 0, timestamp: new Date(this.clock.wallMs()).toISOString() };
  }

  peers(): RaftPeersView {
    const status = this.node?.status();
    const conf = status?.conf ?? this.conf;
    const lead = status?.lead ?? "";
    const row = (id: string, suffrage: "voter" | "learner"): RaftPeerView => {
      const member = this.member(id);
      const match = id === this.self && status?.role === "leader" ? status.lastIndex : status?.peers[id]?.match;
      return {
        id,
        suffrage,
        leader: id === lead,
        self: id === this.self,
        gossip: member?.state ?? "unknown",
        address: member?.raftAddress ?? null,
        priority: member && member.raftAddress ? member.priority : null,
        match: match ?? null,
      };
    };
    return {
      self: this.self,
      leader: lead,
      term: status?.term ?? 0,
      cluster_id: this.clusterId ?? null,
      last_index: status?.lastIndex ?? 0,
      peers: [...[...conf.voters].sort().map((id) => row(id, "voter")), ...[...conf.learners].sort().map((id) => row(id, "learner"))],
    };
  }

  removePeer(id: string, force: boolean): RemovePeerResult {
    const node = this.node;
    if (this.phase.kind !== "running" || !node) return { ok: false, status: 503, error: { error: `Raft is ${this.phase.kind} on this node` } };
    const status = node.status();
    if (status.role !== "leader") {
      const leader = status.lead;
      const leaderApi = leader ? this.member(leader)?.apiUrl : undefined;
      const error = leader ? `this node is not the leader; ${leader} is` : "no leader is known right now; try again shortly";
      return { ok: false, status: 409, error: { error, ...(leader ? { leader } : {}), ...(leaderApi ? { leader_api: leaderApi } : {}) } };
    }
    const refusal = removePeerRefusal(status.conf, id, this.self, this.member(id)?.state, force);
    if (refusal) return { ok: false, status: refusal.status, error: { error: refusal.error } };
    const result = this.guard(() => {
      const proposed = node.proposeConfChange({ type: "remove", node: id });
      if (proposed.ok) this.drain();
      return proposed;
    });
    if (!result) return { ok: false, status: 503, error: { error: "Raft stopped on this node while proposing the change" } };
    if (!result.ok) return { ok: false, status: 409, error: { error: `the change was refused: ${result.error}` } };
    this.log.info("raft peer removal requested by an operator", { node: id, force, index: result.index });
    return { ok: true, accepted: { id, index: result.index, term: result.term } };
  }

  /** One line for `constellation status`. */
  summary(): string {
    switch (this.phase.kind) {
      case "failed":
        return `failed: ${this.phase.reason}`;
      case "stopped":
        return "stopped";
      case "opened":
        return "starting";
      case "running":
        break;
      default:
        assertNever(this.phase, "raft phase");
    }
    if (this.clusterId === undefined) return this.waiting;
    const status = this.node!.status();
    const { voters, learners } = status.conf;
    const members = `${voters.length} voter${voters.length === 1 ? "" : "s"}${learners.length > 0 ? `, ${learners.length} learner${learners.length === 1 ? "" : "s"}` : ""}`;
    const role = status.role === "leader" ? "leader" : status.lead ? `follower of ${status.lead}` : "no leader";
    return `${role} (term ${status.term}), ${members}, cluster ${this.clusterId}`;
  }
}
