/**
 * Image classifiers: one output [B, C] (or [B, C, 1, 1]). Softmax is applied unless the row already
 * is a distribution (all values in 0..1, summing to 1 within 1e-3: Ultralytics classify exports and
 * models ending in Softmax); then the top k with labels from `names` metadata or a labels file.
 * Preprocessing defaults to torchvision's ImageNet recipe (shorter side 256, centre crop 224,
 * ImageNet mean/std); Ultralytics classify models get theirs from metadata (registry.ts).
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import { labelOf } from '../labels.js';
import type { ClassScore, HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import {
  batchData,
  firstOutput,
  fixedDim,
  headMismatch,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

/** Probabilities for one row: the values themselves when they already form a distribution. */
export function toProbabilities(row: Float32Array): Float32Array {
  let sum = 0;
  let inRange = true;
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (v < 0 || v > 1) inRange = false;
    sum += v;
    if (v > max) max = v;
  }
  if (inRange && Math.abs(sum - 1) < 1e-3) return row;
  const out = new Float32Array(row.length);
  let total = 0;
  for (let i = 0; i < row.length; i++) {
    const e = Math.exp(row[i]! - max);
    out[i] = e;
    total += e;
  }
  for (let i = 0; i < row.length; i++) out[i] = out[i]! / total;
  return out;
}

/** The k best entries, best first (ties: lower index first). */
export function topK(probs: Float32Array, k: number, labels: readonly string[] | undefined): ClassScore[] {
  const best: ClassScore[] = [];
  for (let i = 0; i < probs.length; i++) {
    const score = probs[i]!;
    if (best.length === k && score <= best[k - 1]!.score) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.score < score) at--;
    best.splice(at, 0, { index: i, label: labelOf(labels, i), score });
    if (best.length > k) best.pop();
  }
  return best;
}

function classDims(shape: ReadonlyArray<number | string>): boolean {
  if (shape.length === 2) return (fixedDim(shape, 1) ?? 0) > 1;
  if (shape.length === 4) return (fixedDim(shape, 1) ?? 0) > 1 && fixedDim(shape, 2) === 1 && fixedDim(shape, 3) === 1;
  return false;
}

export const classifyHead: VisionHead = {
  name: 'classify',
  task: 'classify',
  expects: 'one output [B, C] or [B, C, 1, 1] of class scores or logits',
  defaults: resolvePreprocessConfig({
    width: 224,
    height: 224,
    resize: 'crop',
    shortestEdge: 256,
    channelOrder: 'rgb',
    ...SCALING.imagenet,
  }),
  decodeDefaults: { k: 5, scoreThreshold: 0 },
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata): boolean {
    const s = outputs[0]?.shape;
    if (s === undefined) return false;
    if (metadata['task'] !== undefined && metadata['task'] !== 'classify') return false;
    return classDims(s);
  },
  decode(outputs: ModelOutputs, _transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('classify', outputs);
    const dims = t.dims;
    const ok = (dims.length === 2 || (dims.length === 4 && dims[2] === 1 && dims[3] === 1)) && (dims[1] ?? 0) > 1;
    if (!ok) headMismatch('classify', `output '${name}' is [${dims.join(',')}], expected [B, C] or [B, C, 1, 1]`);
    const c = dims[1]!;
    const { data, base } = batchData('classify', name, t, options.batchIndex);
    const probs = toProbabilities(data.subarray(base, base + c));
    const classes = topK(probs, Math.max(1, options.k), options.labels).filter(
      (x) => x.score >= options.scoreThreshold,
    );
    return { task: 'classify', classes };
  },
};
