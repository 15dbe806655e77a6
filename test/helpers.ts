// Shared test helpers: closeness assertions, fixtures, and a float64 finite-difference
// gradient check in the style of PyTorch's gradcheck.
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Tensor, noGrad, randn, tensor, tidy } from '../src/index.js';

export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  {
    rtol = 1e-5,
    atol = 1e-6,
    what = 'values',
  }: { rtol?: number; atol?: number; what?: string } = {},
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${what}: length ${actual.length} != ${expected.length}`,
  );
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i],
      e = expected[i];
    const ok = Number.isNaN(e) ? Number.isNaN(a) : Math.abs(a - e) <= atol + rtol * Math.abs(e);
    if (!ok) assert.fail(`${what}[${i}]: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
  }
}

export function fixture(name: string): any {
  return JSON.parse(readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8'));
}

export function fromCase(
  c: { shape: number[]; data: number[] },
  dtype: 'float32' | 'float64' = 'float64',
  requiresGrad = false,
): Tensor {
  return tensor(c.data, c.shape, { dtype, requiresGrad });
}

/**
 * Compares autograd gradients of sum(f(inputs) · w) (w random) with central differences,
 * all in float64. Inputs must be float64 leaves.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  { eps = 1e-6, atol = 1e-6, rtol = 1e-4 }: { eps?: number; atol?: number; rtol?: number } = {},
): void {
  tidy(() => {
    for (const x of inputs) {
      assert.equal(x.dtype, 'float64', 'gradcheck needs float64 inputs');
      x.requiresGrad = true;
      x.grad = null;
    }
    const y0 = f(...inputs);
    const w = randn(y0.shape, { dtype: 'float64' });
    const W = w.data;
    const objective = () => {
      const y = f(...inputs).data;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * W[i];
      return s;
    };
    y0.mul(w).sum().backward();
    inputs.forEach((x, k) => {
      const analytic = x.grad ? x.grad.toArray() : new Float64Array(x.size);
      const numeric = new Float64Array(x.size);
      const X = x.data;
      noGrad(() => {
        for (let i = 0; i < x.size; i++) {
          const orig = X[i];
          X[i] = orig + eps;
          const up = tidy(objective);
          X[i] = orig - eps;
          const down = tidy(objective);
          X[i] = orig;
          numeric[i] = (up - down) / (2 * eps);
        }
      });
      assertClose(analytic, numeric, { rtol, atol, what: `gradient of input ${k}` });
    });
    for (const x of inputs) {
      x.grad?.dispose();
      x.grad = null;
    }
  });
}

export function rand64(shape: number[], scale = 1): Tensor {
  return randn(shape, { dtype: 'float64', std: scale });
}

/** The header of an IDX file of unsigned bytes with the given dimensions (data not included). */
export function idxHeader(dims: number[]): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = 8;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return h;
}

/** The built `normkit` command, and a way to run it as a user would (a child process). */
export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export function runCli(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

/** One epoch of a small CLI model on 64 bundled images: a checkpoint for the CLI's tests. */
export function trainTiny(checkpoint: string, model = 'cnn', width = 8): SpawnSyncReturns<string> {
  return runCli(
    'train',
    '--model',
    model,
    '--width',
    String(width),
    '--epochs',
    '1',
    '--train-limit',
    '64',
    '--test-limit',
    '16',
    '--checkpoint',
    checkpoint,
  );
}

/**
 * A layer with a weight (and bias) against a PyTorch record: its output for rec.x, and the
 * gradients of sum(y · rec.w) for the input, the weight and the bias.
 */
export function checkLayerRecord(
  m: { call(x: Tensor): Tensor; weight: Tensor; bias: Tensor | null },
  rec: any,
  close: { rtol: number; atol: number },
): void {
  m.weight.data.set(rec.weight);
  if (rec.bias) m.bias!.data.set(rec.bias);
  const x = tensor(rec.x, rec.xShape, { requiresGrad: true });
  const y = m.call(x);
  assert.deepEqual(y.shape, rec.yShape);
  y.mul(tensor(rec.w, y.shape)).sum().backward();
  assertClose(y.toArray(), rec.y, { ...close, what: 'y' });
  assertClose(x.grad!.toArray(), rec.dx, { ...close, what: 'dx' });
  assertClose(m.weight.grad!.toArray(), rec.dweight, { ...close, what: 'dweight' });
  if (rec.dbias) assertClose(m.bias!.grad!.toArray(), rec.dbias, { ...close, what: 'dbias' });
}
