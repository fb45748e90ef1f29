/**
 * Annotated images for `--save` and annotated responses: detections (and text boxes) drawn as an
 * SVG overlay composited by sharp onto the auto-oriented image, since results are in the oriented
 * image's pixels. Output keeps the input's format (JPEG, PNG, WebP) unless told otherwise; raw
 * frames come back as PNG.
 */
import sharp from 'sharp';
import { decodeError, imageLabel, isRawImage, readImageFile } from './decode.js';
import type { Detection, ImageSource, Mask, TextBox } from './types.js';

export interface DrawOptions {
  format?: 'jpeg' | 'png' | 'webp';
  /** Line width in pixels; default scales with the image (2 px per 640 px of the shorter side, at least 2). */
  lineWidth?: number;
  /** Label font size in pixels; default 6 times the line width, at least 12. */
  fontSize?: number;
  /** Draw "label score" tags (default true). */
  labels?: boolean;
}

// Ultralytics' palette, by class id.
const PALETTE = [
  '#FF3838',
  '#FF9D97',
  '#FF701F',
  '#FFB21D',
  '#CFD231',
  '#48F90A',
  '#92CC17',
  '#3DDB86',
  '#1A9334',
  '#00D4BB',
  '#2C99A8',
  '#00C2FF',
  '#344593',
  '#6473FF',
  '#0018EC',
  '#8438FF',
  '#520085',
  '#CB38FF',
  '#FF95C8',
  '#FF37C7',
];

function escapeXml(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );
}

function isDetection(item: Detection | TextBox): item is Detection {
  return 'classId' in item;
}

/** The SVG overlay for an image of width × height. */
export function overlaySvg(
  width: number,
  height: number,
  items: ReadonlyArray<Detection | TextBox>,
  options: DrawOptions = {},
): string {
  const lw = options.lineWidth ?? Math.max(2, Math.round((2 * Math.min(width, height)) / 640));
  const fs = options.fontSize ?? Math.max(12, lw * 6);
  const parts: string[] = [];
  for (const item of items) {
    const color = isDetection(item) ? PALETTE[item.classId % PALETTE.length]! : '#00C2FF';
    const [x1, y1, x2, y2] = item.box.map((v) => Math.round(v * 10) / 10) as [number, number, number, number];
    if (item.polygon !== undefined) {
      const pts = item.polygon.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
      parts.push(`<polygon points="${pts}" fill="none" stroke="${color}" stroke-width="${lw}"/>`);
    } else {
      parts.push(
        `<rect x="${x1}" y="${y1}" width="${Math.max(0, x2 - x1)}" height="${Math.max(0, y2 - y1)}" ` +
          `fill="none" stroke="${color}" stroke-width="${lw}"/>`,
      );
    }
    if (isDetection(item) && item.keypoints !== undefined) {
      // Keypoints the model marks as not visible (score < 0.5, Ultralytics' plotting cut) are not drawn.
      const r = Math.max(2, lw * 1.5);
      item.keypoints.forEach((k, i) => {
        if (k.score !== undefined && k.score < 0.5) return;
        parts.push(
          `<circle cx="${k.x.toFixed(1)}" cy="${k.y.toFixed(1)}" r="${r}" ` +
            `fill="${PALETTE[(i * 3 + 5) % PALETTE.length]!}" stroke="#FFFFFF" stroke-width="1"/>`,
        );
      });
    }
    if (options.labels === false) continue;
    const text = isDetection(item)
      ? `${item.label} ${item.score.toFixed(2)}`
      : item.text === undefined
        ? item.score.toFixed(2)
        : `${item.text} ${item.score.toFixed(2)}`;
    const tw = Math.ceil(text.length * fs * 0.6) + 4;
    const th = fs + 4;
    // Tag above the box, or inside its top when there is no room above.
    const ty = y1 - th >= 0 ? y1 - th : y1;
    parts.push(`<rect x="${x1}" y="${ty}" width="${tw}" height="${th}" fill="${color}"/>`);
    parts.push(
      `<text x="${x1 + 2}" y="${ty + fs}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${fs}" ` +
        `fill="#FFFFFF">${escapeXml(text)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

function rgbOf(hex: string): [number, number, number] {
  const v = Number.parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/**
 * Tints the mask's pixels of an interleaved 8-bit image half-way towards `color` (Ultralytics draws
 * masks at alpha 0.5).
 */
export function blendMask(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  mask: Mask,
  color: string,
): void {
  const rgb = rgbOf(color);
  const grey = channels < 3;
  for (let y = 0; y < mask.height; y++) {
    const iy = mask.top + y;
    if (iy < 0 || iy >= height) continue;
    for (let x = 0; x < mask.width; x++) {
      const ix = mask.left + x;
      if (ix < 0 || ix >= width || mask.data[y * mask.width + x] !== 1) continue;
      const p = (iy * width + ix) * channels;
      if (grey) data[p] = (data[p]! + (rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114)) >> 1;
      else for (let c = 0; c < 3; c++) data[p + c] = (data[p + c]! + rgb[c]!) >> 1;
    }
  }
}

export { PALETTE };

/** The image with `items` drawn on it, encoded. */
export async function drawDetections(
  image: ImageSource,
  items: ReadonlyArray<Detection | TextBox>,
  options: DrawOptions = {},
): Promise<Buffer> {
  const label = imageLabel(image);
  try {
    let pipeline: sharp.Sharp;
    let format: 'jpeg' | 'png' | 'webp' = options.format ?? 'png';
    if (isRawImage(image)) {
      pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
    } else {
      const bytes = typeof image === 'string' ? await readImageFile(image) : image;
      pipeline = sharp(bytes).rotate();
      const meta = await sharp(bytes).metadata();
      if (options.format === undefined && (meta.format === 'jpeg' || meta.format === 'webp')) format = meta.format;
    }
    // Orientation first, so the overlay's coordinates are the oriented image's.
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    for (const item of items)
      if (isDetection(item) && item.mask !== undefined)
        blendMask(data, info.width, info.height, info.channels, item.mask, PALETTE[item.classId % PALETTE.length]!);
    const svg = overlaySvg(info.width, info.height, items, options);
    let out = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).composite([
      { input: Buffer.from(svg), top: 0, left: 0 },
    ]);
    if (info.channels === 3) out = out.removeAlpha();
    return await (
      format === 'jpeg' ? out.jpeg({ quality: 90 }) : format === 'webp' ? out.webp({ quality: 90 }) : out.png()
    ).toBuffer();
  } catch (error) {
    throw decodeError(label, error);
  }
}
