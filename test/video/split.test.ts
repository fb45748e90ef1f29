import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { MjpegSplitter, RawFrameSplitter } from '../../src/video/split.js';

test('raw frames come out whole and in order whatever the chunk boundaries, a short tail is reported', () => {
  const frames = [0, 1, 2].map((k) => Buffer.alloc(12, k + 1));
  const stream = Buffer.concat([...frames, Buffer.alloc(5, 9)]);
  for (const size of [1, 5, 12, 13, 100]) {
    const s = new RawFrameSplitter(12);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(...s.push(stream.subarray(i, i + size)));
    assert.deepEqual(out, frames, `chunks of ${size}`);
    assert.equal(s.rest(), 5);
  }
  // Each frame is its own buffer: holding one while more arrive does not change it.
  const s = new RawFrameSplitter(2);
  const [a] = s.push(Buffer.from([1, 2]));
  s.push(Buffer.from([3, 4]));
  assert.deepEqual([...a!], [1, 2]);
});

test('MJPEG: concatenated JPEGs split exactly, across any chunking, with an EXIF-like nested JPEG kept inside its frame', async () => {
  const jpeg = (v: number): Promise<Buffer> =>
    sharp({ create: { width: 16, height: 8, channels: 3, background: { r: v, g: 0, b: 0 } } })
      .jpeg()
      .toBuffer();
  const [a, b] = await Promise.all([jpeg(10), jpeg(200)]);
  // A frame whose APP segment holds a whole small JPEG (as an EXIF thumbnail does).
  const thumb = await jpeg(50);
  const app1 = Buffer.concat([
    Buffer.from([0xff, 0xe1]),
    Buffer.from([(thumb.length + 2) >> 8, (thumb.length + 2) & 0xff]),
    thumb,
  ]);
  const c = Buffer.concat([b!.subarray(0, 2), app1, b!.subarray(2)]);
  const stream = Buffer.concat([Buffer.from('junk'), a!, c, a!]);
  for (const size of [1, 2, 3, 7, 64, 100_000]) {
    const s = new MjpegSplitter();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(...s.push(stream.subarray(i, i + size)));
    assert.deepEqual(out, [a, c, a], `chunks of ${size}`);
    assert.equal(s.pending(), false);
  }
  const s = new MjpegSplitter();
  s.push(a!.subarray(0, 50));
  assert.equal(s.pending(), true, 'a truncated JPEG is pending at the end');
  assert.throws(
    () => new MjpegSplitter(100).push(Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(200)])),
    /no end marker/,
  );
});
