/**
 * Decoding with sharp (libvips): from an encoded image or a raw frame to HWC uint8 RGB pixels at
 * the size the tensor needs, in ONE libvips pipeline (orient, flatten alpha, resize, crop).
 *
 * Resizing in the same pipeline as the decode is what lets libvips shrink JPEGs and WebPs on load:
 * libjpeg decodes at 1/2, 1/4 or 1/8 scale in the DCT domain and only the rest is resampled.
 * sharp 0.34 (src/pipeline.cc) picks the JPEG shrink from the smaller of the two axis factors and
 * drops one level when that factor's integer part equals the shrink (libjpeg rounding), so 1/2
 * needs a factor of 3 or more: 1920x1080 → 640x360 decodes at 960x540. EXIF rotation does not
 * prevent it (sharp swaps the target instead of rotating first). Entropy decoding is not scaled,
 * so the gain is modest: 7.5 ms for the shrunk decode plus resize of a 186 KiB 1920x1080 JPEG,
 * against 9.9 ms for its full-size decode alone (2-vCPU Xeon, sharp 0.34.5, libvips 8.17.3).
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
import { readJpegHeader } from './jpeg-header.js';
import type { ImageSource, RawImage } from './types.js';

/** Decoded pixels, HWC interleaved, RGB (3 channels) or grey (1), at `transform.content` size. */
export interface DecodedPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** A decode whose header is read and whose libvips pipeline is running. */
export interface PendingDecode {
  transform: ImageTransform;
  format: string;
  readMs: number;
  /** Resolves with the pixels and the time from the start (after reading) until they arrived. */
  pixels: Promise<{ pixels: DecodedPixels; decodeMs: number }>;
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
  return (
    typeof source === 'object' &&
    source !== null &&
    !(source instanceof Uint8Array) &&
    'width' in source &&
    'data' in source
  );
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
  if (/unsupported image format/i.test(msg))
    return new RtinferError('RTI_ERR_IMAGE_UNSUPPORTED', `${label}: not an image in a supported format (${msg})`, {
      cause: error,
    });
  if (/pixel limit/i.test(msg))
    return new RtinferError('RTI_ERR_IMAGE_TOO_LARGE', `${label}: image exceeds the pixel limit (${msg})`, {
      cause: error,
    });
  return new RtinferError('RTI_ERR_IMAGE_DECODE', `${label}: cannot decode image (${msg})`, { cause: error });
}

export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'image file not found'
        : code === 'EISDIR'
          ? 'is a directory, not an image file'
          : code === 'EACCES'
            ? 'image file not readable'
            : `cannot read image file (${firstLine(error)})`;
    fail('RTI_ERR_IMAGE_NOT_FOUND', path, why, error);
  }
}

function checkRaw(frame: RawImage, label: string, config: PreprocessConfig): void {
  const { width, height, channels, data } = frame;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray))
    fail('RTI_ERR_IMAGE_DECODE', label, 'frame data must be a Uint8Array or Uint8ClampedArray');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    fail('RTI_ERR_IMAGE_DECODE', label, `zero-sized or invalid frame size ${String(width)}x${String(height)}`);
  if (![1, 2, 3, 4].includes(channels))
    fail('RTI_ERR_IMAGE_DECODE', label, `frame has ${String(channels)} channels (expected 1, 2, 3 or 4)`);
  if (data.length !== width * height * channels)
    fail(
      'RTI_ERR_IMAGE_DECODE',
      label,
      `frame data holds ${data.length} bytes, ${width}x${height}x${channels} needs ${width * height * channels}`,
    );
  if (width * height > config.maxPixels)
    fail(
      'RTI_ERR_IMAGE_TOO_LARGE',
      label,
      `frame is ${width}x${height} = ${width * height} pixels, over the limit of ${config.maxPixels}`,
    );
}

/** What the resize plan and the pipeline need to know before decoding. */
interface Header {
  format: string;
  /** After EXIF orientation when autoOrient is on. */
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1: none). */
  orientation: number;
  hasAlpha: boolean;
  /** Whether libvips must convert to 8-bit sRGB (CMYK, 16-bit, Lab, ...); grey stays grey. */
  convert: boolean;
}

function oriented(
  width: number,
  height: number,
  orientation: number,
  autoOrient: boolean,
): { width: number; height: number } {
  // Orientations 5..8 turn the image by 90 degrees, swapping its axes.
  return autoOrient && orientation >= 5 ? { width: height, height: width } : { width, height };
}

