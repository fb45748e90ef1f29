import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { resolvePreprocessConfig } from '../../src/vision/config.js';
import { DEFAULT_DECODE, resolveDecodeOptions } from '../../src/vision/decode-options.js';
import { decodeImage } from '../../src/vision/decode.js';
import { drawDetections } from '../../src/vision/draw.js';
import { preprocessBatch } from '../../src/vision/preprocess.js';
import type { RawImage } from '../../src/vision/types.js';
import { noiseJpeg, noisePng, rejectsWith, throwsWith } from './helpers.js';

const config = resolvePreprocessConfig({ width: 64, height: 64 });

test('a corrupt or truncated JPEG file is an IMAGE_DECODE error naming the file', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-vision-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const jpeg = await noiseJpeg(200, 150);
  const truncated = path.join(dir, 'truncated.jpg');
  writeFileSync(truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await rejectsWith(
    () => decodeImage(truncated, config),
    'RTI_ERR_IMAGE_DECODE',
    new RegExp(`^${truncated.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot decode image \\(.*premature end`),
  );
  // Garbage after a valid JPEG header.
  const corrupt = Buffer.concat([jpeg.subarray(0, 600), Buffer.alloc(4000, 0x55)]);
  await rejectsWith(() => decodeImage(corrupt, config), 'RTI_ERR_IMAGE_DECODE', /^<buffer>: cannot decode image/);
  // A tolerant decoder setting accepts the truncated file (the rest comes out grey).
  const lenient = await decodeImage(truncated, resolvePreprocessConfig({ width: 64, height: 64, failOn: 'none' }));
  assert.equal(lenient.pixels.width, 64);
});

test('bytes that are no image, an empty buffer and a format outside the allowed list are refused', async () => {
  await rejectsWith(
    () => decodeImage(Buffer.from('definitely not an image'), config),
    'RTI_ERR_IMAGE_UNSUPPORTED',
    /^<buffer>: not an image in a supported format/,
  );
  await rejectsWith(
    () => decodeImage(Buffer.alloc(0), config),
    'RTI_ERR_IMAGE_DECODE',
    /^<buffer>: empty image \(0 bytes\)/,
  );
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
  );
  await rejectsWith(
    () => decodeImage(svg, config),
    'RTI_ERR_IMAGE_UNSUPPORTED',
    /^<buffer>: svg images are not accepted \(accepted: jpeg, png, webp/,
  );
  const webp = await sharp(await noisePng(40, 30))
    .webp()
    .toBuffer();
  assert.equal((await decodeImage(webp, config)).format, 'webp');
  await rejectsWith(
    () => decodeImage(webp, resolvePreprocessConfig({ formats: ['jpeg'] })),
    'RTI_ERR_IMAGE_UNSUPPORTED',
    /webp images are not accepted \(accepted: jpeg\)/,
  );
});

test('zero-sized and inconsistent raw frames are IMAGE_DECODE errors', async () => {
  const frame = (f: Partial<RawImage>): RawImage =>
    ({ data: new Uint8Array(12), width: 2, height: 2, channels: 3, ...f }) as RawImage;
  await rejectsWith(
    () => decodeImage(frame({ width: 0, data: new Uint8Array(0) }), config),
    'RTI_ERR_IMAGE_DECODE',
    /^<frame>: zero-sized or invalid frame size 0x2/,
  );
  await rejectsWith(
    () => decodeImage(frame({ data: new Uint8Array(11) }), config),
    'RTI_ERR_IMAGE_DECODE',
    /^<frame>: frame data holds 11 bytes, 2x2x3 needs 12/,
  );
  await rejectsWith(
    () => decodeImage(frame({ channels: 5 as never, data: new Uint8Array(20) }), config),
    'RTI_ERR_IMAGE_DECODE',
    /5 channels/,
  );
  assert.equal((await decodeImage(frame({}), config)).pixels.width, 64);
});

test('an image over the pixel limit is refused before it is decoded', async () => {
  const small = resolvePreprocessConfig({ width: 64, height: 64, maxPixels: 10_000 });
  const png = await noisePng(200, 100);
  await rejectsWith(
    () => decodeImage(png, small),
    'RTI_ERR_IMAGE_TOO_LARGE',
    /^<buffer>: image is 200x100 = 20000 pixels, over the limit of 10000/,
  );
  await rejectsWith(
    () => decodeImage({ data: new Uint8Array(200 * 100 * 3), width: 200, height: 100, channels: 3 }, small),
    'RTI_ERR_IMAGE_TOO_LARGE',
    /^<frame>: frame is 200x100/,
  );
  // The default limit is 40 Mpx.
  assert.equal(config.maxPixels, 40_000_000);
  // A PNG header that claims 30000 x 30000 is refused from the header alone, in milliseconds.
  const huge = Buffer.from(await noisePng(10, 10));
  // Patch the IHDR chunk (width, height at bytes 16..23) and its CRC.
  huge.writeUInt32BE(30000, 16);
  huge.writeUInt32BE(30000, 20);
  huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
  const t0 = performance.now();
  await rejectsWith(() => decodeImage(huge, config), 'RTI_ERR_IMAGE_TOO_LARGE', /30000x30000 = 900000000 pixels/);
  assert.ok(performance.now() - t0 < 500);
});

