/**
 * Masks out of the process: COCO run-length encoding (uncompressed: `{ size: [h, w], counts }`,
 * column-major runs starting with background, as pycocotools' frPyObjects reads it) over the whole
 * image, and polygons (the outer boundary of each connected part, traced pixel centre to pixel
 * centre by Moore-neighbour tracing, collinear points dropped), in original-image pixels.
 */
import type { ClassMap, Mask } from './types.js';

export interface Rle {
  size: [height: number, width: number];
  counts: number[];
}

/** COCO RLE of a mask over an image of width × height. */
export function maskToRle(mask: Mask, width: number, height: number): Rle {
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  const push = (v: number, n: number): void => {
    if (v === current) {
      run += n;
    } else {
      counts.push(run);
      current = v;
      run = n;
    }
  };
  for (let x = 0; x < width; x++) {
    const inCols = x >= mask.left && x < mask.left + mask.width;
    if (!inCols) {
      push(0, height);
      continue;
    }
    push(0, Math.min(mask.top, height));
    const col = x - mask.left;
    const bottom = Math.min(mask.top + mask.height, height);
    for (let y = mask.top; y < bottom; y++) push(mask.data[(y - mask.top) * mask.width + col]!, 1);
    push(0, height - bottom);
  }
  counts.push(run);
  return { size: [height, width], counts };
}

/** The pixels of class `classId` in a class map, as a mask over the whole image. */
export function classMask(map: ClassMap, classId: number): Mask {
  const data = new Uint8Array(map.width * map.height);
  for (let i = 0; i < data.length; i++) if (map.data[i] === classId) data[i] = 1;
  return { left: 0, top: 0, width: map.width, height: map.height, data };
}

// Moore neighbourhood, clockwise from west (y down): W, NW, N, NE, E, SE, S, SW.
const DX = [-1, -1, 0, 1, 1, 1, 0, -1];
const DY = [0, -1, -1, -1, 0, 1, 1, 1];

/** Outer boundaries of the mask's 8-connected parts with at least `minPixels` pixels, as flat [x, y, ...] lists. */
export function maskToPolygons(mask: Mask, minPixels = 3): number[][] {
  const { width: w, height: h, data } = mask;
  const seen = new Uint8Array(w * h);
  const stack: number[] = [];
  const polygons: number[][] = [];
  const inside = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < w && y < h && data[y * w + x] === 1;
  for (let start = 0; start < w * h; start++) {
    if (data[start] !== 1 || seen[start] === 1) continue;
    // Flood the part (so each is traced once); the raster-first pixel is on its outer boundary.
    let size = 0;
    stack.push(start);
    seen[start] = 1;
    while (stack.length > 0) {
      const p = stack.pop()!;
      size++;
      const px = p % w;
      const py = (p - px) / w;
      for (let d = 0; d < 8; d++) {
        const qx = px + DX[d]!;
        const qy = py + DY[d]!;
        if (inside(qx, qy) && seen[qy * w + qx] === 0) {
          seen[qy * w + qx] = 1;
          stack.push(qy * w + qx);
        }
      }
    }
    if (size < minPixels) continue;
    const sx = start % w;
    const sy = (start - sx) / w;
    const pts: number[] = [sx, sy];
    let x = sx;
    let y = sy;
    let from = 0; // we entered the start pixel from the west (its west neighbour is background)
    for (let guard = 0; guard < 4 * w * h + 8; guard++) {
      let found = -1;
      for (let k = 1; k <= 8; k++) {
        const d = (from + k) % 8;
        if (inside(x + DX[d]!, y + DY[d]!)) {
          found = d;
          break;
        }
      }
      if (found < 0) break; // a single pixel
      x += DX[found]!;
      y += DY[found]!;
      // Radial sweep: the next search starts just past the pixel we came from.
      from = (found + 4) % 8;
      if (x === sx && y === sy) break;
      pts.push(x, y);
    }
    polygons.push(simplify(pts).map((v, i) => v + (i % 2 === 0 ? mask.left : mask.top) + 0.5));
  }
  return polygons;
}

/** Drops points that lie on a straight line between their neighbours. */
function simplify(pts: number[]): number[] {
  const n = pts.length / 2;
  if (n < 3) return pts;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = (i + n - 1) % n;
    const b = (i + 1) % n;
    const ax = pts[2 * a]! - pts[2 * i]!,
      ay = pts[2 * a + 1]! - pts[2 * i + 1]!;
    const bx = pts[2 * b]! - pts[2 * i]!,
      by = pts[2 * b + 1]! - pts[2 * i + 1]!;
    // Dropped only when between its neighbours on one line (a spur's tip turns back: kept).
    if (ax * by - ay * bx !== 0 || ax * bx + ay * by >= 0) out.push(pts[2 * i]!, pts[2 * i + 1]!);
  }
  return out.length >= 6 ? out : pts;
}
