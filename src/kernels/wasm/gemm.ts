// The WASM SIMD GEMM behind the same GemmFn interface as the JS one. It runs when every
// operand is float32 data in the shared tensor memory with contiguous C rows; anything else
// (float64, JS-heap scratch) goes to the JS reference GEMM. Threads split C's larger
// dimension into blocks of whole rows or columns, each with its own packing workspace.
import {
  type BatchedGemmFn,
  type GemmFn,
  type PrepareBFn,
  type SharedB,
  batchedFrom,
  gemm as jsGemm,
  sharedBFrom,
} from '../js/gemm.js';
import { heap } from '../../memory/allocator.js';
import { workspaceBytes } from '../workspace.js';
import { wasmKernels } from './loader.js';
import { heapPtr } from './memory.js';
import { parallelFor } from './threads.js';

/** Multiply-adds a thread should get at least. */
const GRAIN_FLOPS = 1 << 21;

/** Thread t's GEMM packing workspace (shared by every caller of sgemm on that thread). */
export function gemmWorkspace(t: number): number {
  return workspaceBytes(`sgemm-${t}`, wasmKernels()!.gemmWorkspaceBytes());
}

/**
 * How the GEMM splits an M x N x K product across threads: by C's rows when M ≥ N, else by its
 * columns, each thread at least GRAIN_FLOPS multiply-adds (the other dimension times K per
 * row or column). makeWasmPrepareB's blocks of B must be these column blocks.
 */
const splitsRows = (M: number, N: number) => M >= N;
const grainFor = (other: number, K: number) => Math.ceil(GRAIN_FLOPS / Math.max(1, other * K));

export function makeWasmGemm(): GemmFn {
  return (M, N, K, a, b, c, accumulate) => {
    const pa = heapPtr(a.data),
      pb = heapPtr(b.data),
      pc = heapPtr(c.data);
    if (c.colStride !== 1 || pa === null || pb === null || pc === null) {
      jsGemm(M, N, K, a, b, c, accumulate);
      return;
    }
    const A = pa + a.offset * 4,
      B = pb + b.offset * 4,
      C = pc + c.offset * 4;
    const acc = accumulate ? 1 : 0;
    if (splitsRows(M, N)) {
      parallelFor('sgemm', M, grainFor(N, K), (m0, m1, t) => [
        m1 - m0,
        N,
        K,
        A + m0 * a.rowStride * 4,
        a.rowStride,
        a.colStride,
        B,
        b.rowStride,
        b.colStride,
        C + m0 * c.rowStride * 4,
        c.rowStride,
        acc,
        gemmWorkspace(t),
      ]);
    } else {
      parallelFor('sgemm', N, grainFor(M, K), (n0, n1, t) => [
        M,
        n1 - n0,
        K,
        A,
        a.rowStride,
        a.colStride,
        B + n0 * b.colStride * 4,
        b.rowStride,
        b.colStride,
        C + n0 * 4,
        c.rowStride,
        acc,
        gemmWorkspace(t),
      ]);
    }
  };
}

/**
 * B packed once per thread's block of columns, for products that share it (a recurrent layer's
 * W_hh at every step): each run splits C's columns as the GEMM above does for M < N (the same
 * blocks, since the split depends only on the shape and the thread count), and each thread
 * multiplies by its packed block (sgemmPackedB): the bits of gemm(). Products the GEMM would
 * split by rows or not pack (M ≥ N, a few rows), and operands outside the WASM heap, run
 * through gemm() as they come.
 */
export function makeWasmPrepareB(gemm: GemmFn): PrepareBFn {
  const plain = sharedBFrom(gemm);
  return (M, N, K, b) => {
    const k = wasmKernels()!;
    const pb = heapPtr(b.data);
    if (pb === null || splitsRows(M, N) || K <= 0 || !k.gemmPacksB(M)) return plain(M, N, K, b);
    const B = pb + b.offset * 4;
    const grain = grainFor(M, K);
    const blocks: { n0: number; at: number; bytes: number }[] = [];
    parallelFor('packWholeB', N, grain, (n0, n1, t) => {
      const bytes = k.packedBFloats(K, n1 - n0) * 4;
      blocks[t] = { n0, at: heap.alloc(bytes), bytes };
      return [B + n0 * b.colStride * 4, b.rowStride, b.colStride, K, n1 - n0, blocks[t].at];
    });
    const shared: SharedB = {
      run(Mr, a, c, accumulate) {
        const pa = heapPtr(a.data),
          pc = heapPtr(c.data);
        if (Mr !== M || c.colStride !== 1 || pa === null || pc === null)
          return gemm(Mr, N, K, a, b, c, accumulate);
        const A = pa + a.offset * 4,
          C = pc + c.offset * 4;
        parallelFor('sgemmPackedB', N, grain, (n0, n1, t) => {
          if (blocks[t]?.n0 !== n0) throw new Error('sgemmPackedB: thread blocks changed');
          return [
            M,
            n1 - n0,
            K,
            A,
            a.rowStride,
            a.colStride,
            blocks[t].at,
            C + n0 * 4,
            c.rowStride,
            accumulate ? 1 : 0,
            gemmWorkspace(t),
          ];
        });
      },
      dispose() {
        for (const blk of blocks) heap.release(blk.at, blk.bytes);
        blocks.length = 0;
      },
    };
    return shared;
  };
}

/**
 * Batches of small products (each under a thread's grain) are split across threads by
 * product, in one WASM call per thread; larger ones go one by one through the threaded GEMM.
 */
export function makeWasmBatchedGemm(gemm: GemmFn): BatchedGemmFn {
  const oneByOne = batchedFrom(gemm);
  return (count, M, N, K, a, bA, b, bB, c, bC) => {
    const pa = heapPtr(a.data),
      pb = heapPtr(b.data),
      pc = heapPtr(c.data);
    if (
      c.colStride !== 1 ||
      pa === null ||
      pb === null ||
      pc === null ||
      M * N * K >= GRAIN_FLOPS
    ) {
      oneByOne(count, M, N, K, a, bA, b, bB, c, bC);
      return;
    }
    const A = pa + a.offset * 4,
      B = pb + b.offset * 4,
      C = pc + c.offset * 4;
    parallelFor(
      'sgemmBatch',
      count,
      Math.ceil(GRAIN_FLOPS / Math.max(1, M * N * K)),
      (q0, q1, t) => [
        q1 - q0,
        M,
        N,
        K,
        A + q0 * bA * 4,
        bA,
        a.rowStride,
        a.colStride,
        B + q0 * bB * 4,
        bB,
        b.rowStride,
        b.colStride,
        C + q0 * bC * 4,
        bC,
        c.rowStride,
        gemmWorkspace(t),
      ],
    );
  };
}
