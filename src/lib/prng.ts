// Seeded pseudo-random number generator for cores and the simulator.
//
// Cores never call Math.random: they receive a Prng at construction so that a
// run is reproducible from its seed. The generator is xoshiro128** (32-bit
// state words, good statistical quality, tiny and fast in JavaScript), seeded
// through splitmix32 so that nearby seeds give unrelated streams. The API is
// integer-first: floating point is offered only where a probability is wanted.

import { assert, assertInteger } from "./assert.ts";

function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    assertInteger(seed, "seed");
    let state = seed | 0;
    const words: number[] = [];
    // Mix in the high bits too, so seeds above 2^32 are not silently folded.
    state ^= Math.floor(seed / 0x100000000) | 0;
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(state);
      state = next;
      words.push(out);
    }
    this.s0 = words[0]!;
    this.s1 = words[1]!;
    this.s2 = words[2]!;
    this.s3 = words[3]!;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Uniform unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform integer in [0, bound), without modulo bias. bound <= 2^32. */
  int(bound: number): number {
    assertInteger(bound, "bound");
    assert(bound > 0 && bound <= 0x100000000, `bound must be in (0, 2^32], got ${bound}`);
    const limit = 0x100000000 - (0x100000000 % bound);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % bound;
    }
  }

  /** Uniform integer in [min, max] inclusive. */
  intBetween(min: number, max: number): number {
    assert(max >= min, `intBetween: max ${max} < min ${min}`);
    return min + this.int(max - min + 1);
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.nextU32() / 0x100000000;
  }

  /** True with probability p (0..1). */
  chance(p: number): boolean {
    assert(p >= 0 && p <= 1, `probability must be in [0, 1], got ${p}`);
    if (p === 0) return false;
    if (p === 1) return true;
    return this.float() < p;
  }

  /** In-place Fisher-Yates shuffle; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /** A uniformly chosen element; the array must not be empty. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from an empty array");
    return items[this.int(items.length)]!;
  }

  /** Fill a byte array (for nonces and keys in the simulator). */
  fill(bytes: Uint8Array): Uint8Array {
    for (let i = 0; i < bytes.length; i += 4) {
      let x = this.nextU32();
      for (let k = 0; k < 4 && i + k < bytes.length; k++) {
        bytes[i + k] = x & 0xff;
        x >>>= 8;
      }
    }
    return bytes;
  }

  /** A new generator whose stream is independent of this one's future output. */
  fork(): Prng {
    return new Prng(this.nextU32() * 0x100000 + (this.nextU32() & 0xfffff));
  }
}
