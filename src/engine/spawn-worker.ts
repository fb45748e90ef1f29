/** Moved to util/spawn-worker.ts; kept while tune/ moves over. */
export * from '../util/spawn-worker.js';