async function readHeader(bytes: Uint8Array, config: PreprocessConfig): Promise<Header> {
  const jpeg = readJpegHeader(bytes);
  if (jpeg !== undefined) {
    return {
      format: 'jpeg',
      ...oriented(jpeg.width, jpeg.height, jpeg.orientation, config.autoOrient),
      orientation: jpeg.orientation,
      hasAlpha: false,
      convert: false,
    };
  }
  // Read without sharp's pixel limit so that an oversized image gets a message with its size.
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  const orientation = meta.orientation ?? 1;
  const space = meta.space ?? 'srgb';
  return {
    format: meta.format ?? 'unknown',
    ...oriented(meta.width ?? 0, meta.height ?? 0, orientation, config.autoOrient),
    orientation,
    hasAlpha: meta.hasAlpha === true,
    convert: meta.depth !== 'uchar' || (space !== 'srgb' && space !== 'b-w'),
  };
}

/** A frame resized and cropped upstream (ffmpeg): planned from its original size, used as it is. */
function prescaled(frame: RawImage, label: string, config: PreprocessConfig, t1: number): PendingDecode {
  const original = frame.original!;
  const transform = planTransform(original.width, original.height, config);
  const { content } = transform;
  if (
    frame.channels !== 3 ||
    frame.width !== content.width ||
    frame.height !== content.height ||
    frame.data.length !== content.width * content.height * 3
  ) {
    fail(
      'RTI_ERR_IMAGE_DECODE',
      label,
      `a prescaled frame of ${original.width}x${original.height} must be RGB ${content.width}x${content.height}, ` +
        `got ${frame.width}x${frame.height}x${frame.channels} (${frame.data.length} bytes)`,
    );
  }
  const data = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length);
  return {
    transform,
    format: 'raw',
    readMs: 0,
    pixels: Promise.resolve({
      pixels: { data, width: content.width, height: content.height, channels: 3 },
      decodeMs: performance.now() - t1,
    }),
  };
}

/**
 * Decodes `source` into RGB (or grey) pixels resized as `config` and the image's size say, with the
 * transform that maps tensor coordinates back to it.
 */
export async function decodeImage(source: ImageSource, config: PreprocessConfig): Promise<DecodedImage> {
  const pending = await beginDecode(source, config);
  const { pixels, decodeMs } = await pending.pixels;
  return { pixels, transform: pending.transform, format: pending.format, readMs: pending.readMs, decodeMs };
}

/**
 * Reads the header, plans the transform and starts the libvips pipeline, resolving as soon as the
 * plan is known: the caller can prepare the tensor (padding, allocation) on its own thread while
 * libvips decodes on the libuv pool.
 */
export async function beginDecode(source: ImageSource, config: PreprocessConfig): Promise<PendingDecode> {
  const label = imageLabel(source);
  const t0 = performance.now();
  try {
    if (isRawImage(source) && source.original !== undefined) return prescaled(source, label, config, performance.now());
    const { image, header, readMs, t1 } = isRawImage(source)
      ? openRaw(source, label, config)
      : await openEncoded(source, label, config, t0);
    const { width, height, format } = header;
    const transform = planTransform(width, height, config);
    const { resized, content } = transform;
    const untouched =
      resized.width === width && resized.height === height && content.width === width && content.height === height;
    if (isRawImage(source) && source.channels === 3 && untouched) {
      // An RGB frame already at the input size needs no libvips round trip.
      const data = new Uint8Array(source.data.buffer, source.data.byteOffset, source.data.length);
      return {
        transform,
        format,
        readMs,
        pixels: Promise.resolve({ pixels: { data, width, height, channels: 3 }, decodeMs: performance.now() - t1 }),
      };
    }
    const pixels = decodePixels(pipelineFor(image, header, transform, config), transform, label, t1);
    // A caller that fails before awaiting the pixels must not leave an unhandled rejection behind.
    pixels.catch(() => undefined);
    return { transform, format, readMs, pixels };
  } catch (error) {
    throw decodeError(label, error);
  }
}

/** An image opened in libvips, its header, and when reading it ended (decoding time starts there). */
interface Opened {
  image: sharp.Sharp;
  header: Header;
  readMs: number;
  t1: number;
}

