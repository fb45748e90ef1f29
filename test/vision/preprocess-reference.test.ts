import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { fromFloat16Bits, toFloat16Bits } from '../../src/runtime/float16.js';
import { resolvePreprocessConfig, SCALING, type PreprocessConfig } from '../../src/vision/config.js';
import { preprocess, preprocessBatch } from '../../src/vision/preprocess.js';
import type { ImageSource, VisionTensor } from '../../src/vision/types.js';
import { noiseJpeg, noisePng, noiseRgb } from './helpers.js';

/**
 * The straightforward way, written independently of src/vision: decode the whole image to raw RGB,
 * resize that raw buffer with sharp (no shrink-on-load is possible from raw), then place every
 * value with a naive per-pixel loop.
 */
async function reference(
  input: Buffer,
  c: PreprocessConfig,
): Promise<{ values: number[]; dims: number[]; origW: number; origH: number }> {
  const [br, bg, bb] = c.background;
  const full = await (c.autoOrient ? sharp(input).rotate() : sharp(input))
    .flatten({ background: { r: br, g: bg, b: bb } })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const w = full.info.width;
  const h = full.info.height;
  const W = c.width!;
  const H = c.height!;
  let rw = W,
    rh = H,
    padX = 0,
    padY = 0,
    cropX = 0,
    cropY = 0;
  if (c.resize === 'letterbox') {
    let r = Math.min(W / w, H / h);
    if (!c.scaleUp) r = Math.min(r, 1);
    rw = Math.round(w * r);
    rh = Math.round(h * r);
    if (c.anchor === 'center') {
      padX = Math.floor((W - rw) / 2);
      padY = Math.floor((H - rh) / 2);
    }
  } else if (c.resize === 'crop') {
    if (c.shortestEdge !== null) {
      rw = w <= h ? c.shortestEdge : Math.floor((c.shortestEdge * w) / h);
      rh = w <= h ? Math.floor((c.shortestEdge * h) / w) : c.shortestEdge;
    } else {
      const r = Math.max(W / w, H / h);
      rw = Math.round(w * r);
      rh = Math.round(h * r);
    }
    cropX = Math.round((rw - W) / 2);
    cropY = Math.round((rh - H) / 2);
  }
  const resized = await sharp(full.data, { raw: { width: w, height: h, channels: 3 } })
    .resize(rw, rh, { fit: 'fill', kernel: c.kernel })
    .raw()
    .toBuffer();
  const pad = typeof c.padValue === 'number' ? [c.padValue, c.padValue, c.padValue] : [...c.padValue];
  const order = c.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const values: number[] = new Array<number>(3 * W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let ch = 0; ch < 3; ch++) {
        const src = order[ch]!;
        const sx = x - padX + cropX;
        const sy = y - padY + cropY;
        const inside =
          sx >= 0 && sy >= 0 && sx < rw && sy < rh && x >= padX && x < padX + rw && y >= padY && y < padY + rh;
        const pixel = inside ? resized[(sy * rw + sx) * 3 + src]! : pad[src]!;
        const v = (pixel * c.rescale - c.mean[ch]!) / c.std[ch]!;
        const at = c.layout === 'nchw' ? ch * H * W + y * W + x : (y * W + x) * 3 + ch;
        values[at] =
          c.dtype === 'float16' ? fromFloat16Bits(toFloat16Bits(v)) : c.dtype === 'float32' ? Math.fround(v) : v;
      }
    }
  }
  return { values, dims: c.layout === 'nchw' ? [1, 3, H, W] : [1, H, W, 3], origW: w, origH: h };
}

function valuesOf(t: VisionTensor): Float64Array {
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = t.type === 'float16' ? fromFloat16Bits(t.data[i]!) : t.data[i]!;
  return out;
}

