// Simulated nodes: each runs a process built by a factory, with its own
// drifting clock, timers in its own time, a PRNG forked from the run's, the
// network, and a disk whose unsynced writes are lost when the node crashes.
// Crash stops the process at once (its timers never fire, its streams break);
// restart builds a fresh process on the same disk. Pause stalls the process
// (a GC pause, SIGSTOP): its clock runs on, but its timers and the datagrams
// sent to it wait until it resumes, then all run at that instant.

import type { Clock } from "../../src/lib/clock.ts";
import { Prng } from "../../src/lib/prng.ts";
import { assert } from "../../src/lib/assert.ts";
import type { Simulation, SimEvent } from "./kernel.ts";
import type { SimNetwork, SimStreamEnd } from "./network.ts";
import { DriftingClock } from "./clock.ts";

/** Durable storage with explicit sync: what was not synced is gone after a crash. */
export class SimDisk {
  private readonly durable = new Map<string, Uint8Array>();
  private readonly pending = new Map<string, Uint8Array | undefined>();

  write(key: string, value: Uint8Array): void {
    this.pending.set(key, value.slice());
  }

  remove(key: string): void {
    this.pending.set(key, undefined);
  }

  read(key: string): Uint8Array | undefined {
    if (this.pending.has(key)) return this.pending.get(key)?.slice();
    return this.durable.get(key)?.slice();
  }

  keys(): string[] {
    const all = new Set([...this.durable.keys(), ...this.pending.keys()]);
    return [...all].filter((key) => this.read(key) !== undefined).sort();
  }

  sync(): void {
    for (const [key, value] of this.pending) {
      if (value === undefined) this.durable.delete(key);
      else this.durable.set(key, value);
    }
    this.pending.clear();
  }

  /** Called by the simulator on crash. */
  loseUnsynced(): void {
    this.pending.clear();
  }
}

export interface NodeContext {
  readonly address: string;
  readonly clock: Clock;
  readonly prng: Prng;
  readonly disk: SimDisk;
  /** Fire `run` after `delayMs` of this node's local time. */
  setTimer(delayMs: number, label: string, run: () => void): SimEvent;
  cancelTimer(timer: SimEvent): void;
  sendDatagram(to: string, bytes: Uint8Array): void;
  openStream(to: string, done: (result: SimStreamEnd | string) => void): void;
  /** Record a protocol-level event in the run's trace. */
  trace(line: string): void;
}

export interface SimProcess {
  onDatagram(from: string, bytes: Uint8Array): void;
  onStream(stream: SimStreamEnd): void;
}

export type ProcessFactory = (context: NodeContext) => SimProcess;

export class SimNode {
  private process: SimProcess | undefined;
  private epoch = 0;
  private readonly timers = new Set<SimEvent>();
  readonly disk = new SimDisk();
  readonly clock: DriftingClock;
  private readonly prng: Prng;
  restarts = 0;
  /** Real time until which the process is stalled; events for it wait until then. */
  private pausedUntilMs = -Infinity;
  pauses = 0;

  constructor(
    private readonly sim: Simulation,
    private readonly network: SimNetwork,
    readonly address: string,
    private readonly factory: ProcessFactory,
    options: { offsetMs?: number; driftPpm?: number } = {},
  ) {
    this.clock = new DriftingClock(sim, options.offsetMs ?? 0, options.driftPpm ?? 0);
    this.prng = sim.prng.fork();
    network.attach(address, {
      up: () => this.process !== undefined,
      receiveDatagram: (from, bytes) => this.whenRunning("datagram", () => this.process?.onDatagram(from, bytes)),
      acceptStream: (stream) => {
        if (this.process) this.process.onStream(stream);
        else stream.close("refused");
      },
    });
  }

  get up(): boolean {
    return this.process !== undefined;
  }

  current<T extends SimProcess>(): T | undefined {
    return this.process as T | undefined;
  }

  start(): void {
    assert(!this.process, `${this.address} is already running`);
    this.network.setHostDown(this.address, false);
    const epoch = ++this.epoch;
    const alive = () => this.epoch === epoch && this.process !== undefined;
    const context: NodeContext = {
      address: this.address,
      clock: this.clock,
      prng: this.prng.fork(),
      disk: this.disk,
      setTimer: (delayMs, label, run) => {
        const event = this.sim.after(this.clock.realDelayOf(delayMs), `${this.address} timer ${label}`, () => {
          this.timers.delete(event);
          if (alive()) this.whenRunning(`timer ${label}`, () => alive() && run());
        });
        this.timers.add(event);
        return event;
      },
      cancelTimer: (timer) => {
        this.timers.delete(timer);
        this.sim.cancel(timer);
      },
      sendDatagram: (to, bytes) => {
        if (alive()) this.network.sendDatagram(this.address, to, bytes);
      },
      openStream: (to, done) => {
        if (!alive()) return;
        this.network.openStream(this.address, to, (result) => {
          if (!alive()) {
            if (typeof result !== "string") result.close("caller crashed");
            return;
          }
          done(result);
        });
      },
      trace: (line) => this.sim.trace.record(`${this.address} ${line}`),
    };
    this.sim.trace.record(`start ${this.address} epoch ${epoch}`);
    this.process = this.factory(context);
  }

  get paused(): boolean {
    return this.sim.nowMs < this.pausedUntilMs;
  }

  /** Stall the process for `durationMs` of real time (a crash or restart meanwhile ends the pause). */
  pause(durationMs: number): void {
    assert(this.process, `${this.address} is not running`);
    this.pausedUntilMs = Math.max(this.pausedUntilMs, this.sim.nowMs + durationMs);
    this.pauses++;
    this.sim.trace.record(`pause ${this.address} until ${this.pausedUntilMs.toFixed(3)}`);
  }

  /** Run `work` now, or when the pause ends. */
  private whenRunning(label: string, work: () => void): void {
    if (!this.paused) return work();
    const epoch = this.epoch;
    this.sim.at(this.pausedUntilMs, `${this.address} resumed ${label}`, () => {
      if (this.epoch === epoch) this.whenRunning(label, work);
    });
  }

  /** Stop the process at once; with `hostDown`, its whole machine (connections then go unanswered, not refused). */
  crash(hostDown = false): void {
    assert(this.process, `${this.address} is not running`);
    this.network.setHostDown(this.address, hostDown);
    this.process = undefined;
    this.epoch++;
    this.pausedUntilMs = -Infinity;
    for (const timer of this.timers) this.sim.cancel(timer);
    this.timers.clear();
    this.disk.loseUnsynced();
    this.network.breakStreamsOf(this.address);
    this.sim.trace.record(`crash ${this.address}`);
  }

  restart(): void {
    this.restarts++;
    this.start();
  }
}
