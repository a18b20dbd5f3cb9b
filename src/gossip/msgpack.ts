// The subset of msgpack that hashicorp/memberlist speaks, written exactly as
// hashicorp/go-msgpack does with a zero-value MsgpackHandle. That handle
// predates the str/bin split of the msgpack spec, so strings and byte slices
// are both written as old-spec "raw" (fixraw 0xa0-0xbf, raw16 0xda, raw32
// 0xdb); str8 (0xd9) and bin (0xc4-0xc6) are never written, but newer Go
// peers may send them, so the reader accepts them. Integers take the
// smallest encoding: unsigned forms for Go uint fields, and for Go int
// fields the signed forms go-msgpack v2 writes (int16 for 128..32767; the
// older codec in Debian's memberlist 0.2.2 writes unsigned forms there, and
// both decoders accept either).
//
// The reader never throws on bad input. It records the first failure and
// then returns neutral values, so decoders read straight through and check
// `failed` where it matters. A failure is "truncated" (the bytes end inside a
// value: on a stream, wait for more) or "malformed"/"limit" (give up). Every
// read is bounded: nesting depth, the length of one raw value, the length of
// one container, and the number of values read in total.

import { assert } from "../lib/assert.ts";
import { isAscii } from "../lib/bytes.ts";

export interface MsgpackLimits {
  /** Deepest nesting of maps and arrays accepted (unknown fields are skipped recursively). */
  depthMax: number;
  /** Longest single raw/str/bin value, in bytes. */
  bytesLengthMax: number;
  /** Most entries in one map or array. */
  containerLengthMax: number;
  /** Most values (including container headers) read by one reader. */
  itemsMax: number;
}

export const msgpackLimitsDefault: MsgpackLimits = {
  depthMax: 32,
  bytesLengthMax: 40 * 1024 * 1024,
  containerLengthMax: 1 << 20,
  itemsMax: 1 << 24,
};

export type MsgpackFailure =
  | { kind: "truncated"; message: string; /** Total input length known to be needed. */ bytesNeededMin: number }
  | { kind: "malformed" | "limit"; message: string };

/** A decoded msgpack value: raw/str/bin become bytes, maps keep their entry order. */
export type MsgpackValue = null | boolean | number | Uint8Array | MsgpackValue[] | MsgpackMap | MsgpackExt;

export class MsgpackMap {
  constructor(readonly entries: Array<[MsgpackValue, MsgpackValue]>) {}
}

export class MsgpackExt {
  constructor(
    readonly type: number,
    readonly data: Uint8Array,
  ) {}
}

const emptyBytes: Uint8Array = new Uint8Array(0);
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();
const twoTo32 = 0x100000000;

// ---------------------------------------------------------------- writer

/** Appends msgpack values to a growing buffer; one allocation per doubling. */
export class MsgpackWriter {
  private buffer: Uint8Array;
  private length = 0;

  constructor(capacity = 256) {
    this.buffer = new Uint8Array(Math.max(16, capacity));
  }

  get byteLength(): number {
    return this.length;
  }

  /** A copy of everything written so far. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  /** Appends bytes as they are (message type bytes, raw user payloads, pre-encoded keys). */
  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  nil(): void {
    this.byte(0xc0);
  }

  bool(value: boolean): void {
    this.byte(value ? 0xc3 : 0xc2);
  }

