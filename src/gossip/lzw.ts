// LZW compression exactly as Go's compress/lzw does it with LSB bit order and
// 8-bit literals, the only algorithm memberlist's compress message carries
// (Algo 0). Codes grow from 9 to 12 bits; 256 is the clear code and 257 the
// end code. The compressor reproduces Go's writer byte for byte (a clear
// code first, a clear code whenever code 4095 would be assigned, the end
// code, then the last partial byte), so outputs can be compared with Go's.
// The decompressor mirrors Go's reader, including the "code equals the next
// free code" case, and stops with an error instead of growing its output
// past a caller-given bound: a few kilobytes of LZW can expand to megabytes.

import { assert } from "../lib/assert.ts";

const literalWidth = 8;
const clearCode = 1 << literalWidth;
const endCode = clearCode + 1;
const codeWidthMax = 12;
const codeMax = (1 << codeWidthMax) - 1;
const noCode = -1;

/** The compressor's open-addressing table, sized like Go's so probing stays short. */
const encoderTableSize = 4 << codeWidthMax;
const encoderTableMask = encoderTableSize - 1;

/**
 * Size of the output buffers the compressor and decompressor keep between
 * calls (one each): packets and most streams fit; larger outputs get a
 * buffer of their own for that call, so the kept memory stays bounded.
 */
const sharedBufferBytes = 64 * 1024;

/** Largest decompressed output memberlist peers are allowed to make us hold (40 MiB). */
export const lzwDecompressedBytesMax = 40 * 1024 * 1024;

export type LzwDecompressResult = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

/**
 * The compressor's dictionary, shared by every call: a packet is compressed
 * on every send, and allocating and zeroing a 128 KiB table each time cost
 * more than the compression itself. Slot h is the pair (stamp, entry) at
 * [2h, 2h + 1], side by side so a probe touches one cache line; an entry
 * counts only when its stamp equals the current generation, so "clearing"
 * is one increment.
 */
const sharedTable = new Uint32Array(2 * encoderTableSize);
let generation = 0;

function freshGeneration(): number {
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    // After 2^32 clears the stamps could alias old ones: start over for real.
    sharedTable.fill(0);
    generation = 1;
  }
  return generation;
}

/**
 * The compressor's output, shared by every call like its dictionary (a
 * fresh buffer per packet cost as much as the compression); the result is
 * copied out, so callers own what they get.
 */
const sharedCompressed = new Uint8Array(sharedBufferBytes);

/** Compresses `input` into the byte stream Go's lzw.NewWriter(w, lzw.LSB, 8) produces. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const table = sharedTable;
  let stamp = freshGeneration();
  // Codes are packed least significant bit first; at most 7 bits wait in `bits` between codes.
  let out: Uint8Array = sharedCompressed;
  let length = 0;
  let bits = 0;
  let bitCount = 0;
  let width = literalWidth + 1;
  let hi = endCode;
  let overflow = 1 << width;
  /** Appends `code` at the current width, growing a private output when the shared one is full. */
  const emit = (code: number): void => {
    bits |= code << bitCount;
    bitCount += width;
    while (bitCount >= 8) {
      if (length === out.length) out = grown(out, length);
      out[length++] = bits & 0xff;
      bits >>>= 8;
      bitCount -= 8;
    }
  };
  /** Go's incHi: the next code, a wider code past a power of two; false (after a clear code) once the table is full. */
  const advance = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi !== codeMax) return true;
    emit(clearCode);
    width = literalWidth + 1;
    hi = endCode;
    overflow = 1 << width;
    stamp = freshGeneration();
    return false;
  };
  emit(clearCode);
  if (input.length > 0) {
    let code = input[0]!;
    next: for (let i = 1; i < input.length; i++) {
      const literal = input[i]!;
      const key = (code << 8) | literal;
      let hash = ((key >>> 12) ^ key) & encoderTableMask;
      for (let h = hash; table[2 * h] === stamp; h = (h + 1) & encoderTableMask) {
        const entry = table[2 * h + 1]!;
        if (entry >>> 12 === key) {
          code = entry & codeMax;
          continue next;
        }
      }
      emit(code);
      code = literal;
      if (!advance()) continue;
      while (table[2 * hash] === stamp) hash = (hash + 1) & encoderTableMask;
      table[2 * hash] = stamp;
      table[2 * hash + 1] = (key << 12) | hi;
    }
    emit(code);
    advance();
  }
  emit(endCode);
  if (bitCount > 0) {
    if (length === out.length) out = grown(out, length);
    out[length++] = bits & 0xff;
  }
  assert(bitCount < 8, "whole bytes were written as they filled");
  return out.slice(0, length);
}

