/**
 * Mean average precision at one IoU threshold, as COCO computes it (pycocotools COCOeval) for one
 * IoU and the 'all' area range:
 *
 * - per class, every prediction of every image is ranked by score (ties keep input order, as
 *   COCOeval's stable mergesort); each one, in that order, matches the unmatched ground-truth box
 *   of its class in its image with the highest IoU, provided IoU ≥ the threshold (COCOeval skips
 *   `iou < t`, so exactly 0.5 matches at 0.5); otherwise it is a false positive. A second
 *   prediction on an already matched box is a false positive.
 * - precision is made monotone (each point takes the best precision at any higher recall), then
 *   sampled at the 101 recall points 0, 0.01, ..., 1; a recall point the curve never reaches
 *   counts 0. AP is the mean of the 101 samples.
 * - mAP is the mean AP over the classes that have ground truth. A class with predictions but no
 *   ground truth anywhere is skipped (COCOeval gives it -1 and leaves it out), so its false
 *   positives cost nothing; a class with ground truth but no predictions scores 0.
 * - No ground truth at all (no class to average over): 1 when there are no predictions either,
 *   else 0. COCO leaves this undefined; a detector that agrees with an empty reference agrees.
 *
 * Left out on purpose: COCO's maxDets cap (100 per image; rtinfer's heads cap their own output),
 * area ranges and crowd regions (plain boxes have none).
 */
import { RtinferError } from '../errors.js';
import type { Box } from '../vision/types.js';

export interface TruthBox {
  box: Readonly<Box>;
  label: string;
}

export interface PredictedBox extends TruthBox {
  score: number;
}

export interface ClassAp {
  label: string;
  ap: number;
  /** Ground-truth boxes of this class over all images. */
  truths: number;
  predictions: number;
  truePositives: number;
}

export interface MapResult {
  /** Mean AP over classes with ground truth (see the file comment for the empty cases). */
  map: number;
  /** One entry per class with ground truth, sorted by label. */
  classes: ClassAp[];
}

export interface MapOptions {
  /** Minimum IoU for a match (COCO's AP50: 0.5). */
  iou: number;
}

/** The 101 recall points of COCO's interpolated AP. */
const RECALL_POINTS = 101;

export function boxIou(a: Readonly<Box>, b: Readonly<Box>): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** AP from predictions already ranked best first, each marked true or false positive. */
export function averagePrecision(ranked: readonly boolean[], truths: number): number {
  if (truths === 0) return ranked.length === 0 ? 1 : 0;
  const n = ranked.length;
  const recall = new Float64Array(n);
  const precision = new Float64Array(n);
  let tp = 0;
  for (let i = 0; i < n; i++) {
    if (ranked[i]) tp++;
    recall[i] = tp / truths;
    precision[i] = tp / (i + 1);
  }
  for (let i = n - 2; i >= 0; i--) if (precision[i]! < precision[i + 1]!) precision[i] = precision[i + 1]!;
  let sum = 0;
  let at = 0;
  for (let r = 0; r < RECALL_POINTS; r++) {
    // The same recall points as numpy.linspace(0, 1, 101), which COCOeval searches with side='left'.
    const point = r / (RECALL_POINTS - 1);
    while (at < n && recall[at]! < point) at++;
    if (at === n) break;
    sum += precision[at]!;
  }
  return sum / RECALL_POINTS;
}

/**
 * mAP at `options.iou` of `predictions[i]` against `groundTruth[i]`, image by image (both arrays
 * have one entry per image, in the same order).
 */
export function meanAveragePrecision(
  predictions: ReadonlyArray<readonly PredictedBox[]>,
  groundTruth: ReadonlyArray<readonly TruthBox[]>,
  options: MapOptions,
): MapResult {
  if (predictions.length !== groundTruth.length) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `meanAveragePrecision needs one prediction list per image: ${predictions.length} prediction lists ` +
        `for ${groundTruth.length} images`,
    );
  }
  if (!(options.iou > 0 && options.iou <= 1))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid iou ${options.iou} (expected a number in (0, 1])`);

  const labels = new Set<string>();
  for (const image of groundTruth) for (const t of image) labels.add(t.label);
  if (labels.size === 0) {
    const any = predictions.some((p) => p.length > 0);
    return { map: any ? 0 : 1, classes: [] };
  }

  const classes: ClassAp[] = [];
  for (const label of [...labels].sort()) {
    const truthsByImage = groundTruth.map((image) => image.filter((t) => t.label === label));
    const matched = truthsByImage.map((t) => new Uint8Array(t.length));
    const ranked: Array<{ image: number; p: PredictedBox; order: number }> = [];
    predictions.forEach((image, i) => {
      for (const p of image) if (p.label === label) ranked.push({ image: i, p, order: ranked.length });
    });
    ranked.sort((a, b) => b.p.score - a.p.score || a.order - b.order);
    const hits: boolean[] = [];
    for (const { image, p } of ranked) {
      const truths = truthsByImage[image]!;
      const used = matched[image]!;
      let best = -1;
      let bestIou = options.iou;
      for (let g = 0; g < truths.length; g++) {
        if (used[g]) continue;
        const iou = boxIou(p.box, truths[g]!.box);
        // `>=` for the first candidate (COCO: a match needs iou ≥ t), `>` after it: the highest IoU wins.
        if (best === -1 ? iou >= bestIou : iou > bestIou) {
          best = g;
          bestIou = iou;
        }
      }
      if (best >= 0) used[best] = 1;
      hits.push(best >= 0);
    }
    const truths = truthsByImage.reduce((n, t) => n + t.length, 0);
    classes.push({
      label,
      ap: averagePrecision(hits, truths),
      truths,
      predictions: ranked.length,
      truePositives: hits.filter(Boolean).length,
    });
  }
  return { map: classes.reduce((s, c) => s + c.ap, 0) / classes.length, classes };
}