  /** A Go unsigned integer field: fixint, then uint8/16/32/64. */
  uint(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, `msgpack uint must be a non-negative safe integer, got ${value}`);
    if (value <= 0x7f) this.byte(value);
    else if (value <= 0xff) this.head8(0xcc, value);
    else if (value <= 0xffff) this.head16(0xcd, value);
    else if (value <= 0xffffffff) this.head32(0xce, value);
    else this.head64(0xcf, value);
  }

  /** A Go int field as go-msgpack v2 writes it: fixints, else the smallest signed form. */
  int(value: number): void {
    assert(Number.isSafeInteger(value), `msgpack int must be a safe integer, got ${value}`);
    if (value >= -32 && value <= 0x7f) this.byte(value & 0xff);
    else if (value >= -0x80 && value < 0) this.head8(0xd0, value & 0xff);
    else if (value >= -0x8000 && value <= 0x7fff) this.head16(0xd1, value & 0xffff);
    else if (value >= -0x80000000 && value <= 0x7fffffff) this.head32(0xd2, value >>> 0);
    else this.head64(0xd3, value);
  }

  /** A Go []byte or string as old-spec raw. */
  raw(data: Uint8Array): void {
    this.rawHeader(data.length);
    this.bytes(data);
  }

  /** Bytes, or nil when empty: how Go writes a nil []byte, which is what memberlist sends for "none". */
  rawOrNil(data: Uint8Array): void {
    if (data.length === 0) this.nil();
    else this.raw(data);
  }

  string(value: string): void {
    if (isAscii(value)) {
      this.rawHeader(value.length);
      this.reserve(value.length);
      for (let i = 0; i < value.length; i++) this.buffer[this.length++] = value.charCodeAt(i);
    } else {
      this.raw(utf8Encoder.encode(value));
    }
  }

  rawHeader(length: number): void {
    if (length < 32) this.byte(0xa0 | length);
    else if (length <= 0xffff) this.head16(0xda, length);
    else this.head32(0xdb, length);
  }

  mapHeader(count: number): void {
    if (count < 16) this.byte(0x80 | count);
    else if (count <= 0xffff) this.head16(0xde, count);
    else this.head32(0xdf, count);
  }

  arrayHeader(count: number): void {
    if (count < 16) this.byte(0x90 | count);
    else if (count <= 0xffff) this.head16(0xdc, count);
    else this.head32(0xdd, count);
  }

  /** Any decoded value back to bytes (tests and tools; the codec writes fields directly). */
  value(value: MsgpackValue): void {
    if (value === null) this.nil();
    else if (typeof value === "boolean") this.bool(value);
    else if (typeof value === "number") this.number(value);
    else if (value instanceof Uint8Array) this.raw(value);
    else if (Array.isArray(value)) {
      this.arrayHeader(value.length);
      for (const item of value) this.value(item);
    } else if (value instanceof MsgpackMap) {
      this.mapHeader(value.entries.length);
      for (const [key, item] of value.entries) {
        this.value(key);
        this.value(item);
      }
    } else this.ext(value);
  }

  private number(value: number): void {
    if (!Number.isSafeInteger(value)) return this.float64(value);
    if (value >= 0) this.uint(value);
    else this.int(value);
  }

  private float64(value: number): void {
    this.reserve(9);
    this.buffer[this.length] = 0xcb;
    new DataView(this.buffer.buffer, this.buffer.byteOffset).setFloat64(this.length + 1, value);
    this.length += 9;
  }

  private ext(value: MsgpackExt): void {
    const length = value.data.length;
    if (length <= 0xff) this.head8(0xc7, length);
    else if (length <= 0xffff) this.head16(0xc8, length);
    else this.head32(0xc9, length);
    this.byte(value.type & 0xff);
    this.bytes(value.data);
  }

  private head8(marker: number, value: number): void {
    this.reserve(2);
    this.buffer[this.length++] = marker;
    this.buffer[this.length++] = value;
  }

  private head16(marker: number, value: number): void {
    this.reserve(3);
    this.buffer[this.length++] = marker;
    this.buffer[this.length++] = value >>> 8;
    this.buffer[this.length++] = value & 0xff;
  }

  private head32(marker: number, value: number): void {
    this.reserve(5);
    this.buffer[this.length++] = marker;
    this.put32(value);
  }

  /** 64-bit forms; `value` is a safe integer, split into two 32-bit halves (two's complement when negative). */
  private head64(marker: number, value: number): void {
    this.reserve(9);
    this.buffer[this.length++] = marker;
    const high = Math.floor(value / twoTo32);
    this.put32(high >>> 0);
    this.put32((value - high * twoTo32) >>> 0);
  }

  private put32(value: number): void {
    this.buffer[this.length++] = value >>> 24;
    this.buffer[this.length++] = (value >>> 16) & 0xff;
    this.buffer[this.length++] = (value >>> 8) & 0xff;
    this.buffer[this.length++] = value & 0xff;
  }

  private reserve(count: number): void {
    if (this.length + count <= this.buffer.length) return;
    const bigger = new Uint8Array(Math.max(this.length + count, this.buffer.length * 2));
    bigger.set(this.buffer.subarray(0, this.length));
    this.buffer = bigger;
  }
}

