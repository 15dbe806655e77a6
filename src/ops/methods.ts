// Chainable methods on Tensor (x.add(y).relu().sum()), each a thin call to the op.
import { type BackwardOptions, backward } from '../autograd/engine.js';
import { type GradHook, type RemovableHandle, registerGradHook } from '../autograd/hooks.js';
import type { DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import * as ops from './index.js';
import type { TensorLike } from './util.js';

type Dims = number | readonly number[];

declare module '../tensor/tensor.js' {
  interface Tensor {
    backward(grad?: Tensor, opts?: BackwardOptions): void;
    /** Calls fn with this tensor's gradient during backward(); fn may return a replacement. */
    registerHook(fn: GradHook): RemovableHandle;
    detach(): Tensor;
    add(b: TensorLike): Tensor;
    sub(b: TensorLike): Tensor;
    mul(b: TensorLike): Tensor;
    div(b: TensorLike): Tensor;
    pow(b: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    sum(dims?: Dims, keepDim?: boolean): Tensor;
    mean(dims?: Dims, keepDim?: boolean): Tensor;
    max(dims?: Dims, keepDim?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    permute(perm: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    matmul(b: Tensor): Tensor;
    clone(): Tensor;
    to(dtype: DType): Tensor;
  }
}

const P = Tensor.prototype;
P.backward = function (grad?: Tensor, opts?: BackwardOptions) {
  backward(this, grad, opts);
};
P.registerHook = function (fn: GradHook) {
  return registerGradHook(this, fn);
};
/** A tensor sharing this one's storage, cut from the graph. */
P.detach = function () {
  return new Tensor(this.shape, this.dtype, this.sharedStorage);
};
P.add = function (b) {
  return ops.add(this, b);
};
P.sub = function (b) {
  return ops.sub(this, b);
};
P.mul = function (b) {
  return ops.mul(this, b);
};
P.div = function (b) {
  return ops.div(this, b);
};
P.pow = function (b) {
  return ops.pow(this, b);
};
P.neg = function () {
  return ops.neg(this);
};
P.exp = function () {
  return ops.exp(this);
};
P.log = function () {
  return ops.log(this);
};
P.sqrt = function () {
  return ops.sqrt(this);
};
P.relu = function () {
  return ops.relu(this);
};
P.sigmoid = function () {
  return ops.sigmoid(this);
};
P.tanh = function () {
  return ops.tanh(this);
};
P.sum = function (dims, keepDim) {
  return ops.sum(this, dims, keepDim);
};
P.mean = function (dims, keepDim) {
  return ops.mean(this, dims, keepDim);
};
P.max = function (dims, keepDim) {
  return ops.max(this, dims, keepDim);
};
P.reshape = function (shape) {
  return ops.reshape(this, shape);
};
P.flatten = function (a, b) {
  return ops.flatten(this, a, b);
};
P.permute = function (perm) {
  return ops.permute(this, perm);
};
P.transpose = function (a, b) {
  return ops.transpose(this, a, b);
};
P.matmul = function (b) {
  return ops.matmul(this, b);
};
P.clone = function () {
  return ops.clone(this);
};
P.to = function (dtype) {
  return dtype === this.dtype ? this : ops.cast(this, dtype);
};
