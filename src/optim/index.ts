export * from './adam.js';
export * from './groups.js';
export * from './optimizer.js';
export * from './scheduler.js';
export * from './sgd.js';