async function compare(input: Buffer, overrides: Partial<PreprocessConfig>, tolerance = 1e-5): Promise<void> {
  const c = resolvePreprocessConfig(overrides);
  const ref = await reference(input, c);
  const got = await preprocess(input, c);
  assert.deepEqual(got.tensor.dims, ref.dims);
  assert.equal(got.tensor.type, c.dtype);
  assert.deepEqual(got.transform.original, { width: ref.origW, height: ref.origH });
  const values = valuesOf(got.tensor);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < values.length; i++) {
    const d = Math.abs(values[i]! - ref.values[i]!) / Math.max(1, Math.abs(ref.values[i]!));
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  assert.ok(
    worst <= tolerance,
    `${JSON.stringify(overrides)}: element ${at} is ${values[at]}, reference ${ref.values[at]} (relative diff ${worst})`,
  );
}

test('letterbox (centred and top-left, with pad values) matches the straightforward reference element by element', async () => {
  const png = await noisePng(300, 200);
  await compare(png, { width: 128, height: 128, resize: 'letterbox', anchor: 'center', padValue: 114 });
  await compare(png, {
    width: 128,
    height: 96,
    resize: 'letterbox',
    anchor: 'top-left',
    padValue: [10, 20, 30],
    channelOrder: 'bgr',
    rescale: 1,
  });
  // A tall image in a wide tensor pads left and right; an odd remainder puts the extra column right.
  await compare(await noisePng(100, 160, 2), { width: 160, height: 120, resize: 'letterbox', anchor: 'center' });
  // scaleUp false keeps a small image at its size.
  await compare(await noisePng(60, 40, 3), {
    width: 128,
    height: 128,
    resize: 'letterbox',
    scaleUp: false,
    layout: 'nhwc',
  });
});

test('stretch and resize-then-centre-crop match the reference', async () => {
  const png = await noisePng(300, 200);
  await compare(png, {
    width: 160,
    height: 120,
    resize: 'stretch',
    rescale: 1,
    mean: [127, 127, 127],
    std: [128, 128, 128],
  });
  await compare(png, { width: 112, height: 112, resize: 'crop', shortestEdge: 128, ...SCALING.imagenet });
  await compare(png, { width: 100, height: 120, resize: 'crop', channelOrder: 'bgr', layout: 'nhwc' });
});

test('every scaling, channel order, layout and dtype matches the reference (float16 bit-exact in value)', async () => {
  const png = await noisePng(200, 150, 4);
  for (const dtype of ['float32', 'float16'] as const) {
    for (const layout of ['nchw', 'nhwc'] as const) {
      for (const channelOrder of ['rgb', 'bgr'] as const) {
        for (const scaling of [SCALING.unit, SCALING.raw, SCALING.imagenet, SCALING.symmetric]) {
          await compare(
            png,
            { width: 96, height: 64, resize: 'letterbox', dtype, layout, channelOrder, ...scaling },
            dtype === 'float16' ? 1e-3 : 1e-5,
          );
        }
      }
    }
  }
  await compare(png, { width: 96, height: 64, dtype: 'uint8', ...SCALING.raw, channelOrder: 'bgr' }, 0);
});

test('a JPEG within 2x of the target decodes exactly like the reference; EXIF orientation is applied first', async () => {
  await compare(await noiseJpeg(240, 160, 5), { width: 200, height: 200, resize: 'letterbox' });
  // Orientation 6 (rotate 90° clockwise): the oriented image is 160 wide and 240 tall. libvips
  // resamples before rotating when it can, so values may differ by one level (1/255) at most.
  const rotated = await noiseJpeg(240, 160, 6, 6);
  await compare(rotated, { width: 128, height: 128, resize: 'letterbox' }, 1.01 / 255);
  const got = await preprocess(rotated, resolvePreprocessConfig({ width: 128, height: 128 }));
  assert.deepEqual(got.transform.original, { width: 160, height: 240 });
  const raw = await preprocess(rotated, resolvePreprocessConfig({ width: 128, height: 128, autoOrient: false }));
  assert.deepEqual(raw.transform.original, { width: 240, height: 160 });
});

