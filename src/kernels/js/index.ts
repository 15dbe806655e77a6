// Registers the JavaScript reference kernels (the 'js' backend).
import './batchnorm.js';
import './conv.js';
import './elementwise.js';
import './layout.js';
import './matmul.js';
import './optim.js';
import './pool.js';
import './reduce.js';
import './softmax.js';
import './rownorm.js';
