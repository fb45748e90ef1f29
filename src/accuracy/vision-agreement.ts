/**
 * Agreement of a candidate's vision results with a reference's beyond boxes, as pure functions:
 * Object Keypoint Similarity for keypoints (COCO's OKS), IoU for instance masks, mean IoU over
 * classes for semantic maps, and a pixel error for output images. Each is 1 for identical results.
 */
import type { ClassMap, Detection, ImageOutput, Keypoint, Mask } from '../vision/types.js';

/** COCO's per-keypoint sigmas for the 17 person keypoints (cocoeval.py); other sets use their mean. */
export const COCO_SIGMAS: readonly number[] = [
  0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
];
const MEAN_SIGMA = COCO_SIGMAS.reduce((a, b) => a + b, 0) / COCO_SIGMAS.length;

/**
 * OKS of candidate keypoints against reference ones on an object of `area` pixels (the
 * reference box's): mean over the reference's visible keypoints (score ≥ 0.5, or no score) of
 * exp(−d² / (2 · area · (2σ)²)). No visible reference keypoint: 1.
 */
export function oks(candidate: readonly Keypoint[], reference: readonly Keypoint[], area: number): number {
  const sigmas = reference.length === COCO_SIGMAS.length ? COCO_SIGMAS : undefined;
  let sum = 0;
  let n = 0;
  for (let k = 0; k < reference.length; k++) {
    const r = reference[k]!;
    if (r.score !== undefined && r.score < 0.5) continue;
    n++;
    const c = candidate[k];
    if (c === undefined) continue;
    const kappa = 2 * (sigmas?.[k] ?? MEAN_SIGMA);
    const d2 = (c.x - r.x) ** 2 + (c.y - r.y) ** 2;
    sum += Math.exp(-d2 / (2 * Math.max(area, 1) * kappa * kappa));
  }
  return n === 0 ? 1 : sum / n;
}

/** IoU of two masks over the same image; two empty masks agree (1). */
export function maskIou(a: Mask, b: Mask): number {
  const areaOf = (m: Mask): number => m.data.reduce((s, v) => s + v, 0);
  const x0 = Math.max(a.left, b.left);
  const y0 = Math.max(a.top, b.top);
  const x1 = Math.min(a.left + a.width, b.left + b.width);
  const y1 = Math.min(a.top + a.height, b.top + b.height);
  let inter = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++)
      inter += a.data[(y - a.top) * a.width + (x - a.left)]! & b.data[(y - b.top) * b.width + (x - b.left)]!;
  }
  const union = areaOf(a) + areaOf(b) - inter;
  return union === 0 ? 1 : inter / union;
}

function boxIou(a: Detection['box'], b: Detection['box']): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const i = w * h;
  return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i);
}

/**
 * Mean over the reference's detections of `similarity` with the candidate detection of the same
 * class that overlaps it most (box IoU ≥ 0.5, each candidate used once, reference best-scored
 * first); an unmatched reference detection counts 0. No reference detections: 1 when the
 * candidate has none either, else 0.
 */
export function matchedAgreement(
  candidate: readonly Detection[],
  reference: readonly Detection[],
  similarity: (c: Detection, r: Detection) => number,
): number {
  if (reference.length === 0) return candidate.length === 0 ? 1 : 0;
  const used = new Uint8Array(candidate.length);
  let sum = 0;
  for (const r of [...reference].sort((a, b) => b.score - a.score)) {
    let best = -1;
    let bestIou = 0.5;
    candidate.forEach((c, i) => {
      if (used[i] === 1 || c.classId !== r.classId) return;
      const iou = boxIou(c.box, r.box);
      if (iou >= bestIou) {
        bestIou = iou;
        best = i;
      }
    });
    if (best < 0) continue;
    used[best] = 1;
    sum += similarity(candidate[best]!, r);
  }
  return sum / reference.length;
}

/** Mean IoU over the classes present in either map (pixels compared one to one). */
export function classMapIou(candidate: ClassMap, reference: ClassMap): number {
  if (candidate.width !== reference.width || candidate.height !== reference.height) return 0;
  const inter = new Map<number, number>();
  const union = new Map<number, number>();
  for (let i = 0; i < reference.data.length; i++) {
    const a = candidate.data[i]!;
    const b = reference.data[i]!;
    if (a === b) {
      inter.set(a, (inter.get(a) ?? 0) + 1);
      union.set(a, (union.get(a) ?? 0) + 1);
    } else {
      union.set(a, (union.get(a) ?? 0) + 1);
      union.set(b, (union.get(b) ?? 0) + 1);
    }
  }
  let sum = 0;
  for (const [cls, u] of union) sum += (inter.get(cls) ?? 0) / u;
  return union.size === 0 ? 1 : sum / union.size;
}

/** 1 − mean absolute pixel difference / 255 of two output images (0 when their sizes differ). */
export function imageAgreement(candidate: ImageOutput, reference: ImageOutput): number {
  if (
    candidate.width !== reference.width ||
    candidate.height !== reference.height ||
    candidate.channels !== reference.channels
  )
    return 0;
  let sum = 0;
  for (let i = 0; i < reference.data.length; i++) sum += Math.abs(candidate.data[i]! - reference.data[i]!);
  return 1 - sum / (255 * Math.max(1, reference.data.length));
}
