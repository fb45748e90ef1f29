/**
 * Preprocessing as data (transformers.js style: one config object, no code forks per model
 * family). A head carries its family's defaults; the model's input shape and metadata fill in the
 * size; the caller overrides any field. `resolvePreprocessConfig` merges the layers and validates
 * the result once, so the per-image code never re-checks it.
 */
import { RtinferError } from '../errors.js';

export type ResizeMode = 'letterbox' | 'stretch' | 'crop';
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
export type Rgb = readonly [number, number, number];

export interface PreprocessConfig {
  /**
   * Tensor width and height. `null` means dynamic: each image gets its own size, from its own size
   * limited by `maxSide` and rounded to `multipleOf` (PP-OCR's DetResizeForTest). A fixed height
   * with a null width is a text line (PP-OCR rec): the image scaled to the height, its width
   * following the aspect ratio, at least `minWidth`.
   */
  width: number | null;
  height: number | null;
  /**
   * letterbox: scale to fit keeping the aspect ratio, pad the rest with `padValue`;
   * stretch: scale each axis to the target (aspect ratio not kept);
   * crop: scale to cover (or so the shorter side is `shortestEdge`), then cut the centre.
   */
  resize: ResizeMode;
  /** letterbox: where the image sits, 'center' (Ultralytics) or 'top-left' (YOLOX). */
  anchor: 'center' | 'top-left';
  /** letterbox padding in pixel values 0..255, before scaling (114 is Ultralytics' and YOLOX's grey). */
  padValue: number | Rgb;
  /** letterbox and dynamic sizes: whether a small image may be enlarged (Ultralytics scaleup=True). */
  scaleUp: boolean;
  /** crop: the shorter side after resizing (torchvision Resize(256) then CenterCrop(224)); null: cover. */
  shortestEdge: number | null;
  /** Dynamic sizes are rounded to a multiple of this (32 for PP-OCR). */
  multipleOf: number;
  /** Dynamic sizes: the longest side is limited to this (PP-OCR limit_side_len 960); null: no limit. */
  maxSide: number | null;
  /** Fixed height, dynamic width: the tensor is at least this wide, padded (PP-OCR rec 320); null: 1. */
  minWidth: number | null;
  /** Channel order of the tensor (for 3 and 4 channels; grey ignores it). */
  channelOrder: 'rgb' | 'bgr';
  /**
   * Channels of the tensor: 3 (colour), 1 (grey: ITU-R BT.601 luma of the RGB pixels, as
   * OpenCV's and PIL's grey conversions compute it) or 4 (colour then an opaque alpha of 255).
   */
  channels: 1 | 3 | 4;
  /** value = (pixel · rescale − mean[c]) / std[c], with pixel in 0..255 and c in tensor channel order. */
  rescale: number;
  mean: Rgb;
  std: Rgb;
  layout: 'nchw' | 'nhwc';
  dtype: 'float32' | 'float16' | 'uint8';
  /** Resampling kernel (libvips). 'linear' matches cv2.INTER_LINEAR, which YOLO and PP-OCR use. */
  kernel: ResizeKernel;
  /** Apply the EXIF orientation before anything else (as phones expect). */
  autoOrient: boolean;
  /** Colour that transparent pixels are flattened onto, 0..255. */
  background: Rgb;
  /** Images with more pixels than this are refused before decoding (sharp's limitInputPixels). */
  maxPixels: number;
  /** Encoded formats accepted, as sharp names them. */
  formats: readonly string[];
  /** Decoder strictness (sharp failOn): 'warning' refuses truncated JPEGs, 'none' decodes what it can. */
  failOn: 'none' | 'truncated' | 'error' | 'warning';
}

