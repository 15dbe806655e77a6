// normkit's WebAssembly kernels (AssemblyScript, SIMD). Every function works on byte
// offsets into the imported shared memory that holds all tensors.
export {
  gemmPackedABytes,
  gemmPacksB,
  gemmSwaps,
  gemmWorkspaceBytes,
  packedBFloats,
  packWholeB,
  sgemm,
  sgemmBatch,
  sgemmPackedB,
} from './gemm';
export { affine, moments, normalize, normalizeBackward } from './stats';
export { col2im, convBackwardInput, convBackwardWeight, convForward, im2col } from './conv';
export {
  winogradConv,
  winogradScratchBytes,
  winogradWeightGrad,
  winogradWeightGradChunks,
  winogradWeightGradFinish,
  winogradWeightGradScratchBytes,
} from './winograd';
export {
  binary,
  binaryOuter,
  clamp,
  leakyRelu,
  leakyReluGrad,
  permute4,
  permuteOuter,
  relu,
  reluGrad,
  sumMiddle,
  maxMiddle,
  varMiddle,
  sumOuterInner,
} from './elementwise';
export { maxPool2d, maxPool2dGrad, windowAvg } from './pool';
export { adamUpdate, sgdUpdate } from './optim';
export {
  groupColSums,
  rowNormBackward,
  rowNormAffineChunks,
  rowNormDxChunks,
  rowNormForward,
  rowNormGradChunks,
} from './layernorm';
export { cellBackward, cellForward } from './recurrent';
export { dropoutMask } from './random';
export { colAffine, colBlockRows, colMerge, colSums } from './columns';
export { geluGrad, powScalar, unaryMath } from './transcendental';
export { softmaxGradRows, softmaxGradStrided, softmaxRows, softmaxStrided } from './softmax';
