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

/** Largest decompressed output memberlist peers are allowed to make us hold (40 MiB). */
export const lzwDecompressedBytesMax = 40 * 1024 * 1024;

export type LzwDecompressResult = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

/** Packs variable-width codes into bytes, least significant bit first. */
class CodeWriter {
  private buffer: Uint8Array;
  private length = 0;
  private bits = 0;
  private bitCount = 0;

  constructor(capacity: number) {
    this.buffer = new Uint8Array(Math.max(16, capacity));
  }

  write(code: number, width: number): void {
    this.bits |= code << this.bitCount;
    this.bitCount += width;
    while (this.bitCount >= 8) {
      if (this.length === this.buffer.length) this.grow();
      this.buffer[this.length++] = this.bits & 0xff;
      this.bits >>>= 8;
      this.bitCount -= 8;
    }
  }

  finish(): Uint8Array {
    if (this.bitCount > 0) {
      if (this.length === this.buffer.length) this.grow();
      this.buffer[this.length++] = this.bits & 0xff;
      this.bits = 0;
      this.bitCount = 0;
    }
    return this.buffer.slice(0, this.length);
  }

  private grow(): void {
    const bigger = new Uint8Array(this.buffer.length * 2);
    bigger.set(this.buffer);
    this.buffer = bigger;
  }
}

/**
 * The compressor's dictionary, shared by every call: a packet is compressed
 * on every send, and allocating and zeroing a 64 KiB table each time cost
 * more than the compression itself. An entry counts only when its stamp
 * equals the current generation, so "clearing" is one increment.
 */
const sharedTable = new Uint32Array(encoderTableSize);
const sharedStamps = new Uint32Array(encoderTableSize);
let generation = 0;

function freshGeneration(): number {
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    // After 2^32 clears the stamps could alias old ones: start over for real.
    sharedStamps.fill(0);
    generation = 1;
  }
  return generation;
}

/** The compressor's running state: code width, next code to assign, dictionary generation. */
class EncoderState {
  width = literalWidth + 1;
  hi = endCode;
  overflow = 1 << (literalWidth + 1);
  generation = freshGeneration();

  constructor(private readonly out: CodeWriter) {}

  emit(code: number): void {
    this.out.write(code, this.width);
  }

  /**
   * Advances the next code to assign, widening codes when it crosses a power
   * of two. Returns false when the table was full and has been cleared (and a
   * clear code sent), in which case nothing may be inserted this round.
   */
  advance(): boolean {
    this.hi++;
    if (this.hi === this.overflow) {
      this.width++;
      this.overflow <<= 1;
    }
    if (this.hi !== codeMax) return true;
    this.emit(clearCode);
    this.width = literalWidth + 1;
    this.hi = endCode;
    this.overflow = 1 << (literalWidth + 1);
    this.generation = freshGeneration();
    return false;
  }
}

/** Compresses `input` into the byte stream Go's lzw.NewWriter(w, lzw.LSB, 8) produces. */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const out = new CodeWriter(Math.ceil(input.length * 1.5 + input.length / 256) + 8);
  const state = new EncoderState(out);
  state.emit(clearCode);
  if (input.length === 0) {
    state.emit(endCode);
    return out.finish();
  }
  const table = sharedTable;
  const stamps = sharedStamps;
  let code = input[0]!;
  next: for (let i = 1; i < input.length; i++) {
    const literal = input[i]!;
    const key = (code << 8) | literal;
    let hash = ((key >>> 12) ^ key) & encoderTableMask;
    for (let h = hash; stamps[h] === state.generation; h = (h + 1) & encoderTableMask) {
      const entry = table[h]!;
      if (entry >>> 12 === key) {
        code = entry & codeMax;
        continue next;
      }
    }
    state.emit(code);
    code = literal;
    if (!state.advance()) continue;
    while (stamps[hash] === state.generation) hash = (hash + 1) & encoderTableMask;
    table[hash] = (key << 12) | state.hi;
    stamps[hash] = state.generation;
  }
  state.emit(code);
  state.advance();
  state.emit(endCode);
  return out.finish();
}

/** Output of the decompressor, refusing to grow past its bound. */
class BoundedOutput {
  buffer: Uint8Array;
  length = 0;