/** Encodes one value (tests and tools). */
export function encodeMsgpack(value: MsgpackValue): Uint8Array {
  const writer = new MsgpackWriter();
  writer.value(value);
  return writer.finish();
}

/** The ASCII bytes of a map key, for MsgpackReader.readKeyIndex. */
export function keyBytes(name: string): Uint8Array {
  assert(isAscii(name), `map key must be ASCII: ${name}`);
  return utf8Encoder.encode(name);
}

// ---------------------------------------------------------------- reader

/** A name for the value a marker byte starts, for error messages. */
export function describeMarker(marker: number): string {
  if (marker <= 0x7f || marker >= 0xe0) return "an integer";
  if (marker <= 0x8f || marker === 0xde || marker === 0xdf) return "a map";
  if (marker <= 0x9f || marker === 0xdc || marker === 0xdd) return "an array";
  if (marker <= 0xbf || (marker >= 0xd9 && marker <= 0xdb) || (marker >= 0xc4 && marker <= 0xc6)) return "a string";
  if (marker === 0xc0) return "nil";
  if (marker === 0xc2 || marker === 0xc3) return "a bool";
  if (marker === 0xca || marker === 0xcb) return "a float";
  if (marker >= 0xcc && marker <= 0xd3) return "an integer";
  if (marker === 0xc1) return "the never-used byte 0xc1";
  return "an extension value";
}

/**
 * Reads msgpack from bytes[offset, end). Methods take `what` (the field being
 * read) for error messages. After the first failure every read returns a
 * neutral value (0, false, empty) and `failure` keeps the first reason.
 */
export class MsgpackReader {
  offset: number;
  failure: MsgpackFailure | undefined = undefined;
  private items = 0;
  private spanStart = 0;
  private spanLength = 0;

  constructor(
    readonly bytes: Uint8Array,
    offset: number,
    readonly end: number,
    readonly limits: MsgpackLimits = msgpackLimitsDefault,
  ) {
    assert(offset >= 0 && offset <= end && end <= bytes.length, "MsgpackReader range outside the buffer");
    this.offset = offset;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Records a failure found by a caller (a value of the wrong range, say); the first one wins. */
  fail(kind: "malformed" | "limit", message: string): void {
    if (this.failure === undefined) this.failure = { kind, message };
  }

  /** True when the next value is nil (without consuming it). */
  nextIsNil(): boolean {
    return !this.failed && this.offset < this.end && this.bytes[this.offset] === 0xc0;
  }

  mapHeader(what: string): number {
    const marker = this.head(what);
    if (marker < 0) return 0;
    if (marker >= 0x80 && marker <= 0x8f) return this.containerLength(marker & 0x0f, what);
    if (marker === 0xde) return this.containerLength(this.uintN(2, what), what);
    if (marker === 0xdf) return this.containerLength(this.uintN(4, what), what);
    return this.wrongType(marker, "a map", what);
  }

  arrayHeader(what: string): number {
    const marker = this.head(what);
    if (marker < 0) return 0;
    if (marker >= 0x90 && marker <= 0x9f) return this.containerLength(marker & 0x0f, what);
    if (marker === 0xdc) return this.containerLength(this.uintN(2, what), what);
    if (marker === 0xdd) return this.containerLength(this.uintN(4, what), what);
    return this.wrongType(marker, "an array", what);
  }

  /** An integer in [0, max], in any msgpack integer encoding (Go accepts all of them). */
  unsigned(max: number, what: string): number {
    return this.integerIn(0, max, what);
  }

  /** An integer in [min, max], in any msgpack integer encoding. */
  integerIn(min: number, max: number, what: string): number {
    const value = this.integer(what);
    if (this.failed) return 0;
    if (value < min || value > max) {
      this.fail("malformed", `${what} is ${value}, outside ${min}..${max}`);
      return 0;
    }
    return value;
  }

  bool(what: string): boolean {
    const marker = this.head(what);
    if (marker < 0) return false;
    if (marker === 0xc2 || marker === 0xc3) return marker === 0xc3;
    this.wrongType(marker, "a bool", what);
    return false;
  }

  /** Raw/str/bin bytes (a copy), or empty for nil, at most `lengthMax` long. */
  bytesValue(lengthMax: number, what: string): Uint8Array {
    if (!this.span(lengthMax, what) || this.spanLength === 0) return emptyBytes;
    return this.bytes.slice(this.spanStart, this.spanStart + this.spanLength);
  }

  /** `length` bytes that are not msgpack (memberlist appends raw user data after a header); a copy. */
  rawBytes(length: number, what: string): Uint8Array {
    if (this.failed || !this.need(length, what)) return emptyBytes;
    const start = this.offset;
    this.offset += length;
    return this.bytes.slice(start, this.offset);
  }

  /** A UTF-8 string (raw/str/bin, or nil as ""), at most `lengthMax` bytes. */
  string(lengthMax: number, what: string): string {
    if (!this.span(lengthMax, what) || this.spanLength === 0) return "";
    const start = this.spanStart;
    const end = start + this.spanLength;
    if (this.spanLength <= 64 && asciiRange(this.bytes, start, end)) {
      return String.fromCharCode.apply(null, this.bytes.subarray(start, end) as unknown as number[]);
    }
    try {
      return utf8Decoder.decode(this.bytes.subarray(start, end));
    } catch {
      this.fail("malformed", `${what} is not valid UTF-8`);
      return "";
    }
  }

  /**
   * Reads a map key and returns its index in `keys` (ASCII byte strings), or
   * -1 for a key not listed (the caller skips its value). Go matches struct
   * field names exactly, so do we.
   */
  keyIndex(keys: readonly Uint8Array[], what: string): number {
    if (!this.span(this.limits.bytesLengthMax, `a key of ${what}`)) return -1;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      if (key.length === this.spanLength && equalRange(this.bytes, this.spanStart, key)) return k;
    }
    return -1;
  }

