// Registers the JavaScript reference kernels (the 'js' backend).
import './batchnorm.js';
import './elementwise.js';
import './layout.js';
import './optim.js';
import './pool.js';
import './reduce.js';
import './softmax.js';
import './rownorm.js';
import { registerConvKernels } from './conv.js';
import { gemm } from './gemm.js';
import { registerMatMul } from './matmul.js';

registerConvKernels('js', gemm);
registerMatMul('js', gemm);
