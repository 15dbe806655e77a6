// The playground's runtime-neutral part (its page and worker are in playground/).
export * from './config.js';
export * from './models.js';
export * from './probes.js';
export * from './session.js';
export * from './protocol.js';