test('a missing file or a directory is IMAGE_NOT_FOUND; a bad config names the field', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-vision-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'sub.jpg'));
  await rejectsWith(
    () => decodeImage(path.join(dir, 'nope.jpg'), config),
    'RTI_ERR_IMAGE_NOT_FOUND',
    /nope\.jpg: image file not found/,
  );
  await rejectsWith(
    () => decodeImage(path.join(dir, 'sub.jpg'), config),
    'RTI_ERR_IMAGE_NOT_FOUND',
    /sub\.jpg: is a directory/,
  );
  await rejectsWith(() => decodeImage(42 as never, config), 'RTI_ERR_IMAGE_DECODE', /must be a file path, a Buffer/);
  await rejectsWith(
    () => drawDetections(path.join(dir, 'nope.jpg'), []),
    'RTI_ERR_IMAGE_NOT_FOUND',
    /image file not found/,
  );
  throwsWith(
    () => resolvePreprocessConfig({ mean: [0, 0] as never }),
    'RTI_ERR_ARG_INVALID',
    /preprocess.mean \[0, 0\]/,
  );
  throwsWith(() => resolvePreprocessConfig({ std: [1, 0, 1] }), 'RTI_ERR_ARG_INVALID', /preprocess.std/);
  throwsWith(() => resolvePreprocessConfig({ dtype: 'uint8' }), 'RTI_ERR_ARG_INVALID', /uint8 with rescale/);
  throwsWith(
    () => resolvePreprocessConfig({ width: 10, height: null }),
    'RTI_ERR_ARG_INVALID',
    /preprocess.height null \(expected a number when width is fixed\)/,
  );
  throwsWith(
    () => resolvePreprocessConfig({ width: null, height: 48, resize: 'crop' }),
    'RTI_ERR_ARG_INVALID',
    /letterbox or stretch for a fixed height with a dynamic width/,
  );
  throwsWith(
    () => resolvePreprocessConfig({ colour: 'rgb' } as never),
    'RTI_ERR_ARG_UNKNOWN',
    /unknown preprocess option 'colour'/,
  );
});

test('bad decode options name the field; an unknown one is refused', () => {
  throwsWith(
    () => resolveDecodeOptions(DEFAULT_DECODE, { scoreThreshold: 1.5 }),
    'RTI_ERR_ARG_INVALID',
    /^invalid decode.scoreThreshold 1.5 \(expected a number from 0 to 1\)$/,
  );
  throwsWith(
    () => resolveDecodeOptions(DEFAULT_DECODE, { maxDetections: 2.5 }),
    'RTI_ERR_ARG_INVALID',
    /^invalid decode.maxDetections 2.5 \(expected a positive integer\)$/,
  );
  throwsWith(
    () => resolveDecodeOptions(DEFAULT_DECODE, { classes: [1, -1] }),
    'RTI_ERR_ARG_INVALID',
    /^invalid decode.classes \[1, -1\]/,
  );
  throwsWith(
    () => resolveDecodeOptions(DEFAULT_DECODE, { thresh: 0.5 } as never),
    'RTI_ERR_ARG_UNKNOWN',
    /^unknown decode option 'thresh' \(known: scoreThreshold, /,
  );
  // Later layers win; undefined fields leave the earlier value.
  assert.equal(
    resolveDecodeOptions(DEFAULT_DECODE, { scoreThreshold: 0.4 }, { scoreThreshold: undefined }).scoreThreshold,
    0.4,
  );
});

test('in a batch every kind of bad image fails its own item only', async () => {
  const good = await noisePng(80, 60);
  const batch = await preprocessBatch(
    [
      good,
      Buffer.from('junk'),
      Buffer.alloc(0),
      { data: new Uint8Array(0), width: 0, height: 0, channels: 3 },
      '/no/such/file.png',
      good,
    ],
    resolvePreprocessConfig({ width: 64, height: 64, maxPixels: 1_000_000 }),
  );
  assert.equal(batch.rows, 2);
  assert.deepEqual(
    batch.items.map((i) => (i.ok ? `row ${i.row}` : i.error.code)),
    [
      'row 0',
      'RTI_ERR_IMAGE_UNSUPPORTED',
      'RTI_ERR_IMAGE_DECODE',
      'RTI_ERR_IMAGE_DECODE',
      'RTI_ERR_IMAGE_NOT_FOUND',
      'row 1',
    ],
  );
  assert.deepEqual(
    batch.items.map((i) => i.source),
    ['<buffer>', '<buffer>', '<buffer>', '<frame>', '/no/such/file.png', '<buffer>'],
  );
});