  /** Skips one value of any type, nested values included. */
  skip(what: string, depth = 0): void {
    const marker = this.head(what);
    if (marker < 0) return;
    const count = this.skipScalar(marker, what);
    if (count === 0 || this.failed) return;
    if (depth >= this.limits.depthMax) return this.fail("limit", `${what} nests deeper than ${this.limits.depthMax}`);
    for (let i = 0; i < count && !this.failed; i++) this.skip(what, depth + 1);
  }

  /** Decodes one value of any type into a MsgpackValue. */
  value(what: string, depth = 0): MsgpackValue {
    if (this.failed || this.offset >= this.end) return this.headMissing(what);
    const marker = this.bytes[this.offset]!;
    if (isIntegerMarker(marker)) return this.integer(what);
    if (isRawMarker(marker)) return this.bytesValue(this.limits.bytesLengthMax, what);
    if (isMapMarker(marker) || isArrayMarker(marker)) return this.container(marker, what, depth);
    this.offset++;
    if (!this.countItem(what)) return null;
    if (marker === 0xc0) return null;
    if (marker === 0xc2 || marker === 0xc3) return marker === 0xc3;
    if (marker === 0xca || marker === 0xcb) return this.float(marker === 0xca ? 4 : 8, what);
    if (marker !== 0xc1) return this.extValue(marker, what);
    this.wrongType(marker, "a value", what);
    return null;
  }

  // -------------------------------------------------------- internals

  private container(marker: number, what: string, depth: number): MsgpackValue {
    if (depth >= this.limits.depthMax) {
      this.fail("limit", `${what} nests deeper than ${this.limits.depthMax}`);
      return null;
    }
    if (isArrayMarker(marker)) {
      const count = this.arrayHeader(what);
      const items: MsgpackValue[] = [];
      for (let i = 0; i < count && !this.failed; i++) items.push(this.value(what, depth + 1));
      return items;
    }
    const count = this.mapHeader(what);
    const entries: Array<[MsgpackValue, MsgpackValue]> = [];
    for (let i = 0; i < count && !this.failed; i++) {
      const key = this.value(what, depth + 1);
      entries.push([key, this.value(what, depth + 1)]);
    }
    return new MsgpackMap(entries);
  }

