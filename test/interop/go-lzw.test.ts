// Cross-checks our LZW and CRC-32 against Go's standard library, which is
// what memberlist uses: a small Go program (go/lzwcheck) answers batched
// requests. Go's compressed bytes must equal ours exactly, each side must
// decompress the other's output, Go and we must agree on arbitrary (mostly
// invalid) compressed input, and the checksums must match.
//
// Needs `go` (Debian golang-go). Without it the test skips, except in CI
// (CI=true), where it fails.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "../../src/gossip/crc32.ts";
import { lzwCompress, lzwDecompress } from "../../src/gossip/lzw.ts";
import { Prng } from "../../src/lib/prng.ts";

const goBinary = Bun.which("go");
const inCi = process.env.CI === "true";
const seed = process.env.SEED ? Number(process.env.SEED) : 20240611;
let workDir = "";
let checker = "";

type Op = "c" | "d" | "k";
type Answer = { ok: true; data: Uint8Array } | { ok: false; error: string };

beforeAll(() => {
  if (goBinary === null) return;
  workDir = mkdtempSync(join(tmpdir(), "lzwcheck-"));
  checker = join(workDir, "lzwcheck");
  const build = Bun.spawnSync([goBinary, "build", "-o", checker, "."], {
    cwd: join(import.meta.dir, "go", "lzwcheck"),
    env: { ...process.env, GOFLAGS: "", GOPROXY: "off", GO111MODULE: "off", GOPATH: "/tmp/gopath-lzw", GOCACHE: "/tmp/gopath-lzw/cache" },
  });
  if (build.exitCode !== 0) throw new Error(`go build of lzwcheck failed:\n${build.stderr.toString()}`);
});

afterAll(() => {
  if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
});

/** Sends every request to one lzwcheck process and returns its answers in order. */
function askGo(requests: Array<[Op, Uint8Array]>): Answer[] {
  const size = requests.reduce((total, [, data]) => total + 5 + data.length, 0);
  const input = new Uint8Array(size);
  const view = new DataView(input.buffer);
  let offset = 0;
  for (const [op, data] of requests) {
    input[offset] = op.charCodeAt(0);
    view.setUint32(offset + 1, data.length);
    input.set(data, offset + 5);
    offset += 5 + data.length;
  }
  const run = Bun.spawnSync([checker], { stdin: input });
  if (run.exitCode !== 0) throw new Error(`lzwcheck failed: ${run.stderr.toString()}`);
  return parseAnswers(new Uint8Array(run.stdout), requests.length);
}

function parseAnswers(output: Uint8Array, count: number): Answer[] {
  const view = new DataView(output.buffer, output.byteOffset, output.byteLength);
  const answers: Answer[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const status = output[offset];
    const length = view.getUint32(offset + 1);
    const data = output.slice(offset + 5, offset + 5 + length);
    answers.push(status === 0 ? { ok: true, data } : { ok: false, error: new TextDecoder().decode(data) });
    offset += 5 + length;
  }
  expect(offset).toBe(output.length);
  return answers;
}

/** Inputs that exercise literals, long matches, the code-width steps and table resets. */
function sampleInputs(prng: Prng): Uint8Array[] {
  const sizes = [0, 1, 2, 3, 17, 255, 256, 511, 512, 1000, 4095, 4096, 4097, 10_000, 50_000, 200_000];
  const inputs: Uint8Array[] = [];
  for (const size of sizes) {
    inputs.push(prng.fill(new Uint8Array(size)));
    inputs.push(new Uint8Array(size).fill(prng.int(256)));
    const alphabet = 2 + prng.int(6);
    inputs.push(Uint8Array.from({ length: size }, () => 97 + prng.int(alphabet)));
  }
  for (let i = 0; i < 20; i++) {
    const size = prng.int(30_000);
    const text = Array.from({ length: size }, () => (prng.chance(0.1) ? " " : String.fromCharCode(97 + prng.int(26)))).join("");
    inputs.push(new TextEncoder().encode(text));
  }
  return inputs;
}

