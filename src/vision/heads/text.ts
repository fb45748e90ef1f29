/**
 * DB text detectors (PP-OCR det, ch_PP-OCRv4_det_infer.onnx): one output [B, 1, H, W], the
 * probability that each pixel is text. As PaddleOCR's DBPostProcess: threshold the map (0.3),
 * take connected regions, score each by its mean probability (drop below 0.6), drop regions whose
 * shorter side is under 3 pixels, grow each box by area · 1.5 / perimeter (unclip), map it back to
 * the original image. Axis-aligned boxes by default; `rotated: true` gives minimum-area rectangles.
 * Results are in reading order (top to bottom, then left to right).
 * Preprocessing is PP-OCR's DetResizeForTest: each side scaled so the longer one is at most 960,
 * rounded to a multiple of 32; RGB, ImageNet mean/std over /255.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import { toOriginalPoint, type ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, TensorMeta, TextBox } from '../types.js';
import {
  batchData,
  firstOutput,
  fixedDim,
  headMismatch,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';
import {
  convexHull,
  findRegions,
  minAreaRect,
  normaliseRect,
  rectCorners,
  regionOutline,
  unclipDistance,
  type Point,
} from './text-regions.js';

/** At most this many regions are considered (PaddleOCR max_candidates). */
const MAX_CANDIDATES = 1000;

function clip(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

/**
 * PaddleOCR sorted_boxes: by top edge then left edge, then boxes within 10 px of height swapped into
 * left-to-right order.
 */
export function readingOrder(texts: TextBox[]): TextBox[] {
  texts.sort((a, b) => a.box[1] - b.box[1] || a.box[0] - b.box[0]);
  for (let i = 0; i < texts.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const a = texts[j]!;
      const b = texts[j + 1]!;
      if (Math.abs(b.box[1] - a.box[1]) < 10 && b.box[0] < a.box[0]) {
        texts[j] = b;
        texts[j + 1] = a;
      } else {
        break;
      }
    }
  }
  return texts;
}

export const textHead: VisionHead = {
  name: 'text',
  task: 'text',
  expects: 'one output [B, 1, H, W]: a text probability map at the input resolution (DB / PP-OCR det)',
  defaults: resolvePreprocessConfig({
    width: null,
    height: null,
    resize: 'stretch',
    multipleOf: 32,
    maxSide: 960,
    scaleUp: false,
    channelOrder: 'rgb',
    ...SCALING.imagenet,
  }),
  // PaddleOCR det defaults: det_db_box_thresh 0.6 (the box score threshold), at most 1000 boxes.
  decodeDefaults: {
    scoreThreshold: 0.6,
    maxDetections: MAX_CANDIDATES,
    binaryThreshold: 0.3,
    unclipRatio: 1.5,
    minSize: 3,
  },
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata): boolean {
    if (metadata['task'] !== undefined) return false;
    const s = outputs[0]?.shape;
    return outputs.length === 1 && s !== undefined && s.length === 4 && fixedDim(s, 1) === 1 && fixedDim(s, 2) !== 1;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('text', outputs);
    const dims = t.dims;
    if (dims.length !== 4 || dims[1] !== 1)
      headMismatch('text', `output '${name}' is [${dims.join(',')}], expected [B, 1, H, W]`);
    const mh = dims[2]!;
    const mw = dims[3]!;
    const { data: map, base } = batchData('text', name, t, options.batchIndex);
    // Map pixels → tensor pixels (1 when the map is at the input resolution, as PP-OCR's is).
    const sx = transform.input.width / mw;
    const sy = transform.input.height / mh;
    const { width: ow, height: oh } = transform.original;
    const labelled = findRegions(
      map,
      base,
      mw,
      mh,
      options.binaryThreshold,
      Math.min(MAX_CANDIDATES, options.maxDetections),
    );
    const texts: TextBox[] = [];
    for (const r of labelled.regions) {
      if (r.score < options.scoreThreshold) continue;
      let corners: Point[];
      let angle: number | undefined;
      if (options.rotated) {
        const rect = normaliseRect(minAreaRect(convexHull(regionOutline(labelled, r))));
        if (Math.min(rect.width, rect.height) < options.minSize) continue;
        const d = unclipDistance(rect.width, rect.height, options.unclipRatio);
        const grown = { ...rect, width: rect.width + 2 * d, height: rect.height + 2 * d };
        if (Math.min(grown.width, grown.height) < options.minSize + 2) continue;
        corners = rectCorners(grown);
        angle = (rect.angle * 180) / Math.PI;
      } else {
        const w = r.maxX - r.minX;
        const h = r.maxY - r.minY;
        if (Math.min(w, h) < options.minSize) continue;
        const d = unclipDistance(w, h, options.unclipRatio);
        if (Math.min(w, h) + 2 * d < options.minSize + 2) continue;
        corners = [
          [r.minX - d, r.minY - d],
          [r.maxX + d, r.minY - d],
          [r.maxX + d, r.maxY + d],
          [r.minX - d, r.maxY + d],
        ];
      }
      const polygon = corners.map(([x, y]): [number, number] => {
        const [px, py] = toOriginalPoint(transform, x * sx, y * sy);
        return [clip(px, ow), clip(py, oh)];
      });
      const xs = polygon.map((p) => p[0]);
      const ys = polygon.map((p) => p[1]);
      const box: TextBox['box'] = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
      if (box[2] <= box[0] || box[3] <= box[1]) continue;
      texts.push(options.rotated ? { score: r.score, box, polygon, angle: angle! } : { score: r.score, box });
    }
    return { task: 'text', texts: readingOrder(texts) };
  },
};
