export * from './batchnorm.js';
export * from './conventions.js';
export * from './convert.js';
export * as init from './init.js';
export * from './layers.js';
export * from './module.js';
export * from './norms.js';
export * from './residual.js';
export * from './simple.js';