/** Compressed-looking garbage: random bytes, and valid streams with bytes flipped or cut off. */
function hostileInputs(prng: Prng, valid: Uint8Array[]): Uint8Array[] {
  const inputs: Uint8Array[] = [];
  for (let i = 0; i < 150; i++) inputs.push(prng.fill(new Uint8Array(prng.int(400))));
  for (let i = 0; i < 150; i++) {
    const source = prng.pick(valid);
    const copy = source.slice(0, prng.chance(0.3) ? prng.int(source.length + 1) : source.length);
    for (let flips = prng.int(4); flips > 0 && copy.length > 0; flips--) copy[prng.int(copy.length)] = prng.int(256);
    inputs.push(copy);
  }
  return inputs;
}

function withSeed(body: () => void): void {
  try {
    body();
  } catch (error) {
    console.error(`\ngo-lzw interop failed. Replay with:\n  SEED=${seed} bun test test/interop/go-lzw.test.ts\n`);
    throw error;
  }
}

const skipReason = "go is not installed (apt-get install golang-go)";
const runnable = goBinary !== null || inCi;

test.skipIf(!runnable)(`LZW and CRC-32 agree with Go's compress/lzw and hash/crc32${runnable ? "" : ` [skipped: ${skipReason}]`}`, () => {
  if (goBinary === null) throw new Error(`CI=true but ${skipReason}`);
  withSeed(() => {
    const prng = new Prng(seed);
    const inputs = sampleInputs(prng);
    const ours = inputs.map(lzwCompress);
    const answers = askGo([
      ...inputs.map((input): [Op, Uint8Array] => ["c", input]),
      ...ours.map((compressed): [Op, Uint8Array] => ["d", compressed]),
      ...inputs.map((input): [Op, Uint8Array] => ["k", input]),
    ]);
    inputs.forEach((input, i) => {
      const goCompressed = answers[i]!;
      const goDecompressedOurs = answers[inputs.length + i]!;
      const goCrc = answers[2 * inputs.length + i]!;
      if (!goCompressed.ok || !goDecompressedOurs.ok || !goCrc.ok) throw new Error(`Go failed on input ${i}`);
      expect(Buffer.from(ours[i]!).equals(Buffer.from(goCompressed.data))).toBe(true);
      expect(Buffer.from(goDecompressedOurs.data).equals(Buffer.from(input))).toBe(true);
      const back = lzwDecompress(goCompressed.data);
      expect(back.ok && Buffer.from(back.bytes).equals(Buffer.from(input))).toBe(true);
      expect(new DataView(goCrc.data.buffer, goCrc.data.byteOffset).getUint32(0)).toBe(crc32(input));
    });
  });
});

test.skipIf(!runnable)(`LZW decompression agrees with Go on corrupt and truncated input${runnable ? "" : ` [skipped: ${skipReason}]`}`, () => {
  if (goBinary === null) throw new Error(`CI=true but ${skipReason}`);
  withSeed(() => {
    const prng = new Prng(seed + 1);
    const valid = sampleInputs(prng).slice(0, 40).map(lzwCompress);
    const inputs = hostileInputs(prng, valid);
    const answers = askGo(inputs.map((input): [Op, Uint8Array] => ["d", input]));
    let agreedFailures = 0;
    inputs.forEach((input, i) => {
      const theirs = answers[i]!;
      const ours = lzwDecompress(input);
      expect({ index: i, ok: ours.ok }).toEqual({ index: i, ok: theirs.ok });
      if (ours.ok && theirs.ok) expect(Buffer.from(ours.bytes).equals(Buffer.from(theirs.data))).toBe(true);
      else agreedFailures++;
    });
    expect(agreedFailures).toBeGreaterThan(100);
  });
});