  private float(width: 4 | 8, what: string): number {
    if (!this.need(width, what)) return 0;
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.offset, width);
    this.offset += width;
    return width === 4 ? view.getFloat32(0) : view.getFloat64(0);
  }

  private extValue(marker: number, what: string): MsgpackValue {
    const length = this.extLength(marker, what);
    if (this.failed || !this.need(length + 1, what)) return null;
    const type = (this.bytes[this.offset]! << 24) >> 24;
    const data = this.bytes.slice(this.offset + 1, this.offset + 1 + length);
    this.offset += length + 1;
    return new MsgpackExt(type, data);
  }

  /** Consumes a marker byte and counts the value; -1 on failure. */
  private head(what: string): number {
    if (this.failed) return -1;
    if (this.offset >= this.end) {
      this.headMissing(what);
      return -1;
    }
    if (!this.countItem(what)) return -1;
    return this.bytes[this.offset++]!;
  }

  private headMissing(what: string): null {
    if (!this.failed) this.truncated(this.offset + 1, what);
    return null;
  }

  private countItem(what: string): boolean {
    if (++this.items <= this.limits.itemsMax) return true;
    this.fail("limit", `more than ${this.limits.itemsMax} msgpack values (at ${what})`);
    return false;
  }

  /** Any integer encoding, as a JavaScript number (64-bit values beyond 2^53 lose precision and fail range checks). */
  private integer(what: string): number {
    const marker = this.head(what);
    if (marker < 0) return 0;
    if (marker <= 0x7f) return marker;
    if (marker >= 0xe0) return marker - 0x100;
    switch (marker) {
      case 0xcc:
        return this.uintN(1, what);
      case 0xcd:
        return this.uintN(2, what);
      case 0xce:
        return this.uintN(4, what);
      case 0xcf:
        return this.uint64(what, false);
      case 0xd0:
        return signed(this.uintN(1, what), 8);
      case 0xd1:
        return signed(this.uintN(2, what), 16);
      case 0xd2:
        return this.uintN(4, what) | 0;
      case 0xd3:
        return this.uint64(what, true);
      default:
        return this.wrongType(marker, "an integer", what);
    }
  }

  private uintN(width: 1 | 2 | 4, what: string): number {
    if (!this.need(width, what)) return 0;
    const b = this.bytes;
    const o = this.offset;
    this.offset += width;
    if (width === 1) return b[o]!;
    if (width === 2) return (b[o]! << 8) | b[o + 1]!;
    return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  private uint64(what: string, isSigned: boolean): number {
    const high = this.uintN(4, what);
    const low = this.uintN(4, what);
    return (isSigned ? high | 0 : high) * twoTo32 + low;
  }

  /** Reads a raw/str/bin (or nil) header and checks the body is present; sets spanStart/spanLength. */
  private span(lengthMax: number, what: string): boolean {
    const marker = this.head(what);
    if (marker < 0) return false;
    let length: number;
    if (marker >= 0xa0 && marker <= 0xbf) length = marker & 0x1f;
    else if (marker === 0xd9 || marker === 0xc4) length = this.uintN(1, what);
    else if (marker === 0xda || marker === 0xc5) length = this.uintN(2, what);
    else if (marker === 0xdb || marker === 0xc6) length = this.uintN(4, what);
    else if (marker === 0xc0) length = 0;
    else length = this.wrongType(marker, "a string or bytes", what);
    if (this.failed) return false;
    if (length > lengthMax) {
      this.fail("limit", `${what} is ${length} bytes, more than ${lengthMax}`);
      return false;
    }
    if (!this.need(length, what)) return false;
    this.spanStart = this.offset;
    this.spanLength = length;
    this.offset += length;
    return true;
  }

  /** Skips a non-container value; returns how many nested values follow (containers), else 0. */
  private skipScalar(marker: number, what: string): number {
    if (marker <= 0x7f || marker >= 0xe0 || marker === 0xc0 || marker === 0xc2 || marker === 0xc3) return 0;
    if (marker >= 0x80 && marker <= 0x8f) return 2 * this.containerLength(marker & 0x0f, what);
    if (marker >= 0x90 && marker <= 0x9f) return this.containerLength(marker & 0x0f, what);
    if (marker === 0xdc || marker === 0xdd) return this.containerLength(this.uintN(marker === 0xdc ? 2 : 4, what), what);
    if (marker === 0xde || marker === 0xdf) return 2 * this.containerLength(this.uintN(marker === 0xde ? 2 : 4, what), what);
    if (marker === 0xc1) return this.wrongType(marker, "a value", what);
    this.advance(this.scalarBodyLength(marker, what), what);
    return 0;
  }

  /** Length of the bytes that follow a scalar marker (ints, floats, raws, exts). */
  private scalarBodyLength(marker: number, what: string): number {
    if (marker >= 0xa0 && marker <= 0xbf) return marker & 0x1f;
    switch (marker) {
      case 0xcc: case 0xd0: return 1;
      case 0xcd: case 0xd1: return 2;
      case 0xca: case 0xce: case 0xd2: return 4;
      case 0xcb: case 0xcf: case 0xd3: return 8;
      case 0xd4: return 2;
      case 0xd5: return 3;
      case 0xd6: return 5;
      case 0xd7: return 9;
      case 0xd8: return 17;
      case 0xc4: case 0xd9: return this.rawLength(1, what);
      case 0xc5: case 0xda: return this.rawLength(2, what);
      case 0xc6: case 0xdb: return this.rawLength(4, what);
      default: return this.extLength(marker, what) + 1;
    }
  }

  private rawLength(width: 1 | 2 | 4, what: string): number {
    const length = this.uintN(width, what);
    if (length > this.limits.bytesLengthMax) this.fail("limit", `${what} is ${length} bytes, more than ${this.limits.bytesLengthMax}`);
    return this.failed ? 0 : length;
  }

  /** Data length of an extension value (the type byte not included). */
  private extLength(marker: number, what: string): number {
    switch (marker) {
      case 0xd4: return 1;
      case 0xd5: return 2;
      case 0xd6: return 4;
      case 0xd7: return 8;
      case 0xd8: return 16;
      case 0xc7: return this.rawLength(1, what);
      case 0xc8: return this.rawLength(2, what);
      default: return this.rawLength(4, what);
    }
  }

  private advance(count: number, what: string): void {
    if (!this.failed && this.need(count, what)) this.offset += count;
  }

  private containerLength(count: number, what: string): number {
    if (this.failed) return 0;
    if (count > this.limits.containerLengthMax) {
      this.fail("limit", `${what} has ${count} entries, more than ${this.limits.containerLengthMax}`);
      return 0;
    }
    return count;
  }

  private need(count: number, what: string): boolean {
    if (this.offset + count <= this.end) return true;
    this.truncated(this.offset + count, what);
    return false;
  }

  private truncated(bytesNeededMin: number, what: string): void {
    if (this.failure !== undefined) return;
    this.failure = { kind: "truncated", message: `input ends inside ${what}`, bytesNeededMin };
  }

  private wrongType(marker: number, expected: string, what: string): 0 {
    this.fail("malformed", `${what} should be ${expected}, got ${describeMarker(marker)} (0x${marker.toString(16).padStart(2, "0")})`);
    return 0;
  }
}

