// The wire codec is the boundary between the network and the core: every
// message round-trips, and malformed or inconsistent input is rejected with
// a reason instead of reaching the core's assertions.

import { describe, expect, test } from "bun:test";
import { decodeBase64, encodeBase64 } from "../../src/raft/base64.ts";
import { type Message, decodeMessage, encodeConfState, encodeMessage, validateMessage } from "../../src/raft/index.ts";
import { Prng } from "../../src/lib/prng.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const conf = { voters: ["a", "b"], learners: ["c"] };

const samples: Message[] = [
  { type: "append", from: "a", to: "b", term: 3, prevIndex: 4, prevTerm: 2, commit: 4, entries: [
    { index: 5, term: 3, kind: "normal", data: bytes("x") },
    { index: 6, term: 3, kind: "config", data: encodeConfState(conf) },
    { index: 7, term: 3, kind: "noop", data: new Uint8Array(0) },
  ] },
  { type: "append-response", from: "b", to: "a", term: 3, index: 7, reject: false, hintIndex: 0, hintTerm: 0 },
  { type: "heartbeat", from: "a", to: "b", term: 3, commit: 2 },
  { type: "heartbeat-response", from: "b", to: "a", term: 3 },
  { type: "vote", from: "a", to: "b", term: 3, lastIndex: 9, lastTerm: 2, transfer: true },
  { type: "pre-vote", from: "a", to: "b", term: 3, lastIndex: 9, lastTerm: 2, transfer: false },
  { type: "vote-response", from: "b", to: "a", term: 3, reject: true },
  { type: "pre-vote-response", from: "b", to: "a", term: 4, reject: false },
  { type: "snapshot", from: "a", to: "b", term: 3, snapshot: { meta: { index: 9, term: 2, conf }, data: bytes("image") } },
  { type: "timeout-now", from: "a", to: "b", term: 3 },
];

describe("raft codec", () => {
  test.each(samples.map((message) => [message.type, message] as const))("%s round-trips", (_type, message) => {
    const decoded = decodeMessage(encodeMessage(message));
    expect(decoded).toEqual({ ok: true, message });
  });

  const append = samples[0] as Extract<Message, { type: "append" }>;
  test.each([
    ["not JSON", bytes("{"), "not valid JSON"],
    ["an unknown type", encodeMessage({ ...samples[3]!, type: "gossip" } as unknown as Message), "unknown message type"],
    ["a negative term", encodeMessage({ ...samples[3]!, term: -1 }), "term must be a non-negative integer"],
    ["a message to itself", encodeMessage({ ...samples[3]!, to: "a", from: "a" }), "to itself"],
    ["a gap after prevIndex", encodeMessage({ ...append, prevIndex: 3 }), "expected 4"],
    ["an entry above the sender's term", encodeMessage({ ...append, term: 2, prevTerm: 1 }), "outside [1, 2]"],
    ["a config entry that is not a membership", encodeMessage({ ...append, entries: [{ index: 5, term: 3, kind: "config", data: bytes("[]") }] }), "valid membership"],
    ["an empty node id", encodeMessage({ ...samples[3]!, from: "" }), "node id"],
  ])("rejects %s", (_what, data, reason) => {
    const decoded = decodeMessage(data);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error).toContain(reason);
  });

  test("rejects bad base64 and missing fields", () => {
    const wire = JSON.parse(new TextDecoder().decode(encodeMessage(append)));
    wire.entries[0].data = "!!!!";
    expect(validateMessage(wire).ok).toBe(false);
    expect(validateMessage({ type: "heartbeat", from: "a", to: "b", term: 1 }).ok).toBe(false);
  });

  test("base64 matches the standard encoding", () => {
    const prng = new Prng(5);
    for (let length = 0; length < 40; length++) {
      const data = prng.fill(new Uint8Array(length));
      const text = encodeBase64(data);
      expect(text).toBe(Buffer.from(data).toString("base64"));
      expect(decodeBase64(text)).toEqual(data);
    }
    expect(decodeBase64("abc")).toBeUndefined();
    expect(decodeBase64("ab=c")).toBeUndefined();
  });
});
