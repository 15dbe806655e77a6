// One seeded generator for everything random in the library (init, dropout, shuffling), so a
// run with a given seed is reproducible bit for bit. xoshiro128** with splitmix32 seeding.

/**
 * A backend's fillMask (the WASM kernels register one): the same draws from the state words,
 * which it advances; false when it cannot take `out` (not float32 in its memory).
 */
export type MaskFiller = (
  state: Uint32Array,
  out: { length: number; [i: number]: number },
  p: number,
  scale: number,
) => boolean;

let maskFiller: MaskFiller | null = null;

export function setMaskFiller(f: MaskFiller | null): void {
  maskFiller = f;
}

export class Generator {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Seeds with an integer in [0, 2^53): every bit counts (seeds below 2^32 as before). */
  seed(seed: number): void {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new Error(`manualSeed: expected an integer in [0, 2^53), got ${seed}`);
    }
    const hi = Math.floor(seed / 2 ** 32);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      // The high bits (zero for 32-bit seeds, which keep their old streams) mix in here.
      this.s[i] = (z ^ (z >>> 16) ^ Math.imul(hi, 0x9e3779b1 + 2 * i)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1; // xoshiro's one forbidden state
    this.spare = null;
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * out[i] = uniform() < p ? 0 : scale for every i (dropout's masks): the same draws as
   * uniform() in the same order, with the state in locals. A method call and typed-array
   * round trips per draw made dropout a third of a Transformer step.
   */
  fillMask(out: { length: number; [i: number]: number }, p: number, scale: number): void {
    const s = this.s;
    if (maskFiller !== null && maskFiller(s, out, p, scale)) return;
    let s0 = s[0],
      s1 = s[1],
      s2 = s[2],
      s3 = s[3];
    for (let i = 0; i < out.length; i++) {
      const hi = Math.imul(rot32(Math.imul(s1, 5), 7), 9) >>> 5;
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rot32(s3, 11);
      const lo = Math.imul(rot32(Math.imul(s1, 5), 7), 9) >>> 6;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rot32(s3, 11);
      out[i] = (hi * 67108864 + lo) / 9007199254740992 < p ? 0 : scale;
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
  }

  /** Standard normal (Box–Muller, caching the second value). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  state(): number[] {
    return [...this.s, this.spare === null ? NaN : this.spare];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 5)
      throw new Error(`Generator.setState: expected 5 numbers, got ${state.length}`);
    for (let i = 0; i < 4; i++) this.s[i] = state[i] >>> 0;
    this.spare = Number.isNaN(state[4]) ? null : state[4];
  }
}

/** rotl as an int32 (the same bits): keeps fillMask's arithmetic in 32-bit integers. */
function rot32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The global generator. */
export const rng = new Generator(0);

/** Seeds the global generator (PyTorch's torch.manual_seed). */
export function manualSeed(seed: number): void {
  rng.seed(seed);
}
