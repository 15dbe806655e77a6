import { type KernelSpec, registerKernel } from '../registry.js';
import { broadcastShapes, broadcastStrides, sizeOf, stridesOf } from '../../tensor/shape.js';
import { empty } from '../../tensor/tensor.js';
import { type BatchedGemmFn, type GemmFn, batchedFrom, mat } from './gemm.js';

/** Registers batched MatMul for a backend, given its GEMM (and a batched one, if it has one). */
export function registerMatMul(
  backend: string,
  gemm: GemmFn,
  supports?: KernelSpec['supports'],
  batched: BatchedGemmFn = batchedFrom(gemm),
): void {
  // a: [...batchA, M, K] (or [..., K, M] with transA), b: [...batchB, K, N] (or [..., N, K]).
  registerKernel({
    name: 'MatMul',
    backend,
    supports,
    fn: ([a, b], { transA, transB }: { transA: boolean; transB: boolean }) => {
      const ra = a.rank,
        rb = b.rank;
      const [M, K] = transA
        ? [a.shape[ra - 1], a.shape[ra - 2]]
        : [a.shape[ra - 2], a.shape[ra - 1]];
      const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
      const batchA = a.shape.slice(0, ra - 2),
        batchB = b.shape.slice(0, rb - 2);
      const batch = broadcastShapes('matmul', batchA, batchB);
      const y = empty([...batch, M, N], a.dtype);
      const sa = broadcastStrides(batchA, batch),
        sb = broadcastStrides(batchB, batch);
      const bs = stridesOf(batch);
      const A = a.data,
        B = b.data,
        Y = y.data;
      const nb = sizeOf(batch);
      const colsA = a.shape[ra - 1],
        colsB = b.shape[rb - 1];
      // A batch without broadcasting (or with an operand shared by all) is one batched call.
      const same = (b: readonly number[]) =>
        b.length === batch.length && b.every((d, i) => d === batch[i]);
      const single = (b: readonly number[]) => b.every((d) => d === 1);
      if ((same(batchA) || single(batchA)) && (same(batchB) || single(batchB))) {
        batched(
          nb,
          M,
          N,
          K,
          mat(A, 0, colsA, transA),
          single(batchA) ? 0 : M * K,
          mat(B, 0, colsB, transB),
          single(batchB) ? 0 : K * N,
          mat(Y, 0, N),
          M * N,
        );
        return y;
      }
      for (let q = 0; q < nb; q++) {
        let offA = 0,
          offB = 0,
          rem = q;
        for (let d = 0; d < batch.length; d++) {
          const i = Math.floor(rem / bs[d]);
          rem -= i * bs[d];
          offA += i * sa[d];
          offB += i * sb[d];
        }
        gemm(
          M,
          N,
          K,
          mat(A, offA * M * K, colsA, transA),
          mat(B, offB * K * N, colsB, transB),
          mat(Y, q * M * N, N),
          false,
        );
      }
      return y;
    },
  });
}
