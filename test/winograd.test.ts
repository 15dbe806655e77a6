// The Winograd F(2x2, 3x3) convolution (assembly/winograd.ts): forward, backward-input and
// backward-weight against the float64 direct convolution (random and large-offset inputs, odd
// sizes, padding 0-2), against the im2col path it replaces, taken exactly when it applies,
// and the same bits at any thread count.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { setWinograd } from '../src/kernels/wasm/winograd.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';

type Case = {
  x: number[];
  k: number;
  opts: nk.ops.Conv2dOptions;
  kernel?: number[];
  offset?: number;
};

/** y, dx, dw and db of conv2d at float32 (the WASM kernels) or float64 (the JS reference). */
function run(c: Case, dtype: 'float32' | 'float64', seed = 1): Float64Array[] {
  const g = new nk.Generator(seed);
  const [, C] = c.x;
  const wShape = [c.k, C / (c.opts.groups ?? 1), ...(c.kernel ?? [3, 3])];
  const make = (shape: number[], offset = 0) =>
    nk.tensor(
      Float64Array.from({ length: shape.reduce((a, b) => a * b) }, () => offset + g.normal()),
      shape,
      { dtype, requiresGrad: true },
    );
  const x = make(c.x, c.offset),
    w = make(wShape),
    b = make([c.k]);
  const y = nk.conv2d(x, w, b, c.opts);
  const dy = nk.tensor(
    Float64Array.from({ length: y.size }, (_, i) => Math.sin(0.37 * i)),
    y.shape,
    { dtype },
  );
  y.mul(dy).sum().backward();
  return [y, x.grad!, w.grad!, b.grad!].map((t) => Float64Array.from(t.toArray()));
}

/** max |a − b| over max |b|: the error relative to the result's scale. */
function relErr(a: Float64Array, b: Float64Array): number {
  let err = 0,
    scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}

const PARTS = ['y', 'dx', 'dw', 'db'];
// Every case takes Winograd forward and backward-input; C, K >= 32 also backward-weight.
const CASES: Case[] = [
  { x: [2, 16, 7, 9], k: 16, opts: { padding: 1 } },
  { x: [3, 17, 5, 6], k: 19, opts: { padding: 0 } },
  { x: [1, 16, 6, 5], k: 16, opts: { padding: 2 } },
  { x: [2, 16, 1, 1], k: 16, opts: { padding: 1 } },
  { x: [2, 33, 13, 11], k: 32, opts: { padding: 1 } },
  { x: [1, 32, 2, 3], k: 40, opts: { padding: [2, 1] } },
  { x: [2, 32, 10, 10], k: 32, opts: { padding: 1 }, offset: 1000 },
  // Output 6 x 16: whole groups of tiles, so the weight gradient reads dy in place.
  { x: [3, 32, 6, 16], k: 33, opts: { padding: 1 } },
  // 17 x 20 tiles an image, more than a block: the weight gradient goes by blocks of tile rows.
  { x: [1, 32, 36, 34], k: 32, opts: { padding: 1 } },
];

describe('Winograd F(2x2, 3x3) convolution', () => {
  after(() => {
    setWinograd(true);
    setGrainScale(1);
  });

  // The rule: within 4e-6 of the result's scale (about 34 float32 ulps), and no more than
  // three times the error of the im2col path it replaces (plus 5e-7 for error-free ties).
  // The bias gradient is a sum of dy on either path; only the second part applies to it.
  it('matches the float64 direct convolution as closely as the im2col path does', (t) => {
    for (const c of CASES) {
      setWinograd(true);
      const wino = run(c, 'float32');
      setWinograd(false);
      const im2col = run(c, 'float32');
      setWinograd(true);
      const ref = run(c, 'float64');
      const errs = PARTS.map(
        (p, i) => [p, relErr(wino[i], ref[i]), relErr(im2col[i], ref[i])] as const,
      );
      t.diagnostic(
        `${JSON.stringify(c.x)} -> ${c.k}, ${JSON.stringify(c.opts)}${c.offset ? `, x + ${c.offset}` : ''}: ` +
          errs
            .map(([p, e, r]) => `${p} ${e.toExponential(1)} (im2col ${r.toExponential(1)})`)
            .join(', '),
      );
      for (const [p, e, r] of errs)
        assert.ok(
          (p === 'db' || e <= 4e-6) && e <= 3 * r + 5e-7,
          `${JSON.stringify(c)} ${p}: relative error ${e}, im2col ${r}`,
        );
    }
  });

  it("runs exactly where it applies: elsewhere the bits are the im2col path's", () => {
    const differs = (c: Case) => {
      setWinograd(true);
      const a = run(c, 'float32');
      setWinograd(false);
      const b = run(c, 'float32');
      setWinograd(true);
      return a.map((v, i) => !sameBits(v, b[i]));
    };
    for (const c of [
      { x: [2, 16, 9, 9], k: 16, kernel: [5, 5], opts: { padding: 2 } },
      { x: [2, 16, 9, 9], k: 16, opts: { stride: 2, padding: 1 } },
      { x: [2, 16, 9, 9], k: 16, opts: { dilation: 2, padding: 2 } },
      { x: [2, 32, 9, 9], k: 32, opts: { groups: 2, padding: 1 } },
      { x: [2, 8, 9, 9], k: 16, opts: { padding: 1 } },
      { x: [2, 16, 9, 9], k: 8, opts: { padding: 1 } },
      { x: [2, 16, 9, 9], k: 16, opts: { padding: 3 } },
    ] satisfies Case[])
      assert.deepEqual(differs(c), [false, false, false, false], JSON.stringify(c));
    // Forward and backward-input from 16 channels, backward-weight from 32 (db never changes).
    assert.deepEqual(differs({ x: [2, 16, 9, 9], k: 16, opts: { padding: 1 } }), [
      true,
      true,
      false,
      false,
    ]);
    assert.deepEqual(differs({ x: [2, 32, 9, 9], k: 32, opts: { padding: 1 } }), [
      true,
      true,
      true,
      false,
    ]);
  });

  it('gives the same bits at 1, 2 and 3 threads', () => {
    setGrainScale(0);
    // Blocks of images, and (17 x 20 tiles an image) blocks of tile rows.
    const cases: Case[] = [
      { x: [5, 36, 9, 7], k: 33, opts: { padding: 1 } },
      { x: [3, 32, 34, 33], k: 32, opts: { padding: 1 } },
    ];
    for (const c of cases) {
      const results = [1, 2, 3].map((n) => {
        nk.setNumThreads(n);
        return run(c, 'float32');
      });
      nk.setNumThreads(2);
      for (const r of results.slice(1))
        r.forEach((v, i) =>
          assert.ok(sameBits(v, results[0][i]), `${JSON.stringify(c.x)}: ${PARTS[i]} differs`),
        );
    }
  });
});
