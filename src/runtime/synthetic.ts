/**
 * Synthetic tensor data for benchmarks: zeros, or seeded random values so that a run can be
 * repeated exactly. Value ranges are chosen so typical models accept them: floats in [0, 1)
 * (an image already scaled by 1/255), integers in [0, 100) (valid token or class indices for small
 * vocabularies), uint8 over its full range (raw pixels), bools half true.
 */
import { DTYPES, elementCount, type TensorData, type TensorDType } from './dtypes.js';
import { toFloat16Bits } from './float16.js';

export type Rng = () => number;

/** mulberry32: tiny, fast, and good enough for benchmark data (not for cryptography). */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type SyntheticFill = 'zeros' | 'random';

const INT_RANGE = 100;

export function syntheticData(dtype: TensorDType, dims: readonly number[], fill: SyntheticFill, rng: Rng): TensorData {
  const n = elementCount(dims);
  const data = DTYPES[dtype].create(n);
  if (fill === 'zeros') return data;
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const a = data as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) a[i] = rng();
      return a;
    }
    case 'float16': {
      const a = data as Uint16Array;
      for (let i = 0; i < n; i++) a[i] = toFloat16Bits(rng());
      return a;
    }
    case 'uint8': {
      const a = data as Uint8Array;
      for (let i = 0; i < n; i++) a[i] = Math.floor(rng() * 256);
      return a;
    }
    case 'bool': {
      const a = data as Uint8Array;
      for (let i = 0; i < n; i++) a[i] = rng() < 0.5 ? 1 : 0;
      return a;
    }
    case 'int64':
    case 'uint64': {
      const a = data as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) a[i] = BigInt(Math.floor(rng() * INT_RANGE));
      return a;
    }
    case 'string': {
      const a = data as string[];
      for (let i = 0; i < n; i++) a[i] = randomWord(rng);
      return a;
    }
    default: {
      const a = data as Int8Array | Int16Array | Int32Array | Uint16Array | Uint32Array;
      for (let i = 0; i < n; i++) a[i] = Math.floor(rng() * INT_RANGE);
      return a;
    }
  }
}

function randomWord(rng: Rng): string {
  const len = 3 + Math.floor(rng() * 6);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(97 + Math.floor(rng() * 26));
  return s;
}
