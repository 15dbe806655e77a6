export * from './batchnorm-stats.js';
export * from './freeze.js';
export * from './lipschitz.js';
export * from './doctor.js';
export * from './fold.js';
