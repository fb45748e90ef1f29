import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { drawDetections, overlaySvg } from '../../src/vision/draw.js';
import type { Detection } from '../../src/vision/types.js';
import { noiseJpeg } from './helpers.js';

const white = async (width: number, height: number): Promise<Buffer> =>
  sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();

async function pixel(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const p = (y * info.width + x) * info.channels;
  return [data[p]!, data[p + 1]!, data[p + 2]!];
}

test('drawDetections draws each box in its class colour on the image, keeping the format and size', async () => {
  const det: Detection = { label: 'cat', classId: 0, score: 0.91, box: [20, 40, 120, 140] };
  const out = await drawDetections(await white(200, 160), [det], { lineWidth: 2 });
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 200, 160, 3]);
  // Class 0 is #FF3838: on the left edge of the box, not inside it.
  const edge = await pixel(out, 20, 90);
  assert.ok(edge[0]! > 200 && edge[1]! < 120 && edge[2]! < 120, `edge pixel ${edge}`);
  assert.deepEqual(await pixel(out, 70, 100), [255, 255, 255]);
  // The label tag sits above the box.
  const tag = await pixel(out, 22, 30);
  assert.ok(tag[0]! > 200 && tag[1]! < 120, `tag pixel ${tag}`);
  const jpeg = await drawDetections(await noiseJpeg(64, 48), [det]);
  assert.equal((await sharp(jpeg).metadata()).format, 'jpeg');
});

test('text boxes with polygons are drawn as polygons; raw frames come back as PNG; labels escape XML', async () => {
  const svg = overlaySvg(100, 50, [
    { label: '<a & "b">', classId: 3, score: 0.5, box: [0, 0, 10, 10] },
    {
      score: 0.9,
      box: [5, 5, 40, 20],
      polygon: [
        [5, 5],
        [40, 5],
        [40, 20],
        [5, 20],
      ],
    },
  ]);
  assert.match(svg, /&lt;a &amp; &quot;b&quot;&gt; 0\.50/);
  assert.match(svg, /<polygon points="5\.0,5\.0 40\.0,5\.0 40\.0,20\.0 5\.0,20\.0"/);
  const frame = { data: new Uint8Array(40 * 30 * 3).fill(255), width: 40, height: 30, channels: 3 as const };
  const out = await drawDetections(frame, [{ score: 0.9, box: [5, 5, 30, 25] }], { labels: false, lineWidth: 2 });
  assert.equal((await sharp(out).metadata()).format, 'png');
  const edge = await pixel(out, 5, 15);
  assert.ok(edge[2]! > 200 && edge[0]! < 100, `text boxes are drawn in blue: ${edge}`);
});
