/**
 * Decoding with sharp (libvips): from an encoded image or a raw frame to HWC uint8 RGB pixels at
 * the size the tensor needs, in ONE libvips pipeline (orient, flatten alpha, resize, crop).
 *
 * Resizing in the same pipeline as the decode is what lets libvips shrink JPEGs and WebPs on load:
 * when the integral shrink is at least 2 on both axes, libjpeg decodes at 1/2, 1/4 or 1/8 scale
 * in the DCT domain and only the rest is resampled (sharp's pipeline.cc, fastShrinkOnLoad).
 * test/vision/preprocess-reference.test.ts checks that it happens (the pixels differ slightly
 * from a full-size decode followed by the same resize, as DCT scaling must make them).
 *
 * Failures become RtinferErrors that name the image (its path, "<buffer>" or "<frame>").
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { RtinferError, firstLine, type ErrorCode } from '../errors.js';
import type { PreprocessConfig } from './config.js';
import { planTransform, type ImageTransform } from './geometry.js';
import type { ImageSource, RawImage } from './types.js';

/** Decoded pixels, HWC interleaved, 3 channels (RGB), at `transform.content` size. */
export interface DecodedPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface DecodedImage {
  pixels: DecodedPixels;
  transform: ImageTransform;
  /** The encoded format as sharp names it ('jpeg', 'png', ...), or 'raw' for frames. */
  format: string;
  /** Reading the file (0 for bytes and frames). */
  readMs: number;
  /** Header parse, decode, orientation, alpha flattening, resize and crop in libvips. */
  decodeMs: number;
}

export function isRawImage(source: unknown): source is RawImage {
  return typeof source === 'object' && source !== null && !(source instanceof Uint8Array) && 'width' in source && 'data' in source;
}

/** How messages name an image. */
export function imageLabel(source: ImageSource): string {
  if (typeof source === 'string') return source;
  return isRawImage(source) ? '<frame>' : '<buffer>';
}

function fail(code: ErrorCode, label: string, problem: string, cause?: unknown): never {
  throw new RtinferError(code, `${label}: ${problem}`, cause === undefined ? undefined : { cause });
}

/** Turns a sharp/libvips failure into a one-line error that says what is wrong with the image. */
export function decodeError(label: string, error: unknown): RtinferError {
  if (error instanceof RtinferError) return error;
  const msg = firstLine(error);
  if (/unsupported image format/i.test(msg)) return new RtinferError('RTI_ERR_IMAGE_UNSUPPORTED', `${label}: not an image in a supported format (${msg})`, { cause: error });
  if (/pixel limit/i.test(msg)) return new RtinferError('RTI_ERR_IMAGE_TOO_LARGE', `${label}: image exceeds the pixel limit (${msg})`, { cause: error });
  return new RtinferError('RTI_ERR_IMAGE_DECODE', `${label}: cannot decode image (${msg})`, { cause: error });
}

export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'image file not found' : code === 'EISDIR' ? 'is a directory, not an image file' : code === 'EACCES' ? 'image file not readable' : `cannot read image file (${firstLine(error)})`;
    fail('RTI_ERR_IMAGE_NOT_FOUND', path, why, error);
  }
}

function checkRaw(frame: RawImage, label: string, config: PreprocessConfig): void {
  const { width, height, channels, data } = frame;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) fail('RTI_ERR_IMAGE_DECODE', label, 'frame data must be a Uint8Array or Uint8ClampedArray');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) fail('RTI_ERR_IMAGE_DECODE', label, `zero-sized or invalid frame size ${String(width)}x${String(height)}`);
  if (![1, 2, 3, 4].includes(channels)) fail('RTI_ERR_IMAGE_DECODE', label, `frame has ${String(channels)} channels (expected 1, 2, 3 or 4)`);
  if (data.length !== width * height * channels) fail('RTI_ERR_IMAGE_DECODE', label, `frame data holds ${data.length} bytes, ${width}x${height}x${channels} needs ${width * height * channels}`);
  if (width * height > config.maxPixels) fail('RTI_ERR_IMAGE_TOO_LARGE', label, `frame is ${width}x${height} = ${width * height} pixels, over the limit of ${config.maxPixels}`);
}

