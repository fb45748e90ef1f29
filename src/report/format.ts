/** Moved to util/format.ts (below every folder that formats text); kept while report/ files move over. */
export * from '../util/format.js';
