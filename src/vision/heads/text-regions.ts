/**
 * Regions of a probability map: 8-connected components of the thresholded map (one flood fill
 * per component over an Int32Array label image and an explicit stack), and the box geometry DB
 * post-processing needs: convex hull, minimum-area rectangle (rotating calipers), and the unclip
 * expansion by area · ratio / perimeter that PaddleOCR does with pyclipper.
 */

export interface Region {
  /** Label value in the label image. */
  id: number;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  pixels: number;
  /** Mean probability over the region's pixels. */
  score: number;
}

export interface LabelledMap {
  labels: Int32Array;
  width: number;
  height: number;
  regions: Region[];
}

/** 8-connected components of map[base ..] > threshold, at most maxRegions (the largest ones win). */
export function findRegions(
  map: Float32Array,
  base: number,
  width: number,
  height: number,
  threshold: number,
  maxRegions: number,
): LabelledMap {
  const n = width * height;
  const labels = new Int32Array(n);
  const stack = new Int32Array(n);
  const regions: Region[] = [];
  let next = 0;
  for (let start = 0; start < n; start++) {
    if (labels[start] !== 0 || !(map[base + start]! > threshold)) continue;
    const id = ++next;
    let top = 0;
    stack[top++] = start;
    labels[start] = id;
    let minX = width,
      minY = height,
      maxX = -1,
      maxY = -1,
      count = 0,
      sum = 0;
    while (top > 0) {
      const p = stack[--top]!;
      const y = (p / width) | 0;
      const x = p - y * width;
      count++;
      sum += map[base + p]!;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      const y0 = y > 0 ? y - 1 : 0;
      const y1 = y < height - 1 ? y + 1 : y;
      const x0 = x > 0 ? x - 1 : 0;
      const x1 = x < width - 1 ? x + 1 : x;
      for (let yy = y0; yy <= y1; yy++) {
        const row = yy * width;
        for (let xx = x0; xx <= x1; xx++) {
          const q = row + xx;
          if (labels[q] === 0 && map[base + q]! > threshold) {
            labels[q] = id;
            stack[top++] = q;
          }
        }
      }
    }
    regions.push({ id, minX, minY, maxX, maxY, pixels: count, score: sum / count });
  }
  if (regions.length > maxRegions) {
    regions.sort((a, b) => b.pixels - a.pixels);
    regions.length = maxRegions;
  }
  return { labels, width, height, regions };
}

export type Point = [number, number];

/** Leftmost and rightmost pixel centre of each row of a region: enough points for its convex hull. */
export function regionOutline(m: LabelledMap, r: Region): Point[] {
  const pts: Point[] = [];
  for (let y = r.minY; y <= r.maxY; y++) {
    const row = y * m.width;
    let left = -1;
    let right = -1;
    for (let x = r.minX; x <= r.maxX; x++) {
      if (m.labels[row + x] === r.id) {
        if (left < 0) left = x;
        right = x;
      }
    }
    if (left >= 0) {
      pts.push([left, y]);
      if (right !== left) pts.push([right, y]);
    }
  }
  return pts;
}

/** Convex hull (Andrew's monotone chain), counter-clockwise in y-up terms, no repeated end point. */
export function convexHull(points: readonly Point[]): Point[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length <= 2) return pts;
  const cross = (o: Point, a: Point, b: Point): number => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Point[] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

export interface RotatedRect {
  cx: number;
  cy: number;
  /** Side along the angle. */
  width: number;
  height: number;
  /** Radians; the width side's direction. */
  angle: number;
}

/** The minimum-area rectangle around a hull: one candidate orientation per hull edge. */
export function minAreaRect(hull: readonly Point[]): RotatedRect {
  if (hull.length === 0) return { cx: 0, cy: 0, width: 0, height: 0, angle: 0 };
  if (hull.length === 1) return { cx: hull[0]![0], cy: hull[0]![1], width: 0, height: 0, angle: 0 };
  let best: RotatedRect | undefined;
  let bestArea = Infinity;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (len === 0) continue;
    const ux = (b[0] - a[0]) / len;
    const uy = (b[1] - a[1]) / len;
    let minU = Infinity,
      maxU = -Infinity,
      minV = Infinity,
      maxV = -Infinity;
    for (const p of hull) {
      const u = p[0] * ux + p[1] * uy;
      const v = -p[0] * uy + p[1] * ux;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area < bestArea) {
      bestArea = area;
      const cu = (minU + maxU) / 2;
      const cv = (minV + maxV) / 2;
      best = {
        cx: cu * ux - cv * uy,
        cy: cu * uy + cv * ux,
        width: maxU - minU,
        height: maxV - minV,
        angle: Math.atan2(uy, ux),
      };
    }
  }
  return best ?? { cx: hull[0]![0], cy: hull[0]![1], width: 0, height: 0, angle: 0 };
}

/**
 * The rectangle normalised so that its angle is in (−45°, 45°] (the width side the more horizontal
 * one), so text lines come out wide and the corners can be ordered from the top-left.
 */
export function normaliseRect(r: RotatedRect): RotatedRect {
  let { width, height, angle } = r;
  const quarter = Math.PI / 2;
  // Bring the angle into (−90°, 90°], then swap sides to reach (−45°, 45°].
  while (angle > quarter) angle -= Math.PI;
  while (angle <= -quarter) angle += Math.PI;
  if (angle > quarter / 2) {
    angle -= quarter;
    [width, height] = [height, width];
  } else if (angle <= -quarter / 2) {
    angle += quarter;
    [width, height] = [height, width];
  }
  return { cx: r.cx, cy: r.cy, width, height, angle };
}

/** Corners clockwise on screen (y down) from the top-left: tl, tr, br, bl. */
export function rectCorners(r: RotatedRect): Point[] {
  const c = Math.cos(r.angle);
  const s = Math.sin(r.angle);
  const hw = r.width / 2;
  const hh = r.height / 2;
  const at = (u: number, v: number): Point => [r.cx + u * c - v * s, r.cy + u * s + v * c];
  return [at(-hw, -hh), at(hw, -hh), at(hw, hh), at(-hw, hh)];
}

/** PaddleOCR's unclip distance for a rectangle: area · ratio / perimeter. */
export function unclipDistance(width: number, height: number, ratio: number): number {
  const perimeter = 2 * (width + height);
  return perimeter > 0 ? (width * height * ratio) / perimeter : 0;
}
