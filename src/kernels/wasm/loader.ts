// Loads the WebAssembly kernels (built from assembly/ by `npm run build`) onto the shared
// tensor memory. In Node they load at import; in a browser call initWasm() first. Without
// them every op still runs on the JavaScript reference kernels.
import { heap } from '../../memory/allocator.js';
import { isNode } from '../../platform.js';
import { attachThreads } from './threads.js';

export interface WasmKernels {
  sgemm(
    M: number,
    N: number,
    K: number,
    a: number,
    rsA: number,
    csA: number,
    b: number,
    rsB: number,
    csB: number,
    c: number,
    ldc: number,
    accumulate: number,
    work: number,
  ): void;
  sgemmBatch(
    count: number,
    M: number,
    N: number,
    K: number,
    a: number,
    bA: number,
    rsA: number,
    csA: number,
    b: number,
    bB: number,
    rsB: number,
    csB: number,
    c: number,
    bC: number,
    ldc: number,
    work: number,
  ): void;
  gemmWorkspaceBytes(): number;
  /** Whether an M x N x K product runs as Cᵀ = Bᵀ·Aᵀ (1) or as written (0). */
  gemmSwaps(M: number, N: number, K: number): number;
  gemmPacksB(M: number): number;
  packedBFloats(K: number, N: number): number;
  packWholeB(b: number, rsB: number, csB: number, K: number, N: number, dst: number): void;
  sgemmPackedB(...args: number[]): void;
  /** Bytes to pack a GEMM's whole A [M, K] once (the conv passes whose A is the weights). */
  gemmPackedABytes(M: number, K: number): number;
  winogradScratchBytes(
    C: number,
    K: number,
    H: number,
    W: number,
    ph: number,
    pw: number,
    pool: number,
  ): number;
  /** dw from the chunks' sums of winogradWeightGradChunks, added in chunk order. */
  winogradWeightGradFinish(
    partials: number,
    chunks: number,
    K: number,
    C: number,
    dw: number,
  ): void;
  winogradWeightGradScratchBytes(
    Cs: number,
    K: number,
    H: number,
    W: number,
    ph: number,
    pw: number,
  ): number;
  dropoutMask(state: number, out: number, n: number, p: number, scale: number): void;
  // Layout passes (see assembly/stats.ts): statistics [s0, s1) of a StatLayout.
  moments(
    x: number,
    s0: number,
    s1: number,
    outer: number,
    outerStride: number,
    statStride: number,
    inner: number,
    mean: number,
    m2: number,
  ): void;
  affine(
    x: number,
    y: number,
    s0: number,
    s1: number,
    outer: number,
    outerStride: number,
    statStride: number,
    inner: number,
    c: number,
    a: number,
    b: number,
    relu: number,
  ): void;
  binary(
    op: number,
    a: number,
    b: number,
    y: number,
    n0: number,
    n1: number,
    n2: number,
    a0: number,
    a1: number,
    a2: number,
    b0: number,
    b1: number,
    b2: number,
    fill: number,
  ): void;
  binaryOuter(...args: number[]): void;
  windowAvg(
    src: number,
    dst: number,
    planes: number,
    H: number,
    W: number,
    oh: number,
    ow: number,
    rw: number,
    cw: number,
    grad: number,
  ): void;
  maxMiddle(...args: number[]): void;
  varMiddle(...args: number[]): void;
  sumMiddle(
    x: number,
    y: number,
    n0: number,
    n1: number,
    n2: number,
    ld: number,
    acc: number,
  ): void;
  sumOuterInner(
    x: number,
    y: number,
    j0: number,
    j1: number,
    n0: number,
    n1: number,
    n2: number,
  ): void;
  normalize(
    x: number,
    y: number,
    s0: number,
    s1: number,
    outer: number,
    outerStride: number,
    statStride: number,
    inner: number,
    P: number,
    Q: number,
    w: number,
    b: number,
    eps: number,
    relu: number,
    mean: number,
    m2: number,
    pool: number,
    scratch: number,
  ): void;
  normalizeBackward(
    g: number,
    x: number,
    dx: number,
    s0: number,
    s1: number,
    outer: number,
    outerStride: number,
    statStride: number,
    inner: number,
    P: number,
    Q: number,
    w: number,
    mu: number,
    inv: number,
    sg: number,
    sgx: number,
    mask: number,
  ): void;
  im2col(
    x: number,
    C: number,
    H: number,
    W: number,
    kh: number,
    kw: number,
    oh: number,
    ow: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
    out: number,
  ): void;
  col2im(
    src: number,
    dx: number,
    C: number,
    H: number,
    W: number,
    kh: number,
    kw: number,
    oh: number,
    ow: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
  ): void;
  relu(x: number, y: number, n: number): void;
  reluGrad(dy: number, x: number, dx: number, n: number): void;
  leakyRelu(x: number, y: number, n: number, slope: number): void;
  powScalar(x: number, y: number, n: number, e: number): void;
  unaryMath(op: number, x: number, y: number, n: number): void;
  clamp(x: number, y: number, n: number, lo: number, hi: number, mask: number): void;
  rowNormGradChunks(...args: number[]): void;
  rowNormDxChunks(...args: number[]): void;
  rowNormAffineChunks(...args: number[]): void;
  softmaxStrided(...args: number[]): void;
  softmaxGradStrided(...args: number[]): void;
  geluGrad(dy: number, x: number, dx: number, n: number): void;
  colSums(
    x: number,
    g: number,
    N: number,
    C: number,
    b0: number,
    b1: number,
    centre: number,
    partials: number,
    acc: number,
  ): void;
  colMerge(partials: number, blocks: number, C: number, t1: number, t2: number): void;
  colBlockRows(): number;
  colAffine(
    x: number,
    g: number,
    out: number,
    r0: number,
    r1: number,
    C: number,
    centre: number,
    k: number,
    a: number,
    b: number,
    relu: number,
  ): void;
  leakyReluGrad(dy: number, x: number, dx: number, n: number, slope: number): void;
  maxPool2d(
    x: number,
    planes: number,
    H: number,
    W: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    y: number,
    idx: number,
  ): void;
  maxPool2dGrad(
    dy: number,
    idx: number,
    planes: number,
    H: number,
    W: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    dx: number,
  ): void;
  sgdUpdate(
    p: number,
    g: number,
    buf: number,
    n: number,
    lr: number,
    momentum: number,
    dampening: number,
    nesterov: number,
    weightDecay: number,
    first: number,
  ): void;
  adamUpdate(
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: number,
    step: number,
  ): void;
  rowNormForward(
    x: number,
    y: number,
    rows: number,
    cols: number,
    w: number,
    b: number,
    eps: number,
    center: number,
    mean: number,
    inv: number,
  ): void;
  rowNormBackward(
    g: number,
    x: number,
    dx: number,
    rows: number,
    cols: number,
    groupRows: number,
    mu: number,
    inv: number,
    w: number,
    center: number,
    pw: number,
    pb: number,
  ): void;
  groupColSums(p: number, groups: number, cols: number, n: number, out: number): void;
  permuteOuter(...args: number[]): void;
  permute4(
    x: number,
    y: number,
    n0: number,
    n1: number,
    n2: number,
    n3: number,
    s0: number,
    s1: number,
    s2: number,
    s3: number,
  ): void;
  softmaxRows(x: number, y: number, rows: number, D: number, log: number): void;
  softmaxGradRows(dy: number, y: number, dx: number, rows: number, D: number, log: number): void;
  // One recurrent step's gate math for `rows` rows (assembly/recurrent.ts).
  cellForward(
    kind: number,
    rows: number,
    H: number,
    gi: number,
    gh: number,
    bhh: number,
    hp: number,
    cp: number,
    hn: number,
    cn: number,
    saved: number,
  ): void;
  cellBackward(
    kind: number,
    rows: number,
    H: number,
    dh: number,
    dc: number,
    saved: number,
    hp: number,
    cp: number,
    dgi: number,
    dgh: number,
    dhp: number,
    dcp: number,
  ): void;
}

