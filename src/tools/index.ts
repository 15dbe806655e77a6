export * from './batchnorm-stats.js';
export * from './freeze.js';