function signed(value: number, bits: 8 | 16): number {
  return value >= 1 << (bits - 1) ? value - (1 << bits) : value;
}

function isIntegerMarker(marker: number): boolean {
  return marker <= 0x7f || marker >= 0xe0 || (marker >= 0xcc && marker <= 0xd3);
}

function isRawMarker(marker: number): boolean {
  return (marker >= 0xa0 && marker <= 0xbf) || (marker >= 0xd9 && marker <= 0xdb) || (marker >= 0xc4 && marker <= 0xc6);
}

function isMapMarker(marker: number): boolean {
  return (marker >= 0x80 && marker <= 0x8f) || marker === 0xde || marker === 0xdf;
}

function isArrayMarker(marker: number): boolean {
  return (marker >= 0x90 && marker <= 0x9f) || marker === 0xdc || marker === 0xdd;
}

function asciiRange(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

function equalRange(bytes: Uint8Array, start: number, key: Uint8Array): boolean {
  for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) return false;
  return true;
}

export type MsgpackDecodeResult =
  | { ok: true; value: MsgpackValue; consumed: number }
  | { ok: false; failure: MsgpackFailure };

/** Decodes the first value in `bytes` (tests and tools); never throws. */
export function decodeMsgpack(bytes: Uint8Array, limits: MsgpackLimits = msgpackLimitsDefault): MsgpackDecodeResult {
  const reader = new MsgpackReader(bytes, 0, bytes.length, limits);
  const value = reader.value("value");
  if (reader.failure !== undefined) return { ok: false, failure: reader.failure };
  return { ok: true, value, consumed: reader.offset };
}