function openRaw(source: RawImage, label: string, config: PreprocessConfig): Opened {
  checkRaw(source, label, config);
  const t1 = performance.now();
  const image = sharp(source.data, {
    raw: { width: source.width, height: source.height, channels: source.channels },
    limitInputPixels: config.maxPixels,
  });
  const header: Header = {
    format: 'raw',
    width: source.width,
    height: source.height,
    orientation: 1,
    hasAlpha: source.channels % 2 === 0,
    convert: false,
  };
  return { image, header, readMs: 0, t1 };
}

/** A file path or encoded bytes, read and checked against the config's formats and pixel limit. */
async function openEncoded(source: ImageSource, label: string, config: PreprocessConfig, t0: number): Promise<Opened> {
  let bytes: Uint8Array;
  if (typeof source === 'string') bytes = await readImageFile(source);
  else if (source instanceof Uint8Array) bytes = source;
  else
    fail(
      'RTI_ERR_IMAGE_DECODE',
      label,
      'an image must be a file path, a Buffer/Uint8Array or a raw frame { data, width, height, channels }',
    );
  const t1 = performance.now();
  if (bytes.length === 0) fail('RTI_ERR_IMAGE_DECODE', label, 'empty image (0 bytes)');
  const image = sharp(bytes, { limitInputPixels: config.maxPixels, failOn: config.failOn });
  const header = await readHeader(bytes, config);
  if (!config.formats.includes(header.format)) {
    fail(
      'RTI_ERR_IMAGE_UNSUPPORTED',
      label,
      `${header.format} images are not accepted (accepted: ${config.formats.join(', ')})`,
    );
  }
  const { width, height } = header;
  if (width < 1 || height < 1) fail('RTI_ERR_IMAGE_DECODE', label, `zero-sized image ${width}x${height}`);
  if (width * height > config.maxPixels) {
    fail(
      'RTI_ERR_IMAGE_TOO_LARGE',
      label,
      `image is ${width}x${height} = ${width * height} pixels, over the limit of ${config.maxPixels}`,
    );
  }
  return { image, header, readMs: t1 - t0, t1 };
}

/**
 * Only the operations this image needs: each costs a pass in libvips even when it changes nothing
 * (rotate, flatten and colourspace on a plain JPEG cost 0.4 ms of a 7 ms decode).
 */
function pipelineFor(
  image: sharp.Sharp,
  header: Header,
  transform: ImageTransform,
  config: PreprocessConfig,
): sharp.Sharp {
  const { width, height } = header;
  const { resized, content, cropX, cropY } = transform;
  let pipeline = image;
  if (config.autoOrient && header.orientation > 1) pipeline = pipeline.rotate();
  if (header.hasAlpha) {
    const [r, g, b] = config.background;
    pipeline = pipeline.flatten({ background: { r, g, b } });
  }
  if (resized.width !== width || resized.height !== height) {
    pipeline = pipeline.resize(resized.width, resized.height, { fit: 'fill', kernel: config.kernel });
  }
  if (cropX !== 0 || cropY !== 0 || content.width !== resized.width || content.height !== resized.height) {
    pipeline = pipeline.extract({ left: cropX, top: cropY, width: content.width, height: content.height });
  }
  if (header.convert) pipeline = pipeline.toColourspace('srgb');
  return pipeline;
}

/** Runs the pipeline to raw pixels, checked against the transform's content size. */
function decodePixels(
  pipeline: sharp.Sharp,
  { content }: ImageTransform,
  label: string,
  started: number,
): Promise<{ pixels: DecodedPixels; decodeMs: number }> {
  return pipeline
    .raw()
    .toBuffer({ resolveWithObject: true })
    .then(({ data, info }) => {
      if (
        info.width !== content.width ||
        info.height !== content.height ||
        (info.channels !== 1 && info.channels !== 3) ||
        data.length !== info.width * info.height * info.channels
      ) {
        fail(
          'RTI_ERR_IMAGE_DECODE',
          label,
          `decoder returned ${info.width}x${info.height}x${info.channels} (${data.length} bytes), ` +
            `expected ${content.width}x${content.height} RGB or grey`,
        );
      }
      return {
        pixels: { data, width: info.width, height: info.height, channels: info.channels },
        decodeMs: performance.now() - started,
      };
    })
    .catch((error: unknown) => {
      throw decodeError(label, error);
    });
}