/** The two builds of the kernels (`npm run build:wasm` makes both from assembly/). */
export type WasmBuild = 'relaxed-simd' | 'simd';

let kernels: WasmKernels | null = null;
let build: WasmBuild | 'custom' | null = null;
let loadError: string | null = null;
let relaxedFlagSet = false;
const listeners: ((k: WasmKernels) => void)[] = [];

export function wasmKernels(): WasmKernels | null {
  return kernels;
}

/** Whether normkit turned on V8's relaxed-SIMD flag in this process (Node 20). */
export function relaxedSimdFlagSet(): boolean {
  return relaxedFlagSet;
}

/** Why the kernels are not loaded (null when they are). */
export function wasmLoadError(): string | null {
  return kernels ? null : loadError;
}

/** Called once the kernels load (at once if they already have). */
export function onWasmReady(fn: (k: WasmKernels) => void): void {
  if (kernels) fn(kernels);
  else listeners.push(fn);
}

export function instantiateWasm(
  bytes: BufferSource,
  which: WasmBuild | 'custom' = 'custom',
): WasmKernels {
  const module = new WebAssembly.Module(bytes);
  build = which;
  const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory } });
  kernels = instance.exports as unknown as WasmKernels;
  attachThreads(module, instance.exports);
  for (const fn of listeners.splice(0)) fn(kernels);
  return kernels;
}

