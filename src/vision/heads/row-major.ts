/**
 * The scan YOLOv5 and YOLOX share: an output [B, N, 5+C] with one row per candidate,
 * [box (4), objectness, C class scores]. score = objectness · best class score, as both families
 * compute it; rows whose objectness is already below the threshold are skipped before the class
 * loop (score <= objectness since class scores are probabilities).
 */
import type { TensorMeta } from '../types.js';
import { classFilter } from './candidates.js';
import { fixedDim } from './head.js';

/** Calls `take(row, score, class)` for each row whose best score reaches the threshold. */
export function scanRows(
  data: Float32Array,
  base: number,
  n: number,
  width: number,
  threshold: number,
  classes: readonly number[],
  take: (row: number, score: number, cls: number) => void,
): void {
  const nc = width - 5;
  const keep = classFilter(classes);
  for (let i = 0; i < n; i++) {
    const r = base + i * width;
    const obj = data[r + 4]!;
    if (obj < threshold) continue;
    let bestC = -1;
    let bestS = -Infinity;
    for (let c = 0; c < nc; c++) {
      const s = data[r + 5 + c]!;
      if (s > bestS && (keep === undefined || keep[c] === 1)) {
        bestS = s;
        bestC = c;
      }
    }
    if (bestC < 0) continue;
    const score = nc === 0 ? obj : obj * bestS;
    if (score >= threshold) take(i, score, nc === 0 ? 0 : bestC);
  }
}

/** Declared [B, N, 5+C] with N > 5+C: the row-major detector layout. */
export function rowMajorShape(outputs: readonly TensorMeta[]): { n: number | undefined; width: number } | undefined {
  if (outputs.length !== 1) return undefined;
  const s = outputs[0]!.shape;
  if (s.length !== 3) return undefined;
  const width = fixedDim(s, 2);
  const n = fixedDim(s, 1);
  if (width === undefined || width < 6) return undefined;
  if (n !== undefined && n <= width) return undefined;
  return { n, width };
}

/** Grid cells of a detector with these strides on a width × height input (YOLOX: 8, 16, 32). */
export function gridCells(width: number, height: number, strides: readonly number[]): number {
  let n = 0;
  for (const s of strides) n += Math.floor(height / s) * Math.floor(width / s);
  return n;
}
