/**
 * Where an image lands in the tensor, and the way back. `planTransform` decides, from the image's
 * size and the config alone, the resize, crop and padding; the resulting `ImageTransform` is plain
 * data that maps tensor coordinates to original-image pixels (`toOriginal`).
 *
 * tensor x = original x · scaleX − cropX + padX   (the same for y)
 */
import type { PreprocessConfig } from './config.js';
import type { Box } from './types.js';

export interface Size {
  width: number;
  height: number;
}

export interface ImageTransform {
  /** The image as decoded, after EXIF orientation: the space results are reported in. */
  original: Size;
  /** The tensor's spatial size. */
  input: Size;
  /** The image's size after resizing, before cropping or padding. */
  resized: Size;
  /** resized / original, per axis. */
  scaleX: number;
  scaleY: number;
  /** Where the top-left of the (cropped) resized image sits in the tensor (letterbox padding). */
  padX: number;
  padY: number;
  /** The top-left of the crop window in the resized image (crop mode). */
  cropX: number;
  cropY: number;
  /** The region of the tensor that holds image pixels; the rest is padding. */
  content: { x: number; y: number; width: number; height: number };
}

/** Python's round(): halves go to the even neighbour (torchvision and PaddleOCR round this way). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function dynamicScale(width: number, height: number, config: PreprocessConfig): number {
  const longest = Math.max(width, height);
  let r = config.maxSide !== null ? config.maxSide / longest : 1;
  if (!config.scaleUp) r = Math.min(r, 1);
  return r;
}

/** Plans the resize/crop/pad for an image of width × height (after orientation). */
export function planTransform(width: number, height: number, config: PreprocessConfig): ImageTransform {
  const plan =
    config.resize === 'stretch'
      ? stretchPlan(width, height, config)
      : config.resize === 'letterbox'
        ? letterboxPlan(width, height, config)
        : cropPlan(width, height, config);
  const { inputW, inputH, resizedW, resizedH, padX, padY, cropX, cropY } = plan;
  return {
    original: { width, height },
    input: { width: inputW, height: inputH },
    resized: { width: resizedW, height: resizedH },
    scaleX: resizedW / width,
    scaleY: resizedH / height,
    padX,
    padY,
    cropX,
    cropY,
    content: {
      x: padX,
      y: padY,
      width: Math.min(resizedW - cropX, inputW),
      height: Math.min(resizedH - cropY, inputH),
    },
  };
}

/** One resize mode's sizes: the tensor's, the resized image's, and the padding or crop offsets. */
interface Plan {
  inputW: number;
  inputH: number;
  resizedW: number;
  resizedH: number;
  padX: number;
  padY: number;
  cropX: number;
  cropY: number;
}

function isFixed(config: PreprocessConfig): boolean {
  return config.width !== null && config.height !== null;
}

/** The tensor size: the config's, or each side of the scaled image rounded to the multiple (at least one). */
function inputSize(
  width: number,
  height: number,
  config: PreprocessConfig,
  round: (x: number) => number,
): [number, number] {
  if (isFixed(config)) return [config.width as number, config.height as number];
  const m = config.multipleOf;
  const r = dynamicScale(width, height, config);
  return [Math.max(round((width * r) / m) * m, m), Math.max(round((height * r) / m) * m, m)];
}

/** A fixed height with a dynamic width: a text line for a recogniser (PP-OCR rec). */
function isLine(config: PreprocessConfig): boolean {
  return config.width === null && config.height !== null;
}

/**
 * A text line as PaddleOCR's resize_norm_img: scaled to the height, resized width ceil(H·w/h),
 * tensor width max(minWidth, floor(H·w/h)) (its int(imgH · max_wh_ratio) for one image, so a line
 * wider than minWidth is cut to floor) rounded up to multipleOf, padded on the right (top-left
 * anchor) or both sides. Stretch mode: the tensor is the resized line, rounded to the multiple.
 */
function linePlan(width: number, height: number, config: PreprocessConfig, pad: boolean): Plan {
  const inputH = config.height as number;
  const m = config.multipleOf;
  let r = inputH / height;
  if (!config.scaleUp) r = Math.min(r, 1);
  const exact = width * r;
  const resizedH = Math.max(1, Math.round(height * r));
  if (!pad) {
    const inputW = Math.max(roundHalfEven(exact / m) * m, m);
    return { inputW, inputH, resizedW: inputW, resizedH: inputH, padX: 0, padY: 0, cropX: 0, cropY: 0 };
  }
  const inputW = Math.ceil(Math.max(config.minWidth ?? 1, Math.floor(exact), 1) / m) * m;
  const resizedW = Math.min(Math.max(1, Math.ceil(exact)), inputW);
  const centre = config.anchor === 'center';
  const padX = centre ? Math.floor((inputW - resizedW) / 2) : 0;
  const padY = centre ? Math.floor((inputH - resizedH) / 2) : 0;
  return { inputW, inputH, resizedW, resizedH, padX, padY, cropX: 0, cropY: 0 };
}

