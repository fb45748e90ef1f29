/**
 * Rotated rectangles: corners, exact IoU by convex polygon clipping (Sutherland–Hodgman), and
 * greedy NMS over them (the oriented-box counterpart of nms.ts, as Ultralytics' nms_rotated
 * suppresses by the overlap of the rotated boxes, here by their exact IoU rather than probiou).
 * A rectangle is cx, cy, w, h, angle (radians, clockwise in image coordinates with y down).
 */
import { sortByScore, type NmsOptions } from './nms.js';

export type Corners = [number, number, number, number, number, number, number, number];

/** The four corners, as Ultralytics' xywhr2xyxyxyxy orders them. */
export function rotatedCorners(cx: number, cy: number, w: number, h: number, angle: number): Corners {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const ax = (w / 2) * c,
    ay = (w / 2) * s;
  const bx = (-h / 2) * s,
    by = (h / 2) * c;
  return [
    cx + ax + bx,
    cy + ay + by,
    cx + ax - bx,
    cy + ay - by,
    cx - ax - bx,
    cy - ay - by,
    cx - ax + bx,
    cy - ay + by,
  ];
}

function area(poly: readonly number[]): number {
  let a = 0;
  const n = poly.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    a += poly[2 * i]! * poly[2 * j + 1]! - poly[2 * j]! * poly[2 * i + 1]!;
  }
  return Math.abs(a) / 2;
}

/** `subject` clipped by the convex polygon `clip` (both as flat x, y lists). */
function clipConvex(subject: number[], clip: readonly number[]): number[] {
  let out = subject;
  const n = clip.length / 2;
  // Orientation of the clip polygon, so "inside" is the same side for either winding.
  let signed = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    signed += clip[2 * i]! * clip[2 * j + 1]! - clip[2 * j]! * clip[2 * i + 1]!;
  }
  const dir = signed >= 0 ? 1 : -1;
  for (let i = 0; i < n && out.length > 0; i++) {
    const ax = clip[2 * i]!,
      ay = clip[2 * i + 1]!;
    const bx = clip[(2 * i + 2) % (2 * n)]!,
      by = clip[(2 * i + 3) % (2 * n)]!;
    const side = (x: number, y: number): number => dir * ((bx - ax) * (y - ay) - (by - ay) * (x - ax));
    const input = out;
    out = [];
    const m = input.length / 2;
    for (let k = 0; k < m; k++) {
      const px = input[2 * k]!,
        py = input[2 * k + 1]!;
      const qx = input[(2 * k + 2) % (2 * m)]!,
        qy = input[(2 * k + 3) % (2 * m)]!;
      const sp = side(px, py);
      const sq = side(qx, qy);
      if (sp >= 0) out.push(px, py);
      if (sp >= 0 !== sq >= 0) {
        const t = sp / (sp - sq);
        out.push(px + t * (qx - px), py + t * (qy - py));
      }
    }
  }
  return out;
}

/** Exact IoU of two rotated rectangles given as corners. */
export function rotatedIou(a: Corners, b: Corners): number {
  const inter = clipConvex([...a], b);
  const i = inter.length >= 6 ? area(inter) : 0;
  const u = area(a) + area(b) - i;
  return u > 0 ? i / u : 0;
}

export interface RotatedCandidates {
  /** cx, cy, w, h, angle per candidate. */
  rects: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  count: number;
}

/** Greedy NMS by rotated IoU; kept indices, best first. */
export function rotatedNms(c: RotatedCandidates, options: NmsOptions): number[] {
  let order = sortByScore(c.scores, c.count, options.scoreThreshold);
  if (options.topK !== undefined && order.length > options.topK) order = order.subarray(0, options.topK);
  const corners = Array.from(order, (i) =>
    rotatedCorners(c.rects[5 * i]!, c.rects[5 * i + 1]!, c.rects[5 * i + 2]!, c.rects[5 * i + 3]!, c.rects[5 * i + 4]!),
  );
  // Bounding radius per candidate: a cheap reject before clipping polygons.
  const radius = Array.from(order, (i) => Math.hypot(c.rects[5 * i + 2]!, c.rects[5 * i + 3]!) / 2);
  const suppressed = new Uint8Array(order.length);
  const kept: number[] = [];
  const max = options.maxDetections ?? Infinity;
  for (let k = 0; k < order.length && kept.length < max; k++) {
    if (suppressed[k] === 1) continue;
    const i = order[k]!;
    kept.push(i);
    for (let m = k + 1; m < order.length; m++) {
      if (suppressed[m] === 1) continue;
      const j = order[m]!;
      if (options.agnostic !== true && c.classes[j] !== c.classes[i]) continue;
      const d = Math.hypot(c.rects[5 * i]! - c.rects[5 * j]!, c.rects[5 * i + 1]! - c.rects[5 * j + 1]!);
      if (d >= radius[k]! + radius[m]!) continue;
      if (rotatedIou(corners[k]!, corners[m]!) > options.iouThreshold) suppressed[m] = 1;
    }
  }
  return kept;
}
