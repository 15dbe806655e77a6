// Where the library runs: Node loads the kernels and starts threads synchronously, a browser
// asynchronously (kernels/wasm/loader.ts, threads.ts, thread-worker.ts).
export const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
