// The Raft safety properties, checked while a simulation runs (Figure 3 of
// the Raft paper, plus durability across crashes):
//   election safety     - at most one leader per term, checked after every event;
//   log matching        - an (index, term) pair names one entry, whose
//                         predecessor has one term, so equal pairs imply
//                         equal prefixes (checked on every entry written);
//   leader completeness - a leader holds every entry committed in an earlier term;
//   state machine safety- no two nodes apply different entries at one index,
//                         and snapshots carry the state those entries build;
//   durability          - an index once committed keeps its term forever, a
//                         restarted node still holds what it committed, and an
//                         acknowledged proposal is at its index on every node
//                         that later applies that index.
// A violation throws at once with the recent trace, so the seed replays it.

import type { Ready, Snapshot } from "../../../src/raft/index.ts";
import type { Entry } from "../../../src/raft/types.ts";
import type { Simulation } from "../kernel.ts";
import { describeEntry } from "./chain-machine.ts";
import type { RaftShell, ShellObserver } from "./shell.ts";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

export class RaftChecker implements ShellObserver {
  private readonly leaderOfTerm = new Map<number, string>();
  /** "index/term" -> the entry's description and its predecessor's term. */
  private readonly entryAt = new Map<string, { text: string; previousTerm: number }>();
  private readonly committedTerm = new Map<number, number>();
  /** term -> the highest index its leader committed. */
  private readonly committedInTerm = new Map<number, number>();
  private readonly appliedAt = new Map<number, string>();
  private readonly chainAt = new Map<number, string>();
  readonly acknowledgedAt = new Map<number, string>();
  /** Per node (and process lifetime): the commit index already checked. */
  private readonly commitChecked = new Map<string, number>();
  /** Per node: the (term) it was last seen leading, so completeness is checked once per term. */
  private readonly leadingChecked = new Map<string, number>();
  checks = 0;
  snapshotsInstalled = 0;
  configsApplied = 0;

  constructor(private readonly sim: Simulation) {}

  fail(message: string): never {
    const recent = this.sim.trace.recent.slice(-25).join("\n  ");
    throw new InvariantViolation(`${message} (at ${this.sim.nowMs.toFixed(3)} ms)\nrecent events:\n  ${recent}`);
  }

  started(shell: RaftShell): void {
    const status = shell.node.status();
    this.commitChecked.set(shell.address, status.commit);
    // What a node committed before it crashed must still be in its log.
    for (let index = Math.max(status.firstIndex, 1); index <= Math.min(status.commit, status.lastIndex); index++) {
      const term = shell.node.logTerm(index);
      if (term === undefined) this.fail(`${shell.address} restarted without its committed entry ${index}`);
      this.recordCommitted(shell.address, index, term);
    }
    this.checkChain(shell.address, shell.machine.index, shell.machine.hash);
  }

  readyTaken(shell: RaftShell, ready: Ready): void {
    this.checks++;
    if (ready.entries.length > 0) this.checkLogMatching(shell, ready.entries);
  }

  /**
   * Commit indices are recorded once durable: a leader counts its own entries
   * before they reach its disk, which is safe only because nothing leaves the
   * node before the fsync, so a crash in between loses the entries and the
   * commit index together and nobody ever saw them.
   */
  persisted(shell: RaftShell, ready: Ready): void {
    if (ready.snapshot) this.recordCommitted(shell.address, ready.snapshot.meta.index, ready.snapshot.meta.term);
    if (ready.hardState) this.checkCommit(shell, ready.hardState.commit, ready.hardState.term);
  }

  private checkLogMatching(shell: RaftShell, entries: readonly Entry[]): void {
    let previousTerm = shell.node.logTerm(entries[0]!.index - 1);
    if (previousTerm === undefined) this.fail(`${shell.address} writes entry ${entries[0]!.index} without its predecessor`);
    for (const entry of entries) {
      const key = `${entry.index}/${entry.term}`;
      const text = describeEntry(entry);
      const known = this.entryAt.get(key);
      if (known && (known.text !== text || known.previousTerm !== previousTerm)) {
        this.fail(`log matching: ${shell.address} holds ${key} = ${text} after term ${previousTerm}, elsewhere ${known.text} after term ${known.previousTerm}`);
      }
      if (!known) this.entryAt.set(key, { text, previousTerm });
      previousTerm = entry.term;
    }
  }

