// The state machine the simulated nodes replicate: a running hash over every
// applied entry (index, term, kind, data), plus the membership in force. Two
// nodes that applied the same entries hold the same hash, so state machine
// safety reduces to comparing hashes index by index; a snapshot is just the
// hash, the index it covers and the membership.

import { assert } from "../../../src/lib/assert.ts";
import { type ConfState, type Entry, decodeConfState, emptyConfState } from "../../../src/raft/index.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Two 32-bit FNV-1a lanes over a string: 16 hex digits. */
export function hashText(text: string, seedA = 0x811c9dc5, seedB = 0x01000193 ^ 0x5bd1e995): string {
  let a = seedA;
  let b = seedB;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x0100019d) >>> 0;
  }
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

export function describeEntry(entry: Entry): string {
  return `${entry.term}/${entry.kind}/${decoder.decode(entry.data)}`;
}

export class ChainMachine {
  index = 0;
  hash = "0";
  conf: ConfState = emptyConfState;

  apply(entry: Entry): void {
    assert(entry.index === this.index + 1, `applied entry ${entry.index} after ${this.index}`);
    this.index = entry.index;
    this.hash = hashText(`${this.hash}|${entry.index}|${describeEntry(entry)}`);
    if (entry.kind === "config") {
      const conf = decodeConfState(entry.data);
      assert(conf, `config entry ${entry.index} is not a membership`);
      this.conf = conf;
    }
  }

  snapshotData(): Uint8Array {
    return encoder.encode(JSON.stringify({ index: this.index, hash: this.hash }));
  }

  restore(data: Uint8Array, index: number, conf: ConfState): void {
    const image = JSON.parse(decoder.decode(data)) as { index: number; hash: string };
    assert(image.index === index, `snapshot image at ${image.index} labelled ${index}`);
    this.index = image.index;
    this.hash = image.hash;
    this.conf = conf;
  }
}
