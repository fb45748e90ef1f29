/**
 * Seeded randomness for the stats tests, so every simulation is reproducible (no Math.random).
 * The generator is the toolkit's own mulberry32, adequate for Monte-Carlo checks of a few hundred
 * thousand draws.
 */
export { createRng as mulberry32 } from '../../src/runtime/synthetic.js';

/** Standard normal draws by the Box–Muller transform over `uniform`. */
export function normalFrom(uniform: () => number): () => number {
  return () => {
    const u = 1 - uniform(); // (0, 1], so the log is finite
    const v = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T>(xs: readonly T[], uniform: () => number): T[] {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    const tmp = out[i] as T;
    out[i] = out[j] as T;
    out[j] = tmp;
  }
  return out;
}
