/**
 * Seeded randomness for the stats tests, so every simulation is reproducible (no Math.random).
 * mulberry32 (T. Ettinger): a 32-bit-state generator that is tiny and statistically adequate for
 * Monte-Carlo checks of a few hundred thousand draws.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
