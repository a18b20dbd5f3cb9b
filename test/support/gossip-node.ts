// An in-process gossip node on real loopback sockets, for interop tests: the
// production shell and transport, with a recording delegate.

import { randomBytes } from "node:crypto";
import { BunGossipTransport } from "../../src/adapters/bun-transport.ts";
import { SystemClock } from "../../src/adapters/system-clock.ts";
import { nodeAead } from "../../src/adapters/aead.ts";
import { profiles } from "../../src/config/profiles.ts";
import { Logger } from "../../src/lib/log.ts";
import { Prng } from "../../src/lib/prng.ts";
import { decodeBase64, createKeyring } from "../../src/gossip/security.ts";
import type { MemberEvent, SwimDelegate } from "../../src/gossip/types.ts";
import { GossipShell } from "../../src/node/gossip-shell.ts";
import { eventLoopWakeups } from "../../src/node/wakeups.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class RecordingDelegate implements SwimDelegate {
  readonly messages: string[] = [];
  readonly remoteStates: Array<{ state: string; join: boolean }> = [];
  readonly queued: Uint8Array[] = [];

  constructor(public state = "") {}

  localState(): Uint8Array {
    return encoder.encode(this.state);
  }
  mergeRemoteState(state: Uint8Array, join: boolean): void {
    this.remoteStates.push({ state: decoder.decode(state), join });
  }
  notifyMessage(payload: Uint8Array): void {
    this.messages.push(decoder.decode(payload));
  }
  broadcasts(overheadBytes: number, limitBytes: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let used = 0;
    while (this.queued.length > 0 && used + this.queued[0]!.length + overheadBytes <= limitBytes) {
      const next = this.queued.shift()!;
      used += next.length + overheadBytes;
      out.push(next);
    }
    return out;
  }
  broadcast(text: string): void {
    this.queued.push(encoder.encode(text));
  }
}

export interface TestNode {
  shell: GossipShell;
  delegate: RecordingDelegate;
  events: MemberEvent[];
  logs: string[];
  address: string;
  stop(): void;
}

export async function startNode(options: { name: string; port: number; key?: string; meta?: string; state?: string }): Promise<TestNode> {
  const transport = await BunGossipTransport.bind("127.0.0.1", options.port);
  const logs: string[] = [];
  const delegate = new RecordingDelegate(options.state ?? "");
  const keyBytes = options.key === undefined ? undefined : decodeBase64(options.key);
  const keyring = keyBytes ? createKeyring([keyBytes]) : undefined;
  if (keyring && !keyring.ok) throw new Error(keyring.error);
  const shell = new GossipShell(
    {
      swim: {
        name: options.name,
        advertiseHost: "127.0.0.1",
        advertiseAddr: Uint8Array.from([127, 0, 0, 1]),
        advertisePort: options.port,
        meta: encoder.encode(options.meta ?? ""),
        gossip: profiles.local.gossip,
      },
      encryption: keyring?.ok ? { aead: nodeAead, keyring: keyring.keyring, label: new Uint8Array(0), version: 1 } : undefined,
      randomBytes: (length) => new Uint8Array(randomBytes(length)),
    },
    transport,
    new SystemClock(),
    eventLoopWakeups,
    new Prng(options.port),
    delegate,
    new Logger((line) => logs.push(line), new SystemClock(), "debug"),
  );
  const events: MemberEvent[] = [];
  shell.onEvent = (event) => events.push(event);
  return { shell, delegate, events, logs, address: `127.0.0.1:${options.port}`, stop: () => shell.stop() };
}

export function stateOf(node: TestNode, name: string): string | undefined {
  return node.shell.core.member(name)?.state;
}
