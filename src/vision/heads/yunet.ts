/**
 * YuNet (OpenCV model zoo, face_detection_yunet_2023mar): anchor-free, four outputs per stride
 * 8, 16, 32, named by role and stride: cls_S [B, N, 1], obj_S [B, N, 1], bbox_S [B, N, 4],
 * kps_S [B, N, 10], N = (H/S)·(W/S), row-major cells. Decoding as OpenCV's FaceDetectorYN does:
 *   score = sqrt(clamp(cls, 0, 1) · clamp(obj, 0, 1))  (both already sigmoided in the graph);
 *   cx = (col + b0) · S, cy = (row + b1) · S, w = exp(b2) · S, h = exp(b3) · S;
 *   landmark k = ((col + k2k) · S, (row + k2k+1) · S): right eye, left eye, nose tip, mouth corners.
 * Preprocessing: BGR, raw 0..255 (blobFromImage without scaling), top-left letterbox on black so
 * faces keep their shape in the fixed 640×640 input. Thresholds: OpenCV's 0.9 score, 0.3 NMS.
 */
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { TensorMeta } from '../types.js';
import { Candidates, finishDetections } from './candidates.js';
import { at, flatView, type LevelView } from './grid.js';
import { headMismatch, outputEntries, type ModelMetadata, type VisionHead } from './head.js';

const candidates = new Candidates();
const NAME = /^(cls|obj|bbox|kps)_(\d+)$/;
const ROLES = ['cls', 'obj', 'bbox', 'kps'] as const;

/** Strides with all four roles, from the output names; undefined when the names are not YuNet's. */
export function yunetStrides(names: readonly string[]): number[] | undefined {
  const byStride = new Map<number, Set<string>>();
  for (const n of names) {
    const m = NAME.exec(n);
    if (m === null) return undefined;
    const s = Number(m[2]);
    if (!byStride.has(s)) byStride.set(s, new Set());
    byStride.get(s)!.add(m[1]!);
  }
  const strides = [...byStride.keys()].sort((a, b) => a - b);
  if (strides.length === 0 || !strides.every((s) => ROLES.every((r) => byStride.get(s)!.has(r)))) return undefined;
  return strides;
}

export const yunetHead: VisionHead = {
  name: 'yunet',
  task: 'detect',
  expects: 'YuNet outputs cls_S, obj_S [B,N,1], bbox_S [B,N,4], kps_S [B,N,10] for each stride S',
  defaults: resolvePreprocessConfig({
    width: 640,
    height: 640,
    resize: 'letterbox',
    anchor: 'top-left',
    padValue: 0,
    channelOrder: 'bgr',
    ...SCALING.raw,
  }),
  decodeDefaults: { scoreThreshold: 0.9, iouThreshold: 0.3, topK: 5000, maxDetections: 750 },
  matches(outputs: readonly TensorMeta[], _metadata: ModelMetadata): boolean {
    return yunetStrides(outputs.map((o) => o.name)) !== undefined;
  },
  decode(outputs, transform, options) {
    const entries = new Map(outputEntries(outputs));
    const strides =
      yunetStrides([...entries.keys()]) ??
      headMismatch('yunet', `outputs ${[...entries.keys()].join(', ')} are not cls_S/obj_S/bbox_S/kps_S`);
    const minScore = options.scoreThreshold;
    candidates.reset(5);
    for (const stride of strides) {
      const rows = Math.ceil(transform.input.height / stride);
      const cols = Math.ceil(transform.input.width / stride);
      const view = (role: string): LevelView =>
        flatView('yunet', `${role}_${stride}`, entries.get(`${role}_${stride}`)!, options.batchIndex, {
          rows,
          cols,
          anchors: 1,
          stride,
        });
      const cls = view('cls');
      const obj = view('obj');
      const box = view('bbox');
      const kps = view('kps');
      for (let p = 0; p < rows * cols; p++) {
        const c = Math.min(Math.max(at(cls, p, 0), 0), 1);
        const o = Math.min(Math.max(at(obj, p, 0), 0), 1);
        const score = Math.sqrt(c * o);
        if (score < minScore) continue;
        const col = p % cols;
        const row = (p - col) / cols;
        const w = Math.exp(at(box, p, 2)) * stride;
        const h = Math.exp(at(box, p, 3)) * stride;
        candidates.pushCenter((col + at(box, p, 0)) * stride, (row + at(box, p, 1)) * stride, w, h, score, 0);
        for (let k = 0; k < 5; k++)
          candidates.setKeypoint(k, (col + at(kps, p, 2 * k)) * stride, (row + at(kps, p, 2 * k + 1)) * stride, NaN);
      }
    }
    return { task: 'detect', detections: finishDetections(candidates, transform, options, options.labels ?? ['face']) };
  },
};
