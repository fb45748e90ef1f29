/**
 * bench/preprocess: a 1920x1080 JPEG to a 640x640 letterboxed float32 NCHW tensor (Ultralytics
 * style: RGB, /255, centred, pad 114), rtinfer's path against the straightforward one, in one
 * process, interleaved (the order rotates every round, to spread drift on a shared machine).
 *
 *   straightforward  full-size decode with sharp to raw RGB; sharp resize of that raw buffer; a
 *                    per-pixel JavaScript loop (x / 255 into a fresh Float32Array, pad first)
 *   rtinfer          preprocess(): header, then ONE libvips pipeline (orient, flatten, resize with
 *                    JPEG shrink-on-load), then the typed-array pack loop, into the input tensor
 *                    the pipeline reuses between runs
 *   rtinfer, fresh   the same with a newly allocated tensor each time
 *
 * Both sides use the same resampling kernel ('linear') and libvips' operation cache is off, so the
 * difference is the method, not settings. The JPEG is coco139.jpg upscaled to 1920x1080 with sharp's
 * default encoder settings (quality 80, 4:2:0), or a noise+gradient image when ../shared is absent.
 *
 * Goal (issue): rtinfer <= 0.5x the straightforward time at p50.
 *
 *   npm run bench:preprocess
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { resolvePreprocessConfig } from '../src/vision/config.js';
import { allocateTensor } from '../src/vision/pack.js';
import { preprocess } from '../src/vision/preprocess.js';
import { quantile } from './support/quantile.js';

const S = 640;
const GOAL = 0.5;
const WARMUP = 10;
const ROUNDS = 200;
const source = fileURLToPath(new URL('../../shared/models/coco139.jpg', import.meta.url));

async function makeJpeg(): Promise<{ jpeg: Buffer; what: string }> {
  if (existsSync(source)) {
    const jpeg = await sharp(readFileSync(source)).resize(1920, 1080, { fit: 'fill' }).jpeg().toBuffer();
    return { jpeg, what: 'coco139.jpg upscaled' };
  }
  const w = 1920;
  const h = 1080;
  const raw = Buffer.alloc(w * h * 3);
  let seed = 1;
  for (let i = 0; i < raw.length; i += 3) {
    const x = (i / 3) % w;
    const y = Math.floor(i / 3 / w);
    seed = (seed * 1103515245 + 12345) >>> 0;
    const n = seed >>> 26;
    raw[i] = Math.min(255, (x * 255) / w + n);
    raw[i + 1] = Math.min(255, (y * 255) / h + n);
    raw[i + 2] = 128 + n;
  }
  return {
    jpeg: await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg()
      .toBuffer(),
    what: 'synthetic noise+gradient (../shared/models absent)',
  };
}

/** What one would write first: decode everything, resize, loop over every value. */
async function straightforward(jpeg: Buffer): Promise<Float32Array> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const r = Math.min(S / info.width, S / info.height);
  const nw = Math.round(info.width * r);
  const nh = Math.round(info.height * r);
  const resized = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
    .resize(nw, nh, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  const px = Math.floor((S - nw) / 2);
  const py = Math.floor((S - nh) / 2);
  const out = new Float32Array(3 * S * S).fill(114 / 255);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      for (let c = 0; c < 3; c++) out[c * S * S + (y + py) * S + (x + px)] = resized[(y * nw + x) * 3 + c]! / 255;
    }
  }
  return out;
}

async function main(): Promise<void> {
  sharp.cache(false);
  const { jpeg, what } = await makeJpeg();
  const config = resolvePreprocessConfig({
    width: S,
    height: S,
    resize: 'letterbox',
    anchor: 'center',
    padValue: 114,
    rescale: 1 / 255,
  });
  const reused = allocateTensor(config, 1, S, S);
  const decodeMs: number[] = [];
  const packMs: number[] = [];
  const paths: Record<string, () => Promise<Float32Array>> = {
    straightforward: () => straightforward(jpeg),
    rtinfer: async () => {
      const r = await preprocess(jpeg, config, { into: { tensor: reused, item: 0 } });
      decodeMs.push(r.timing.decodeMs);
      packMs.push(r.timing.preprocessMs);
      return r.tensor.data as Float32Array;
    },
    'rtinfer, fresh tensor': async () => (await preprocess(jpeg, config)).tensor.data as Float32Array,
  };
  const names = Object.keys(paths);

  // Same work: the tensors agree to within what shrink-on-load changes (a fraction of a level).
  const a = await paths['straightforward']!();
  const b = await paths['rtinfer']!();
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
  const meanDiff = (diff / a.length) * 255;

  console.log(
    `rtinfer bench:preprocess · 1920x1080 JPEG (${what}, ${(jpeg.length / 1024).toFixed(0)} KiB) → 640x640 letterboxed float32 NCHW`,
  );
  console.log(
    `  node ${process.version} · sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips} · libvips threads ${sharp.concurrency()} · ${os.availableParallelism()} cores · load ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log(
    `  ${WARMUP} warm-up rounds, then ${ROUNDS} rounds of each path, order rotating every round; mean difference between the tensors ${meanDiff.toFixed(3)} levels of 255`,
  );

  const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      const t0 = performance.now();
      await paths[name]!();
      const ms = performance.now() - t0;
      if (round >= WARMUP) times[name]!.push(ms);
    }
  }
  decodeMs.splice(0, decodeMs.length - ROUNDS);
  packMs.splice(0, packMs.length - ROUNDS);

  const stats = (xs: number[]): { p50: number; p99: number } => {
    const s = Float64Array.from(xs).sort();
    return { p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
  };
  const base = stats(times['straightforward']!);
  console.log('');
  console.log(
    `  ${'path'.padEnd(24)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'p50 ratio'.padStart(10)} ${'p99 ratio'.padStart(10)}`,
  );
  for (const name of names) {
    const s = stats(times[name]!);
    console.log(
      `  ${name.padEnd(24)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)} ${(s.p50 / base.p50).toFixed(2).padStart(9)}x ${(s.p99 / base.p99).toFixed(2).padStart(9)}x`,
    );
  }
  const d = stats(decodeMs);
  const p = stats(packMs);
  console.log(
    `  rtinfer stages: decode (header + libvips pipeline) p50 ${d.p50.toFixed(2)} ms, pack loop p50 ${p.p50.toFixed(2)} ms`,
  );
  console.log('');
  const ratio = stats(times['rtinfer']!).p50 / base.p50;
  console.log(
    `verdict: rtinfer / straightforward at p50 = ${ratio.toFixed(2)}x ${ratio <= GOAL ? '<=' : '>'} ${GOAL}x goal: ${ratio <= GOAL ? 'MET' : 'NOT MET'}`,
  );
  const fresh = stats(times['rtinfer, fresh tensor']!).p50 / base.p50;
  console.log(
    `verdict: with a fresh tensor per image = ${fresh.toFixed(2)}x ${fresh <= GOAL ? '<=' : '>'} ${GOAL}x goal: ${fresh <= GOAL ? 'MET' : 'NOT MET'}`,
  );
}

await main();
