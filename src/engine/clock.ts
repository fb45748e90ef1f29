/** Moved to util/clock.ts; kept while tune/ moves over. */
export * from '../util/clock.js';