const BUILD_URLS: Record<WasmBuild, URL> = {
  // The GEMM's multiply-adds as relaxed_madd (fused where the CPU has FMA).
  'relaxed-simd': new URL('../../../wasm/normkit-relaxed.wasm', import.meta.url),
  simd: new URL('../../../wasm/normkit.wasm', import.meta.url),
};

/** Which kernels run: the relaxed-SIMD build, the plain SIMD one, bytes the caller gave, or none. */
export function wasmBuild(): WasmBuild | 'custom' | null {
  return kernels ? build : null;
}

/**
 * The builds to try, best first: relaxed SIMD where the engine validates it (Node 22+, current
 * Chromium; Node 20 once its flag is on, see below), else plain SIMD. `prefer` forces one
 * (Node: NORMKIT_WASM_BUILD).
 */
function candidates(prefer?: string): WasmBuild[] {
  if (prefer === 'simd' || prefer === 'relaxed-simd') return [prefer];
  if (prefer !== undefined && prefer !== '')
    throw new Error(`NORMKIT_WASM_BUILD: expected simd or relaxed-simd, got ${prefer}`);
  return ['relaxed-simd', 'simd'];
}

/**
 * The first candidate build whose bytes this engine validates, with the reasons of the others.
 * `unlockRelaxed` (Node) may turn on the engine's relaxed SIMD when its build does not validate.
 */
async function pick(
  read: (url: URL) => Promise<BufferSource>,
  prefer?: string,
  unlockRelaxed?: () => Promise<boolean>,
): Promise<[WasmBuild, BufferSource]> {
  const refused: string[] = [];
  for (const b of candidates(prefer)) {
    const bytes = await read(BUILD_URLS[b]);
    if (WebAssembly.validate(bytes)) return [b, bytes];
    if (b === 'relaxed-simd' && unlockRelaxed && (await unlockRelaxed())) {
      if (WebAssembly.validate(bytes)) {
        relaxedFlagSet = true;
        return [b, bytes];
      }
    }
    refused.push(`${b}: this engine does not validate ${BUILD_URLS[b].pathname.split('/').pop()}`);
  }
  throw new Error(refused.join('; '));
}

/**
 * Loads the kernels from bytes or a URL; by default the best build beside the package that
 * this engine runs (wasmBuild() says which).
 */
export async function initWasm(source?: BufferSource | URL | string): Promise<void> {
  if (kernels) return;
  if (!heap.shared) {
    loadError =
      'the WASM kernels need shared memory: serve the page cross-origin isolated ' +
      '(Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp)';
    throw new Error(`initWasm: ${loadError}; the JS kernels remain in use`);
  }
  const fetchBytes = async (url: URL | string) => (await fetch(url)).arrayBuffer();
  if (source === undefined) {
    const [b, bytes] = await pick(fetchBytes);
    instantiateWasm(bytes, b);
    return;
  }
  instantiateWasm(
    source instanceof URL || typeof source === 'string' ? await fetchBytes(source) : source,
  );
}

/**
 * Node 20's V8 has relaxed SIMD behind --experimental-wasm-relaxed-simd (on by default from
 * Node 22). The flag only adds instructions, so when the relaxed build is a candidate and does
 * not validate, pick() turns it on here: GEMMs run about 35 % faster with it. False on a
 * runtime without V8's flags (Bun, Deno): the plain build loads instead.
 */
async function turnOnRelaxedSimd(): Promise<boolean> {
  try {
    const { setFlagsFromString } = await import('node:v8');
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    return true;
  } catch {
    return false;
  }
}

// Node: load at import (before any op runs), so ops need no set-up.
if (isNode) {
  try {
    const { readFile } = await import('node:fs/promises');
    const [b, bytes] = await pick(
      (url) => readFile(url),
      process.env.NORMKIT_WASM_BUILD,
      turnOnRelaxedSimd,
    );
    instantiateWasm(bytes, b);
  } catch (e) {
    loadError = (e as Error).message;
  }
}