function stretchPlan(width: number, height: number, config: PreprocessConfig): Plan {
  if (isLine(config)) return linePlan(width, height, config, false);
  // PaddleOCR DetResizeForTest: each side scaled, then rounded half-even to the multiple.
  const [inputW, inputH] = inputSize(width, height, config, roundHalfEven);
  return { inputW, inputH, resizedW: inputW, resizedH: inputH, padX: 0, padY: 0, cropX: 0, cropY: 0 };
}

function letterboxPlan(width: number, height: number, config: PreprocessConfig): Plan {
  if (isLine(config)) return linePlan(width, height, config, true);
  const m = config.multipleOf;
  const fixed = isFixed(config);
  let r: number;
  if (fixed) {
    r = Math.min((config.width as number) / width, (config.height as number) / height);
    if (!config.scaleUp) r = Math.min(r, 1);
  } else {
    r = dynamicScale(width, height, config);
  }
  const resizedW = Math.max(1, Math.round(width * r));
  const resizedH = Math.max(1, Math.round(height * r));
  // Dynamic letterbox: the smallest multiple that holds the image (Ultralytics' "auto" rectangle).
  const inputW = fixed ? (config.width as number) : Math.ceil(resizedW / m) * m;
  const inputH = fixed ? (config.height as number) : Math.ceil(resizedH / m) * m;
  let padX = 0;
  let padY = 0;
  if (config.anchor === 'center') {
    // Ultralytics: left = round(dw − 0.1) with dw = (W − w) / 2, which is floor(dw) for halves.
    padX = Math.floor((inputW - resizedW) / 2);
    padY = Math.floor((inputH - resizedH) / 2);
  }
  return { inputW, inputH, resizedW, resizedH, padX, padY, cropX: 0, cropY: 0 };
}

/** Resize to cover the input (or the shortest edge to a size), then a centre crop. */
function cropPlan(width: number, height: number, config: PreprocessConfig): Plan {
  const [inputW, inputH] = inputSize(width, height, config, Math.floor);
  let resizedW: number;
  let resizedH: number;
  if (config.shortestEdge !== null) {
    // torchvision Resize(int): the shorter side becomes the size, the longer one is truncated.
    const s = config.shortestEdge;
    if (width <= height) {
      resizedW = s;
      resizedH = Math.floor((s * height) / width);
    } else {
      resizedH = s;
      resizedW = Math.floor((s * width) / height);
    }
  } else {
    const r = Math.max(inputW / width, inputH / height);
    resizedW = Math.round(width * r);
    resizedH = Math.round(height * r);
  }
  resizedW = Math.max(resizedW, inputW);
  resizedH = Math.max(resizedH, inputH);
  // torchvision CenterCrop: top = int(round((h − th) / 2)).
  const cropX = roundHalfEven((resizedW - inputW) / 2);
  const cropY = roundHalfEven((resizedH - inputH) / 2);
  return { inputW, inputH, resizedW, resizedH, padX: 0, padY: 0, cropX, cropY };
}

/** A point in tensor coordinates → original-image pixels (not clipped). */
export function toOriginalPoint(t: ImageTransform, x: number, y: number): [number, number] {
  return [(x - t.padX + t.cropX) / t.scaleX, (y - t.padY + t.cropY) / t.scaleY];
}

/** A box in tensor coordinates → original-image pixels, clipped to the image unless `clip` is false. */
export function toOriginal(t: ImageTransform, box: Readonly<Box>, clip = true): Box {
  const ox = t.cropX - t.padX;
  const oy = t.cropY - t.padY;
  let x1 = (box[0] + ox) / t.scaleX;
  let y1 = (box[1] + oy) / t.scaleY;
  let x2 = (box[2] + ox) / t.scaleX;
  let y2 = (box[3] + oy) / t.scaleY;
  if (clip) {
    const w = t.original.width;
    const h = t.original.height;
    x1 = Math.min(Math.max(x1, 0), w);
    y1 = Math.min(Math.max(y1, 0), h);
    x2 = Math.min(Math.max(x2, 0), w);
    y2 = Math.min(Math.max(y2, 0), h);
  }
  return [x1, y1, x2, y2];
}

/** The inverse of `toOriginal`: original-image pixels → tensor coordinates. */
export function toTensor(t: ImageTransform, box: Readonly<Box>): Box {
  return [
    box[0] * t.scaleX - t.cropX + t.padX,
    box[1] * t.scaleY - t.cropY + t.padY,
    box[2] * t.scaleX - t.cropX + t.padX,
    box[3] * t.scaleY - t.cropY + t.padY,
  ];
}
