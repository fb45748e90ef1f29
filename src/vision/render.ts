/**
 * Any head's result as a picture, for `--save`, `annotate=1` and the dashboard: detections (with
 * keypoints, masks and rotated boxes) and text boxes drawn over the image (draw.ts), semantic maps
 * tinted over it by class, and image-to-image outputs written as the image they are, a luminance
 * model's output given the input's chroma back (BT.601 full-range YCbCr, as JPEG and the ONNX model
 * zoo's super-resolution sample use). Classifications have no picture: undefined.
 */
import sharp from 'sharp';
import { decodeError, imageLabel, isRawImage, readImageFile } from './decode.js';
import { blendMask, drawDetections, PALETTE, type DrawOptions } from './draw.js';
import { classMask } from './masks.js';
import type { HeadResult, ImageOutput, ImageSource } from './types.js';

async function orientedRgb(
  image: ImageSource,
  width?: number,
  height?: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  let pipeline: sharp.Sharp;
  if (isRawImage(image))
    pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } });
  else pipeline = sharp(typeof image === 'string' ? await readImageFile(image) : image).rotate();
  pipeline = pipeline.removeAlpha().toColourspace('srgb');
  if (width !== undefined && height !== undefined)
    pipeline = pipeline.resize(width, height, { fit: 'fill', kernel: 'cubic' });
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return { data, width: info.width, height: info.height };
  // Grey sources: spread to RGB so one code path colours them.
  const rgb = Buffer.alloc(info.width * info.height * 3);
  for (let i = 0; i < info.width * info.height; i++)
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i * info.channels]!;
  return { data: rgb, width: info.width, height: info.height };
}

/** A model's output image; a luminance output gets the chroma of `source` resized to it. */
export async function composeImage(source: ImageSource, out: ImageOutput): Promise<Buffer> {
  const { width, height } = out;
  if (!out.luminance)
    return sharp(out.data, { raw: { width, height, channels: out.channels } })
      .png()
      .toBuffer();
  const { data } = await orientedRgb(source, width, height);
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const r = data[3 * i]!,
      g = data[3 * i + 1]!,
      b = data[3 * i + 2]!;
    const cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
    const cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
    const y = out.data[i]!;
    rgb[3 * i] = Math.min(255, Math.max(0, Math.round(y + 1.402 * cr)));
    rgb[3 * i + 1] = Math.min(255, Math.max(0, Math.round(y - 0.344136 * cb - 0.714136 * cr)));
    rgb[3 * i + 2] = Math.min(255, Math.max(0, Math.round(y + 1.772 * cb)));
  }
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** The picture of a result (PNG, or the input's format for drawn overlays), or undefined for a classification. */
export async function renderResult(
  image: ImageSource,
  r: HeadResult,
  options: DrawOptions = {},
): Promise<Buffer | undefined> {
  try {
    if (r.task === 'detect') return await drawDetections(image, r.detections, options);
    if (r.task === 'text') return await drawDetections(image, r.texts, options);
    if (r.task === 'image') return await composeImage(image, r.image);
    if (r.task === 'semantic') {
      const { data, width, height } = await orientedRgb(image);
      // Class 0 is background in the common label sets (VOC, Cityscapes' void aside): left untinted.
      for (const s of r.segments.filter((x) => x.classId !== 0))
        blendMask(data, width, height, 3, classMask(r.map, s.classId), PALETTE[s.classId % PALETTE.length]!);
      return await sharp(data, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer();
    }
    return undefined;
  } catch (error) {
    throw decodeError(imageLabel(image), error);
  }
}
