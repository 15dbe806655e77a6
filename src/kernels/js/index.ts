// Registers the JavaScript reference kernels (the 'js' backend). Kernel families written
// against primitives (GEMM, im2col, the norm passes) get the JS primitives here; the wasm
// backend registers the same families with its SIMD primitives.
import './elementwise.js';
import './layout.js';
import './optim.js';
import './reduce.js';
import './softmax.js';
import { registerBatchNormKernels } from './batchnorm.js';
import { withColumnPasses } from './stats-columns.js';
import { jsConvPrimitives, registerConvKernels } from './conv.js';
import { registerGroupNormKernels } from './groupnorm.js';
import {
  jsColumnPrimitives,
  registerLayerNormKernels,
  registerRmsNormKernels,
} from './layernorm.js';
import { registerMatMul } from './matmul.js';
import { jsCellPrimitives, registerRecurrentKernels } from './recurrent.js';
import { jsWindowPrimitives, registerAvgPoolKernels } from './pool.js';
import { registerRowNormKernels } from './rownorm.js';
import { jsNormPrimitives } from './stats.js';

registerConvKernels('js', jsConvPrimitives);
registerMatMul('js', jsConvPrimitives.gemm);
registerBatchNormKernels('js', withColumnPasses(jsNormPrimitives));
registerRowNormKernels('js', jsNormPrimitives);
registerGroupNormKernels('js', jsNormPrimitives);
registerLayerNormKernels('js', jsColumnPrimitives);
registerRmsNormKernels('js', jsColumnPrimitives);
registerAvgPoolKernels('js', jsWindowPrimitives);
registerRecurrentKernels('js', jsConvPrimitives.gemm, jsCellPrimitives);