/** A buffer twice as large holding the first `length` bytes of `buffer`. */
function grown(buffer: Uint8Array, length: number): Uint8Array {
  const bigger = new Uint8Array(buffer.length * 2);
  bigger.set(buffer.subarray(0, length));
  return bigger;
}

/**
 * The decompressor's dictionary, shared by every call like the compressor's
 * (allocating it per packet dominated decompression). Code c > 257 stands
 * for the expansion of prefix[c] followed by suffix[c]; length[c] and
 * first[c] are that expansion's length and first byte, so a code's bytes can
 * be written straight into the output, back to front, without a scratch
 * copy. Literals are their own expansion, length 1.
 *
 * No reset is needed between calls: within one stream, every code the
 * decoder reads from the table (codes 258 .. hi - 1, and hi itself once the
 * table is full) was written earlier in the same stream, after its last
 * clear code, exactly as in Go's reader, whose table starts zeroed.
 */
const tableSize = 1 << codeWidthMax;
const prefixTable = new Uint16Array(tableSize);
const suffixTable = new Uint8Array(tableSize);
const firstTable = new Uint8Array(tableSize);
const lengthTable = new Uint16Array(tableSize);
for (let literal = 0; literal < clearCode; literal++) {
  suffixTable[literal] = literal;
  firstTable[literal] = literal;
  lengthTable[literal] = 1;
}
const sharedOutput = new Uint8Array(sharedBufferBytes);

/** A buffer of at least `needed` bytes holding the first `length` bytes of `buffer`, at most `bytesMax`. */
function grownOutput(buffer: Uint8Array, length: number, needed: number, bytesMax: number): Uint8Array {
  assert(needed <= bytesMax && length <= buffer.length, "the output grows only within its bound");
  const bigger = new Uint8Array(Math.min(bytesMax, Math.max(needed, buffer.length * 2)));
  bigger.set(buffer.subarray(0, length));
  return bigger;
}

/**
 * Decompresses a Go LSB/8 LZW stream. The stream must end with the end code
 * (Go reports a missing one as an unexpected EOF, and so do we); bytes after
 * it are ignored, as Go ignores them. Mirrors Go's reader (code widths, the
 * "code equals the next free code" case, the table that stops growing at
 * 4095 until the next clear code).
 */
export function lzwDecompress(input: Uint8Array, outputBytesMax = lzwDecompressedBytesMax): LzwDecompressResult {
  assert(Number.isSafeInteger(outputBytesMax) && outputBytesMax >= 0, "outputBytesMax must be a non-negative integer");
  const prefix = prefixTable;
  const suffix = suffixTable;
  const first = firstTable;
  const lengths = lengthTable;
  let out: Uint8Array = sharedOutput;
  /** Bytes the output may hold before it must grow or the bound is passed. */
  let room = Math.min(out.length, outputBytesMax);
  let length = 0;
  let width = literalWidth + 1;
  let hi = endCode;
  let overflow = 1 << width;
  let last = noCode;
  let bits = 0;
  let bitCount = 0;
  let position = 0;
  for (;;) {
    while (bitCount < width) {
      if (position >= input.length) return { ok: false, error: "lzw: stream ends before the end code (truncated)" };
      bits |= input[position++]! << bitCount;
      bitCount += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    bitCount -= width;
    if (code === clearCode) {
      width = literalWidth + 1;
      hi = endCode;
      overflow = 1 << width;
      last = noCode;
      continue;
    }
    if (code === endCode) return { ok: true, bytes: out.slice(0, length) };
    if (code > hi) return { ok: false, error: `lzw: invalid code ${code} (next free code is ${hi})` };
    // "Code equals the next free code": the last expansion followed by its own first byte.
    const repeat = code === hi && last !== noCode;
    const count = repeat ? lengths[last]! + 1 : lengths[code]!;
    if (length + count > room) {
      if (length + count > outputBytesMax) return { ok: false, error: `lzw: decompressed data exceeds ${outputBytesMax} bytes` };
      out = grownOutput(out, length, length + count, outputBytesMax);
      room = Math.min(out.length, outputBytesMax);
    }
    let at = length + count - 1;
    let c = code;
    if (repeat) {
      out[at--] = first[last]!;
      c = last;
    }
    while (c >= clearCode) {
      out[at--] = suffix[c]!;
      c = prefix[c]!;
    }
    out[at] = c;
    assert(at === length, "a code's expansion is as long as its table entry says");
    const firstByte = c;
    length += count;
    if (last !== noCode) {
      prefix[hi] = last;
      suffix[hi] = firstByte;
      first[hi] = first[last]!;
      lengths[hi] = lengths[last]! + 1;
    }
    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === codeWidthMax) {
        last = noCode;
        hi--;
      } else {
        width++;
        overflow = 1 << width;
      }
    }
  }
}
