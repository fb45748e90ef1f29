/**
 * Agreement of a candidate model's outputs with a reference model's, as pure functions over
 * numbers: top-1 agreement for classifiers, read-text agreement for recognisers, element-wise
 * error for raw tensors.
 */
import { fromFloat16Bits } from '../runtime/float16.js';
import type { OutputTensor } from '../vision/types.js';

/** Fraction of items whose top class is the same; an empty set agrees (1). */
export function top1Agreement(candidate: readonly number[], reference: readonly number[]): number {
  if (candidate.length !== reference.length)
    throw new RangeError(
      `top1Agreement: ${candidate.length} candidate classes for ${reference.length} reference classes`,
    );
  if (reference.length === 0) return 1;
  let same = 0;
  for (let i = 0; i < reference.length; i++) if (candidate[i] === reference[i]) same++;
  return same / reference.length;
}

// A recogniser without a dictionary reads "[index]" per character: one token, not several characters.
const TOKEN = /\[\d+\]|[\s\S]/gu;

/**
 * 1 − edit distance / the longer length, in characters ("[index]" tokens count as one): PaddleOCR's
 * norm_edit_dis for recognisers. Two empty strings agree (1).
 */
export function textAgreement(candidate: string, reference: string): number {
  const a = candidate.match(TOKEN) ?? [];
  const b = reference.match(TOKEN) ?? [];
  if (a.length === 0 && b.length === 0) return 1;
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return 1 - row[b.length]! / Math.max(a.length, b.length);
}

export interface TensorErrorStats {
  maxAbsError: number;
  meanAbsError: number;
  /** Mean |reference|, the scale `score` is relative to. */
  meanAbsReference: number;
  elements: number;
  /**
   * 1 − meanAbsError / meanAbsReference, clamped to [0, 1]: the error as a fraction of the
   * reference's typical magnitude, so the same score means the same thing for logits and for
   * probabilities. A reference that is all zeros gives 1 when the candidate is too, else 0.
   */
  score: number;
}

/**
 * Sums errors over any number of tensor pairs. Equal values (the same infinity, NaN against NaN)
 * differ by 0; a non-finite value against anything else differs by Infinity, which makes the mean
 * Infinity and the score 0: a model that starts producing NaN has lost its accuracy.
 */
export class TensorErrorAccumulator {
  #max = 0;
  #sumAbs = 0;
  #sumRef = 0;
  #n = 0;

  add(reference: ArrayLike<number>, candidate: ArrayLike<number>): void {
    if (reference.length !== candidate.length)
      throw new RangeError(
        `TensorErrorAccumulator: ${candidate.length} candidate values for ${reference.length} reference values`,
      );
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i]!;
      const c = candidate[i]!;
      const same = r === c || (Number.isNaN(r) && Number.isNaN(c));
      const d = same ? 0 : Number.isFinite(r) && Number.isFinite(c) ? Math.abs(r - c) : Infinity;
      if (d > this.#max) this.#max = d;
      this.#sumAbs += d;
      if (Number.isFinite(r)) this.#sumRef += Math.abs(r);
    }
    this.#n += reference.length;
  }

  result(): TensorErrorStats {
    const n = this.#n;
    const meanAbsError = n === 0 ? 0 : this.#sumAbs / n;
    const meanAbsReference = n === 0 ? 0 : this.#sumRef / n;
    return {
      maxAbsError: this.#max,
      meanAbsError,
      meanAbsReference,
      elements: n,
      score: tensorErrorScore(meanAbsError, meanAbsReference),
    };
  }
}

export function tensorErrorScore(meanAbsError: number, meanAbsReference: number): number {
  if (meanAbsReference === 0) return meanAbsError === 0 ? 1 : 0;
  const s = 1 - meanAbsError / meanAbsReference;
  return s > 1 ? 1 : s > 0 ? s : 0;
}

/** A tensor's values as numbers (float16 bits decoded, int64 converted), or undefined for strings. */
export function numericValues(t: OutputTensor): ArrayLike<number> | undefined {
  const data = t.data;
  if (t.type === 'float16' && data instanceof Uint16Array) return Float64Array.from(data, fromFloat16Bits);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return data as unknown as ArrayLike<number>;
  return undefined;
}
