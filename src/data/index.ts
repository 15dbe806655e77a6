export * from './fashion-mnist.js';
export * from './idx.js';
export * from './loader.js';