  private checkCommit(shell: RaftShell, commit: number, term: number): void {
    const from = this.commitChecked.get(shell.address) ?? 0;
    for (let index = from + 1; index <= commit; index++) {
      const entryTerm = shell.node.logTerm(index);
      if (entryTerm !== undefined) this.recordCommitted(shell.address, index, entryTerm);
    }
    this.commitChecked.set(shell.address, Math.max(from, commit));
    const status = shell.node.basicStatus();
    if (status.role === "leader" && status.term === term && commit > (this.committedInTerm.get(term) ?? 0)) {
      this.committedInTerm.set(term, commit);
    }
  }

  private recordCommitted(address: string, index: number, term: number): void {
    const known = this.committedTerm.get(index);
    if (known !== undefined && known !== term) this.fail(`committed entry ${index} changed from term ${known} to ${term} on ${address}`);
    this.committedTerm.set(index, term);
  }

  applied(shell: RaftShell, entry: Entry): void {
    const text = describeEntry(entry);
    const known = this.appliedAt.get(entry.index);
    if (known !== undefined && known !== text) this.fail(`state machine safety: ${shell.address} applied ${text} at ${entry.index}, another node ${known}`);
    if (known === undefined && entry.kind === "config") this.configsApplied++;
    this.appliedAt.set(entry.index, text);
    const committed = this.committedTerm.get(entry.index);
    if (committed !== undefined && committed !== entry.term) this.fail(`${shell.address} applied term ${entry.term} at ${entry.index}, committed term ${committed}`);
    const acknowledged = this.acknowledgedAt.get(entry.index);
    if (acknowledged !== undefined && !text.endsWith(`/normal/${acknowledged}`)) {
      this.fail(`acknowledged ${acknowledged} at ${entry.index} but ${shell.address} applied ${text}`);
    }
    this.checkChain(shell.address, entry.index, shell.machine.hash);
  }

  installed(shell: RaftShell, snapshot: Snapshot): void {
    this.snapshotsInstalled++;
    this.checkChain(shell.address, snapshot.meta.index, shell.machine.hash);
  }

  private checkChain(address: string, index: number, hash: string): void {
    if (index === 0) return;
    const known = this.chainAt.get(index);
    if (known !== undefined && known !== hash) this.fail(`state machine safety: ${address} has state ${hash} at ${index}, another node ${known}`);
    this.chainAt.set(index, hash);
  }

  acknowledged(shell: RaftShell, index: number, payload: string): void {
    const known = this.acknowledgedAt.get(index);
    if (known !== undefined && known !== payload) this.fail(`two proposals acknowledged at ${index}: ${known} and ${payload} (${shell.address})`);
    this.acknowledgedAt.set(index, payload);
  }

  /** After every simulation event: one leader per term, and each leader complete. */
  afterEvent(shells: readonly RaftShell[]): void {
    for (const shell of shells) {
      const status = shell.node.basicStatus();
      if (status.role !== "leader") continue;
      const holder = this.leaderOfTerm.get(status.term);
      if (holder !== undefined && holder !== shell.address) this.fail(`election safety: ${holder} and ${shell.address} both lead term ${status.term}`);
      this.leaderOfTerm.set(status.term, shell.address);
      if (this.leadingChecked.get(shell.address) === status.term) continue;
      this.leadingChecked.set(shell.address, status.term);
      const { firstIndex, lastIndex } = shell.node.status();
      this.checkLeaderComplete(shell, status.term, firstIndex, lastIndex);
    }
  }

  private checkLeaderComplete(shell: RaftShell, term: number, firstIndex: number, lastIndex: number): void {
    let highest = 0;
    for (const [committedTerm, index] of this.committedInTerm) if (committedTerm < term) highest = Math.max(highest, index);
    if (highest === 0 || highest < firstIndex - 1) return; // covered by the leader's snapshot
    const expected = this.committedTerm.get(highest);
    if (highest > lastIndex || shell.node.logTerm(highest) !== expected) {
      this.fail(`leader completeness: ${shell.address} leads term ${term} without committed entry ${highest} (term ${expected})`);
    }
  }

  get leadersElected(): number {
    return this.leaderOfTerm.size;
  }
}