test('a JPEG much larger than the target shrinks on load: close to a full decode, but not identical', async () => {
  const big = await noiseJpeg(1600, 1200, 7);
  const c = resolvePreprocessConfig({ width: 200, height: 200, resize: 'letterbox', ...SCALING.raw });
  const ref = await reference(big, c);
  const got = valuesOf((await preprocess(big, c)).tensor);
  let sum = 0;
  let differing = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - ref.values[i]!);
    sum += d;
    if (d > 0) differing++;
  }
  // DCT-domain downscaling changes pixels slightly; a full decode then the same resize would be exact.
  assert.ok(
    differing > got.length / 100,
    `only ${differing} of ${got.length} values differ: shrink-on-load did not happen`,
  );
  assert.ok(sum / got.length < 3, `mean difference ${sum / got.length} levels is too large for the same image`);
  // The same image as PNG (no shrink-on-load for PNG) matches exactly.
  const png = await sharp(big).png({ compressionLevel: 1 }).toBuffer();
  await compare(png, { width: 200, height: 200, resize: 'letterbox', ...SCALING.raw }, 0);
});

test('transparent pixels are flattened onto the background colour', async () => {
  const rgba = noiseRgb(64, 32, 8, 4);
  const png = await sharp(rgba, { raw: { width: 64, height: 32, channels: 4 } })
    .png()
    .toBuffer();
  const c = resolvePreprocessConfig({
    width: 64,
    height: 32,
    resize: 'stretch',
    background: [255, 0, 0],
    ...SCALING.raw,
  });
  await compare(png, { width: 64, height: 32, resize: 'stretch', background: [255, 0, 0], ...SCALING.raw }, 0);
  const t = (await preprocess(png, c)).tensor.data;
  // Column 0 is fully transparent: red in the R plane, zero in G and B.
  assert.deepEqual([t[0], t[64 * 32], t[2 * 64 * 32]], [255, 0, 0]);
  // The same pixels as a raw RGBA frame give the same tensor.
  const frame = await preprocess({ data: rgba, width: 64, height: 32, channels: 4 }, c);
  assert.deepEqual(frame.tensor.data, t);
});

test('raw RGB and grey frames are accepted; an RGB frame at the input size is copied without resampling', async () => {
  const rgb = noiseRgb(48, 32, 9);
  const c = resolvePreprocessConfig({
    width: 48,
    height: 32,
    resize: 'stretch',
    ...SCALING.raw,
    layout: 'nhwc',
    dtype: 'uint8',
  });
  const same = await preprocess({ data: rgb, width: 48, height: 32, channels: 3 }, c);
  assert.deepEqual(Buffer.from(same.tensor.data), rgb);
  const grey = new Uint8Array(48 * 32).map((_, i) => i % 256);
  const g = await preprocess({ data: grey, width: 48, height: 32, channels: 1 }, c);
  for (let i = 0; i < grey.length; i++)
    assert.deepEqual(
      [g.tensor.data[3 * i], g.tensor.data[3 * i + 1], g.tensor.data[3 * i + 2]],
      [grey[i], grey[i], grey[i]],
    );
});

test('a batch is one tensor with each image at its offset; a bad image fails only its own item', async () => {
  const a = await noisePng(300, 200, 10);
  const b = await noiseJpeg(150, 220, 11);
  const c = resolvePreprocessConfig({ width: 96, height: 96, dtype: 'float16' });
  const sources: ImageSource[] = [a, Buffer.from('not an image'), b];
  const batch = await preprocessBatch(sources, c);
  assert.equal(batch.rows, 2);
  assert.deepEqual(batch.tensor.dims, [2, 3, 96, 96]);
  assert.deepEqual(
    batch.items.map((i) => i.ok),
    [true, false, true],
  );
  const item = batch.items[1]!;
  assert.ok(!item.ok && item.error.code === 'RTI_ERR_IMAGE_UNSUPPORTED' && item.source === '<buffer>');
  const len = 3 * 96 * 96;
  const one = await preprocess(a, c);
  const two = await preprocess(b, c);
  assert.deepEqual(batch.tensor.data.subarray(0, len), one.tensor.data);
  assert.deepEqual(batch.tensor.data.subarray(len, 2 * len), two.tensor.data);
  const padded = await preprocessBatch([a], c, { padTo: 4 });
  assert.deepEqual(padded.tensor.dims, [4, 3, 96, 96]);
  assert.ok(padded.tensor.data.subarray(len).every((v) => v === 0));
  // Writing into a given tensor at an item offset.
  const into = await preprocess(b, c, { into: { tensor: padded.tensor, item: 2 } });
  assert.equal(into.tensor, padded.tensor);
  assert.deepEqual(padded.tensor.data.subarray(2 * len, 3 * len), two.tensor.data);
});