/** Common scalings, to spread into a config: `{ ...SCALING.imagenet }`. */
export const SCALING = {
  /** x / 255 */
  unit: { rescale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
  /** x, 0..255 */
  raw: { rescale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
  /** (x / 255 − ImageNet mean) / ImageNet std */
  imagenet: { rescale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  /** x / 127.5 − 1, in −1..1 */
  symmetric: { rescale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1] },
} as const satisfies Record<string, Pick<PreprocessConfig, 'rescale' | 'mean' | 'std'>>;

export const DEFAULT_FORMATS: readonly string[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'];

export const DEFAULT_PREPROCESS: Readonly<PreprocessConfig> = {
  width: 640,
  height: 640,
  resize: 'letterbox',
  anchor: 'center',
  padValue: 114,
  scaleUp: true,
  shortestEdge: null,
  multipleOf: 32,
  maxSide: null,
  minWidth: null,
  channelOrder: 'rgb',
  channels: 3,
  ...SCALING.unit,
  layout: 'nchw',
  dtype: 'float32',
  kernel: 'linear',
  autoOrient: true,
  background: [255, 255, 255],
  // 40 Mpx: above any phone camera (a 48 Mpx sensor bins to 12 Mpx output) yet far below what makes
  // a decode take seconds; sharp's own default (0x3FFF × 0x3FFF ≈ 268 Mpx) is too generous for a server.
  maxPixels: 40_000_000,
  formats: DEFAULT_FORMATS,
  failOn: 'warning',
};

const KERNELS: readonly ResizeKernel[] = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'];
const FAIL_ON = ['none', 'truncated', 'error', 'warning'] as const;

function invalid(field: string, value: unknown, expected: string): never {
  const shown = Array.isArray(value)
    ? `[${value.join(', ')}]`
    : typeof value === 'string'
      ? `'${value}'`
      : String(value);
  throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid preprocess.${field} ${shown} (expected ${expected})`);
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    invalid(field, value, allowed.join(' | '));
  return value as T;
}

function positiveInt(field: string, value: unknown, nullable: boolean): number | null {
  if (value === null && nullable) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    invalid(field, value, nullable ? 'a positive integer or null' : 'a positive integer');
  return value;
}

function rgb(field: string, value: unknown, check: (v: number) => boolean, expected: string): Rgb {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && check(v)))
    invalid(field, value, expected);
  return [value[0], value[1], value[2]] as const;
}

const isByte = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 255;

/** Whether the scaling leaves pixel values as they are (what a uint8 tensor can hold). */
export function isIdentityScaling(c: Pick<PreprocessConfig, 'rescale' | 'mean' | 'std'>): boolean {
  return c.rescale === 1 && c.mean.every((m) => m === 0) && c.std.every((s) => s === 1);
}

/**
 * `base` with the layers over it, later ones winning field by field (undefined fields are ignored);
 * a field that `known` lacks is refused as an unknown `kind` option. Shared by the preprocess config
 * and the decode options.
 */
export function mergeLayers(
  kind: string,
  known: object,
  base: object,
  layers: ReadonlyArray<object | undefined>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const layer of layers) {
    if (layer === undefined) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (!Object.hasOwn(known, key)) {
        throw new RtinferError(
          'RTI_ERR_ARG_UNKNOWN',
          `unknown ${kind} option '${key}' (known: ${Object.keys(known).join(', ')})`,
        );
      }
      if (value !== undefined) merged[key] = value;
    }
  }
  return merged;
}

/** The index of the last layer that sets any of `keys`, or -1. */
function lastLayerSetting(layers: ReadonlyArray<object | undefined>, keys: readonly string[]): number {
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i] as Record<string, unknown> | undefined;
    if (l !== undefined && keys.some((k) => l[k] !== undefined)) return i;
  }
  return -1;
}

/**
 * A crop's `shortestEdge` that came with one size (a head's 256 for 224, torchvision's crop_pct
 * 0.875) and was then overridden by another size from a later layer (the model's input shape,
 * --imgsz): it keeps its ratio to the size it was given with, so a classifier at 320 reads shorter
 * side 366 instead of refusing (issue #14), one at 28 reads 32. undefined when the shortestEdge
 * was set at or after the size: it is the caller's, and checked as given.
 */
function rescaledShortestEdge(
  layers: ReadonlyArray<Partial<PreprocessConfig> | undefined>,
  edge: number,
  side: number,
): number | undefined {
  const at = lastLayerSetting(layers, ['shortestEdge']);
  if (at < 0 || at >= lastLayerSetting(layers, ['width', 'height'])) return undefined;
  const from = layers[at]!;
  const refSide =
    typeof from.width === 'number' && typeof from.height === 'number' ? Math.min(from.width, from.height) : undefined;
  return refSide === undefined || refSide <= 0 ? side : Math.max(side, Math.round((edge * side) / refSide));
}

/** Merges config layers, later ones winning field by field (undefined fields are ignored), and validates. */
export function resolvePreprocessConfig(
  ...layers: ReadonlyArray<Partial<PreprocessConfig> | undefined>
): PreprocessConfig {
  const m = mergeLayers('preprocess', DEFAULT_PREPROCESS, DEFAULT_PREPROCESS, layers) as unknown as PreprocessConfig;
  const width = positiveInt('width', m.width, true);
  const height = positiveInt('height', m.height, true);
  // A dynamic width with a fixed height is a text line; the other way round has no use.
  if (height === null && width !== null) invalid('height', m.height, 'a number when width is fixed');
  const padValue =
    typeof m.padValue === 'number'
      ? isByte(m.padValue)
        ? m.padValue
        : invalid('padValue', m.padValue, 'an integer 0..255 or [r, g, b]')
      : rgb('padValue', m.padValue, isByte, 'an integer 0..255 or [r, g, b]');
  const std = rgb('std', m.std, (v) => Number.isFinite(v) && v !== 0, 'three finite non-zero numbers');
  const config: PreprocessConfig = {
    width,
    height,
    resize: oneOf('resize', m.resize, ['letterbox', 'stretch', 'crop'] as const),
    anchor: oneOf('anchor', m.anchor, ['center', 'top-left'] as const),
    padValue,
    scaleUp: typeof m.scaleUp === 'boolean' ? m.scaleUp : invalid('scaleUp', m.scaleUp, 'true or false'),
    shortestEdge: positiveInt('shortestEdge', m.shortestEdge, true),
    multipleOf: positiveInt('multipleOf', m.multipleOf, false) as number,
    maxSide: positiveInt('maxSide', m.maxSide, true),
    minWidth: positiveInt('minWidth', m.minWidth, true),
    channelOrder: oneOf('channelOrder', m.channelOrder, ['rgb', 'bgr'] as const),
    channels:
      m.channels === 1 || m.channels === 3 || m.channels === 4
        ? m.channels
        : invalid('channels', m.channels, '1, 3 or 4'),
    rescale:
      typeof m.rescale === 'number' && Number.isFinite(m.rescale) && m.rescale > 0
        ? m.rescale
        : invalid('rescale', m.rescale, 'a positive number'),
    mean: rgb('mean', m.mean, Number.isFinite, 'three finite numbers'),
    std,
    layout: oneOf('layout', m.layout, ['nchw', 'nhwc'] as const),
    dtype: oneOf('dtype', m.dtype, ['float32', 'float16', 'uint8'] as const),
    kernel: oneOf('kernel', m.kernel, KERNELS),
    autoOrient: typeof m.autoOrient === 'boolean' ? m.autoOrient : invalid('autoOrient', m.autoOrient, 'true or false'),
    background: rgb('background', m.background, isByte, '[r, g, b] with integers 0..255'),
    maxPixels:
      typeof m.maxPixels === 'number' && Number.isInteger(m.maxPixels) && m.maxPixels > 0
        ? m.maxPixels
        : invalid('maxPixels', m.maxPixels, 'a positive integer'),
    formats:
      Array.isArray(m.formats) && m.formats.every((f) => typeof f === 'string')
        ? [...m.formats]
        : invalid('formats', m.formats, 'a list of format names'),
    failOn: oneOf('failOn', m.failOn, FAIL_ON),
  };
  if (config.dtype === 'uint8' && !isIdentityScaling(config)) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      'invalid preprocess.dtype uint8 with rescale/mean/std that change the values (a uint8 tensor holds raw ' +
        '0..255 pixels: use rescale 1, mean 0, std 1)',
    );
  }
  if (config.resize === 'crop' && width === null && height !== null)
    invalid('resize', config.resize, 'letterbox or stretch for a fixed height with a dynamic width');
  if (config.resize === 'crop' && config.shortestEdge !== null && width !== null && height !== null) {
    const fitted = rescaledShortestEdge(layers, config.shortestEdge, Math.min(width, height));
    if (fitted !== undefined) config.shortestEdge = fitted;
    else if (config.shortestEdge < Math.min(width, height))
      invalid('shortestEdge', config.shortestEdge, `at least the crop's shorter side ${Math.min(width, height)}`);
  }
  return config;
}

/** Per tensor-channel affine map value = pixel · scale[c] + offset[c], from rescale, mean and std. */
export function channelAffine(c: Pick<PreprocessConfig, 'rescale' | 'mean' | 'std'>): {
  scale: [number, number, number];
  offset: [number, number, number];
} {
  const scale: [number, number, number] = [0, 0, 0];
  const offset: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    scale[i] = c.rescale / c.std[i]!;
    offset[i] = -c.mean[i]! / c.std[i]!;
  }
  return { scale, offset };
}
