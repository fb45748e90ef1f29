/**
 * A result as JSON (the `rtinfer.predict/1` results of `predict --json` and the server's predict
 * endpoint): numbers rounded (scores to 0.001, pixels to 0.1), keypoints, rotated boxes, masks as
 * COCO RLE or polygons, semantic segments with an RLE each, and an image output's description
 * (its pixels go to `--save` or `annotate=1`, not into JSON).
 */
import { classMask, maskToPolygons, maskToRle } from './masks.js';
import type { HeadResult } from './types.js';
import { round3 } from '../util/format.js';

export type MaskFormat = 'rle' | 'polygon';

const r1 = (x: number): number => Math.round(x * 10) / 10;

/** The JSON form of one result on an image of width × height (the original, oriented). */
export function resultJson(
  r: HeadResult,
  width: number,
  height: number,
  masks: MaskFormat = 'rle',
): Record<string, unknown> {
  if (r.task === 'detect') {
    return {
      detections: r.detections.map((d) => ({
        label: d.label,
        classId: d.classId,
        score: round3(d.score),
        box: d.box.map(r1),
        ...(d.keypoints
          ? {
              keypoints: d.keypoints.map((k) =>
                k.score === undefined ? { x: r1(k.x), y: r1(k.y) } : { x: r1(k.x), y: r1(k.y), score: round3(k.score) },
              ),
            }
          : {}),
        ...(d.polygon ? { polygon: d.polygon.map(([x, y]) => [r1(x), r1(y)]), angle: round3(d.angle ?? 0) } : {}),
        ...(d.mask
          ? masks === 'rle'
            ? { mask: { rle: maskToRle(d.mask, width, height) } }
            : { mask: { polygons: maskToPolygons(d.mask).map((p) => p.map(r1)) } }
          : {}),
      })),
    };
  }
  if (r.task === 'classify')
    return { classes: r.classes.map((c) => ({ index: c.index, label: c.label, score: round3(c.score) })) };
  if (r.task === 'text')
    return {
      texts: r.texts.map((t) => ({
        score: round3(t.score),
        box: t.box.map(r1),
        ...(t.polygon ? { polygon: t.polygon.map(([x, y]) => [r1(x), r1(y)]) } : {}),
        ...(t.text !== undefined ? { text: t.text } : {}),
      })),
    };
  if (r.task === 'semantic') {
    return {
      segments: r.segments.map((s) => {
        const m = classMask(r.map, s.classId);
        return {
          classId: s.classId,
          label: s.label,
          pixels: s.pixels,
          ...(masks === 'rle'
            ? { rle: maskToRle(m, width, height) }
            : { polygons: maskToPolygons(m).map((p) => p.map(r1)) }),
        };
      }),
    };
  }
  const { data: _pixels, ...image } = r.image;
  return { image };
}