/** Image size after EXIF orientation (orientations 5..8 swap the axes). */
function orientedSize(meta: sharp.Metadata, autoOrient: boolean): { width: number; height: number } {
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (autoOrient && (meta.orientation ?? 1) >= 5) return { width: height, height: width };
  return { width, height };
}

/**
 * Decodes `source` into RGB pixels resized as `config` and the image's size say, with the transform
 * that maps tensor coordinates back to it.
 */
export async function decodeImage(source: ImageSource, config: PreprocessConfig): Promise<DecodedImage> {
  const label = imageLabel(source);
  const t0 = performance.now();
  let image: sharp.Sharp;
  let width: number;
  let height: number;
  let format: string;
  let readMs = 0;
  let t1: number;
  try {
    if (isRawImage(source)) {
      checkRaw(source, label, config);
      t1 = performance.now();
      image = sharp(source.data, { raw: { width: source.width, height: source.height, channels: source.channels }, limitInputPixels: config.maxPixels });
      width = source.width;
      height = source.height;
      format = 'raw';
    } else {
      let bytes: Uint8Array;
      if (typeof source === 'string') bytes = await readImageFile(source);
      else if (source instanceof Uint8Array) bytes = source;
      else fail('RTI_ERR_IMAGE_DECODE', label, 'an image must be a file path, a Buffer/Uint8Array or a raw frame { data, width, height, channels }');
      t1 = performance.now();
      readMs = t1 - t0;
      if (bytes.length === 0) fail('RTI_ERR_IMAGE_DECODE', label, 'empty image (0 bytes)');
      image = sharp(bytes, { limitInputPixels: config.maxPixels, failOn: config.failOn });
      // The header alone: format, size and orientation, needed to plan the resize exactly.
      const meta = await image.metadata();
      format = meta.format ?? 'unknown';
      if (!config.formats.includes(format)) {
        fail('RTI_ERR_IMAGE_UNSUPPORTED', label, `${format} images are not accepted (accepted: ${config.formats.join(', ')})`);
      }
      ({ width, height } = orientedSize(meta, config.autoOrient));
      if (width < 1 || height < 1) fail('RTI_ERR_IMAGE_DECODE', label, `zero-sized image ${width}x${height}`);
      if (width * height > config.maxPixels) {
        fail('RTI_ERR_IMAGE_TOO_LARGE', label, `image is ${width}x${height} = ${width * height} pixels, over the limit of ${config.maxPixels}`);
      }
    }
    const transform = planTransform(width, height, config);
    const { resized, content, cropX, cropY } = transform;
    const untouched = resized.width === width && resized.height === height && content.width === width && content.height === height;
    if (isRawImage(source) && source.channels === 3 && untouched) {
      // An RGB frame already at the input size needs no libvips round trip.
      const data = new Uint8Array(source.data.buffer, source.data.byteOffset, source.data.length);
      return { pixels: { data, width, height, channels: 3 }, transform, format, readMs, decodeMs: performance.now() - t1 };
    }
    let pipeline = config.autoOrient && format !== 'raw' ? image.rotate() : image;
    const [br, bg, bb] = config.background;
    pipeline = pipeline.flatten({ background: { r: br, g: bg, b: bb } });
    if (resized.width !== width || resized.height !== height) {
      pipeline = pipeline.resize(resized.width, resized.height, { fit: 'fill', kernel: config.kernel });
    }
    if (cropX !== 0 || cropY !== 0 || content.width !== resized.width || content.height !== resized.height) {
      pipeline = pipeline.extract({ left: cropX, top: cropY, width: content.width, height: content.height });
    }
    const { data, info } = await pipeline.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.width !== content.width || info.height !== content.height) {
      fail('RTI_ERR_IMAGE_DECODE', label, `decoder returned ${info.width}x${info.height}, expected ${content.width}x${content.height}`);
    }
    return {
      pixels: { data, width: info.width, height: info.height, channels: info.channels },
      transform,
      format,
      readMs,
      decodeMs: performance.now() - t1,
    };
  } catch (error) {
    throw decodeError(label, error);
  }
}
