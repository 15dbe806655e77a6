// Dropout's masks from the library's generator (src/random.ts, xoshiro128**): the same draws
// in the same order as Generator.uniform(), so a seed gives the same mask on either backend.

/**
 * out[i] = (uniform < p ? 0 : scale) for n floats, uniform = ((a >> 5)·2^26 + (b >> 6)) / 2^53
 * from two draws a, b (Generator.uniform); `state` holds the generator's four u32 words and
 * is left advanced past the draws.
 */
export function dropoutMask(state: usize, out: usize, n: i32, p: f64, scale: f32): void {
  let s0 = load<u32>(state),
    s1 = load<u32>(state, 4),
    s2 = load<u32>(state, 8),
    s3 = load<u32>(state, 12);
  for (let i = 0; i < n; i++) {
    // Two xoshiro128** steps, as Generator.nextU32.
    const a = rotl<u32>(s1 * 5, 7) * 9;
    let t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl<u32>(s3, 11);
    const b = rotl<u32>(s1 * 5, 7) * 9;
    t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl<u32>(s3, 11);
    const u = (<f64>(a >> 5) * 67108864 + <f64>(b >> 6)) / 9007199254740992;
    store<f32>(out + ((<usize>i) << 2), u < p ? 0 : scale);
  }
  store<u32>(state, s0);
  store<u32>(state, s1, 4);
  store<u32>(state, s2, 8);
  store<u32>(state, s3, 12);
}
