// Small byte-level helpers shared by the wire codecs (gossip, replicated
// state): big-endian 32-bit numbers written and read in place, without a
// DataView (which would make the engine move a small typed array's bytes out
// of the garbage-collected heap), and an ASCII test for strings that can be
// copied byte for byte.

/** Write `value` (taken as an unsigned 32-bit integer) big-endian at `at`. */
export function writeUint32(out: Uint8Array, at: number, value: number): void {
  const word = value >>> 0;
  out[at] = word >>> 24;
  out[at + 1] = (word >>> 16) & 0xff;
  out[at + 2] = (word >>> 8) & 0xff;
  out[at + 3] = word & 0xff;
}

/** The unsigned big-endian 32-bit integer at `at`. */
export function readUint32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Whether every character of `text` is ASCII (one byte in UTF-8). */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}