test('dynamic sizes follow PP-OCR: longest side limited, each side rounded to a multiple of 32', async () => {
  const png = await noisePng(1000, 300, 12);
  const c = resolvePreprocessConfig({
    width: null,
    height: null,
    resize: 'stretch',
    maxSide: 960,
    multipleOf: 32,
    scaleUp: false,
  });
  const got = await preprocess(png, c);
  // 1000x300 scaled by 0.96 = 960x288: both already multiples of 32.
  assert.deepEqual(got.tensor.dims, [1, 3, 288, 960]);
  const small = await preprocess(await noisePng(100, 50, 13), c);
  // 100 → round(3.125) · 32 = 96; 50 → round(1.5625) · 32 = 64.
  assert.deepEqual(small.tensor.dims, [1, 3, 64, 96]);
  assert.ok(got.timing.decodeMs > 0 && got.timing.preprocessMs > 0);
});

test('grey, 16-bit and CMYK images decode to the same sRGB values as the reference', async () => {
  const rgb = noiseRgb(120, 80, 14);
  const base = sharp(rgb, { raw: { width: 120, height: 80, channels: 3 } });
  const grey = await base.clone().greyscale().png().toBuffer();
  const greyJpeg = await base.clone().greyscale().jpeg({ quality: 95 }).toBuffer();
  const deep = await base.clone().toColourspace('rgb16').png().toBuffer();
  const cmyk = await base.clone().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  assert.deepEqual((await sharp(deep).metadata()).depth, 'ushort');
  assert.deepEqual((await sharp(cmyk).metadata()).space, 'cmyk');
  for (const image of [grey, greyJpeg, cmyk])
    await compare(image, { width: 64, height: 64, resize: 'letterbox', ...SCALING.raw }, 0);
  // 16-bit: libvips resamples at 16 bits and then converts, the reference the other way round.
  await compare(deep, { width: 64, height: 64, resize: 'letterbox' }, 1.01 / 255);
});

test('the JavaScript JPEG header reader agrees with sharp on size and every EXIF orientation', async () => {
  const { readJpegHeader } = await import('../../src/vision/jpeg-header.js');
  for (let orientation = 1; orientation <= 8; orientation++) {
    const jpeg = await noiseJpeg(48, 40, orientation, orientation);
    const meta = await sharp(jpeg).metadata();
    assert.deepEqual(readJpegHeader(jpeg), {
      width: meta.width,
      height: meta.height,
      components: 3,
      orientation: meta.orientation ?? 1,
    });
    // And the decoded image is oriented as the reference orients it (libvips resamples before it
    // turns the image, so values may differ by one level).
    await compare(jpeg, { width: 32, height: 32, resize: 'stretch' }, 1.01 / 255);
  }
  const cmyk = await sharp(noiseRgb(16, 16), { raw: { width: 16, height: 16, channels: 3 } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  assert.equal(readJpegHeader(cmyk), undefined, 'CMYK goes to sharp');
  assert.equal(readJpegHeader(await noisePng(8, 8)), undefined);
  assert.equal(readJpegHeader(Buffer.from([0xff, 0xd8, 0xff])), undefined);
});