  constructor(
    initialCapacity: number,
    private readonly bytesMax: number,
  ) {
    this.buffer = new Uint8Array(Math.min(bytesMax, Math.max(64, initialCapacity)));
  }

  /** Makes room for `count` more bytes; false when that would pass the bound. */
  reserve(count: number): boolean {
    const needed = this.length + count;
    if (needed > this.bytesMax) return false;
    if (needed <= this.buffer.length) return true;
    const capacity = Math.min(this.bytesMax, Math.max(needed, this.buffer.length * 2));
    const bigger = new Uint8Array(capacity);
    bigger.set(this.buffer.subarray(0, this.length));
    this.buffer = bigger;
    return true;
  }
}

/** The decompressor's dictionary and code-width state, as in Go's reader. */
class DecoderState {
  width = literalWidth + 1;
  hi = endCode;
  overflow = 1 << (literalWidth + 1);
  last = noCode;
  readonly prefix = new Uint16Array(1 << codeWidthMax);
  readonly suffix = new Uint8Array(1 << codeWidthMax);
  /** Scratch space: one code expands to at most 4096 bytes, written back to front. */
  readonly scratch = new Uint8Array(1 << codeWidthMax);

  clear(): void {
    this.width = literalWidth + 1;
    this.hi = endCode;
    this.overflow = 1 << this.width;
    this.last = noCode;
  }

  /** Records code `hi` as `last` + `firstByte`, then advances like Go (capped at 12 bits). */
  advance(code: number, firstByte: number): void {
    if (this.last !== noCode) {
      this.suffix[this.hi] = firstByte;
      this.prefix[this.hi] = this.last;
    }
    this.last = code;
    this.hi++;
    if (this.hi < this.overflow) return;
    if (this.width === codeWidthMax) {
      this.last = noCode;
      this.hi--;
    } else {
      this.width++;
      this.overflow = 1 << this.width;
    }
  }

  /** Writes the expansion of `code` (<= hi) into scratch; returns its start index. */
  expand(code: number): number {
    const scratch = this.scratch;
    let i = scratch.length - 1;
    let c = code;
    if (code === this.hi && this.last !== noCode) {
      c = this.last;
      while (c >= clearCode) c = this.prefix[c]!;
      scratch[i--] = c;
      c = this.last;
    }
    while (c >= clearCode) {
      scratch[i--] = this.suffix[c]!;
      c = this.prefix[c]!;
    }
    scratch[i] = c;
    return i;
  }
}

/**
 * Decompresses a Go LSB/8 LZW stream. The stream must end with the end code
 * (Go reports a missing one as an unexpected EOF, and so do we); bytes after
 * it are ignored, as Go ignores them.
 */
export function lzwDecompress(input: Uint8Array, outputBytesMax = lzwDecompressedBytesMax): LzwDecompressResult {
  assert(Number.isSafeInteger(outputBytesMax) && outputBytesMax >= 0, "outputBytesMax must be a non-negative integer");
  const state = new DecoderState();
  const out = new BoundedOutput(input.length * 3, outputBytesMax);
  let bits = 0;
  let bitCount = 0;
  let position = 0;
  for (;;) {
    while (bitCount < state.width) {
      if (position >= input.length) return { ok: false, error: "lzw: stream ends before the end code (truncated)" };
      bits |= input[position++]! << bitCount;
      bitCount += 8;
    }
    const code = bits & ((1 << state.width) - 1);
    bits >>>= state.width;
    bitCount -= state.width;
    if (code === clearCode) {
      state.clear();
      continue;
    }
    if (code === endCode) return { ok: true, bytes: out.buffer.slice(0, out.length) };
    if (code > state.hi) return { ok: false, error: `lzw: invalid code ${code} (next free code is ${state.hi})` };
    const start = code < clearCode ? state.scratch.length - 1 : state.expand(code);
    if (code < clearCode) state.scratch[start] = code;
    const count = state.scratch.length - start;
    if (!out.reserve(count)) return { ok: false, error: `lzw: decompressed data exceeds ${outputBytesMax} bytes` };
    // Codes usually expand to a few bytes: a plain loop beats creating a subarray view per code.
    const buffer = out.buffer;
    const scratch = state.scratch;
    for (let k = 0; k < count; k++) buffer[out.length + k] = scratch[start + k]!;
    out.length += count;
    state.advance(code, state.scratch[start]!);
  }
}
