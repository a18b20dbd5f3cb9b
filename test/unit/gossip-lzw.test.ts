// LZW as Go's compress/lzw (LSB, 8-bit literals): golden outputs taken from
// Go's writer, round trips across code-width steps and table resets, and the
// errors and bound of the decompressor. test/interop/go-lzw.test.ts checks
// the same against a live Go program.

import { describe, expect, test } from "bun:test";
import { crc32 } from "../../src/gossip/crc32.ts";
import { lzwCompress, lzwDecompress } from "../../src/gossip/lzw.ts";
import { Prng } from "../../src/lib/prng.ts";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const bytesOf = (text: string) => new TextEncoder().encode(text);
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));

describe("golden outputs of Go's lzw.NewWriter(w, lzw.LSB, 8)", () => {
  const vectors: Array<[string, Uint8Array, string]> = [
    ["empty input: clear and end codes only", new Uint8Array(0), "000302"],
    ["one byte", bytesOf("a"), "00c30404"],
    ["a run (code equal to the next free code)", bytesOf("aaaaaaaaaa"), "00c3081c483020"],
    ["the textbook example", bytesOf("TOBEORNOTTOBEORTOBEORNOT"), "00a93c1152e48914274fa80824687061c183090302"],
    ["distinct bytes", Uint8Array.from({ length: 20 }, (_, i) => i), "00010410308040010307102450b0804103070f204490302120"],
  ];

  test.each(vectors)("%s", (_name, input, expected) => {
    expect(hex(lzwCompress(input))).toBe(expected);
    const back = lzwDecompress(fromHex(expected));
    expect(back.ok && hex(back.bytes)).toBe(hex(input));
  });
});

describe("round trips", () => {
  test("random, repetitive and runs of many sizes, across width steps and table resets", () => {
    const prng = new Prng(7);
    for (const size of [0, 1, 2, 255, 256, 511, 512, 1023, 4094, 4095, 4096, 4097, 12_000, 100_000]) {
      const inputs = [
        prng.fill(new Uint8Array(size)),
        new Uint8Array(size).fill(42),
        Uint8Array.from({ length: size }, () => prng.int(3)),
      ];
      for (const input of inputs) {
        const back = lzwDecompress(lzwCompress(input));
        expect(back.ok && back.bytes.length === input.length && hex(back.bytes) === hex(input)).toBe(true);
      }
    }
  });
});

describe("decompression errors and bounds", () => {
  test("output past the bound is refused", () => {
    const compressed = lzwCompress(new Uint8Array(10_000));
    expect(lzwDecompress(compressed, 9_999)).toEqual({ ok: false, error: "lzw: decompressed data exceeds 9999 bytes" });
    const exact = lzwDecompress(compressed, 10_000);
    expect(exact.ok && exact.bytes.length).toBe(10_000);
  });

  test("a stream without its end code is truncated", () => {
    const compressed = lzwCompress(bytesOf("hello hello hello"));
    expect(lzwDecompress(compressed.subarray(0, compressed.length - 2))).toEqual({ ok: false, error: "lzw: stream ends before the end code (truncated)" });
    expect(lzwDecompress(new Uint8Array(0))).toEqual({ ok: false, error: "lzw: stream ends before the end code (truncated)" });
  });

  test("a code beyond the next free code is invalid", () => {
    expect(lzwDecompress(fromHex("00ffff"))).toEqual({ ok: false, error: "lzw: invalid code 511 (next free code is 257)" });
  });

  test("bytes after the end code are ignored, as Go ignores them", () => {
    const back = lzwDecompress(fromHex("00c30404" + "ffffffff"));
    expect(back.ok && hex(back.bytes)).toBe("61");
  });

  test("a stream that starts without a clear code still decodes (older Go writers)", () => {
    // 'a' (97) then end (257), 9 bits each, LSB first.
    const back = lzwDecompress(fromHex("610202"));
    expect(back.ok && hex(back.bytes)).toBe("61");
  });
});

describe("CRC-32/IEEE", () => {
  test.each([
    ["", 0],
    ["a", 0xe8b7be43],
    ["abc", 0x352441c2],
    ["123456789", 0xcbf43926],
    ["The quick brown fox jumps over the lazy dog", 0x414fa339],
  ] as Array<[string, number]>)("%p", (text, expected) => {
    expect(crc32(bytesOf(text))).toBe(expected);
  });

  test("over a range of a buffer", () => {
    const bytes = bytesOf("xx123456789yy");
    expect(crc32(bytes, 2, 11)).toBe(0xcbf43926);
  });
});
