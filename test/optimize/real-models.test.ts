import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { inspectModel, parseOnnxModel } from '../../src/runtime/model-info.js';
import { encodeModel } from '../../src/runtime/onnx-schema.js';
import { createSession, readModel } from '../../src/runtime/session.js';
import { loadCalibrationFeeds } from '../../src/optimize/calibrate.js';
import { ortOptimized } from '../../src/optimize/optimize.js';
import { quantizeStatic } from '../../src/optimize/quantize.js';
import { OCR_CLS, SHARED_MODELS, sharedModel } from '../helpers/models.js';

const CALIB = path.join(SHARED_MODELS, '../images/calib');

function images(t: { skip(why: string): void }, n: number): string[] | undefined {
  if (!existsSync(CALIB)) {
    t.skip('../shared/images/calib not found: test skipped');
    return undefined;
  }
  return readdirSync(CALIB)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n)
    .map((f) => path.join(CALIB, f));
}

async function quantizeFile(file: string, calib: string[], method: 'minmax' | 'entropy') {
  const loaded = await readModel(file);
  const rt = await createSession(loaded);
  let feeds;
  try {
    feeds = await loadCalibrationFeeds(calib, rt, inspectModel(loaded.bytes, file).metadata, file);
  } finally {
    await rt.release();
  }
  return quantizeStatic(parseOnnxModel(loaded.bytes, file), feeds, { method });
}

test('yolox_nano (opset 11) calibrated on images: every Conv past the stem fuses to QLinearConv, each SiLU is one float QuickGelu, the stem and the head decode stay float', async (t) => {
  const file = sharedModel(t, 'yolox_nano.onnx');
  const calib = images(t, 2);
  if (file === undefined || calib === undefined) return;
  const r = await quantizeFile(file, calib, 'minmax');
  // Of its 113 Convs, the stem's two (up to the first depthwise Conv) stay float.
  assert.equal(r.quantizedOps['Conv'], 111);
  const reasons = [...r.plan.keptFloat.values()];
  assert.ok(
    reasons.every((why) => why === 'detection head decode' || why.startsWith('stem') || why.startsWith('SiLU')),
    reasons.join('; '),
  );
  // 103 SiLUs past the stem, two nodes each.
  assert.equal(reasons.filter((why) => why.startsWith('SiLU')).length, 206);
  const stem = reasons.filter((why) => why.startsWith('stem')).length;
  // The Focus slices and concat, the first Conv, its SiLU, and the depthwise Conv it feeds.
  assert.ok(stem >= 4, `stem nodes: ${stem}`);
  assert.ok(reasons.filter((why) => why === 'detection head decode').length >= 10, `head decode nodes`);
  const fused = Object.fromEntries(
    inspectModel(await ortOptimized(encodeModel(r.model)), 'opt').operators.map((o) => [o.opType, o.count]),
  );
  assert.equal(fused['com.microsoft.QLinearConv'], 111, JSON.stringify(fused));
  // The 103 written as QuickGelu and the stem's, which onnxruntime fuses itself; no int8 SiLU left.
  assert.equal(fused['com.microsoft.QuickGelu'], 104, JSON.stringify(fused));
  assert.equal(fused['com.microsoft.QLinearSigmoid'] ?? 0, 0, JSON.stringify(fused));
  assert.equal(fused['com.microsoft.QLinearMul'] ?? 0, 0, JSON.stringify(fused));
  // The float stem's two Convs, in onnxruntime's NCHWc layout.
  assert.equal((fused['Conv'] ?? 0) + (fused['com.microsoft.nchwc.Conv'] ?? 0), 2, JSON.stringify(fused));
});

test('the PP-OCR classifier (opset 9, weights in Constant nodes, BatchNormalization) quantizes with BN folded into its Convs, HardSwish /6 into scales', async (t) => {
  const calib = images(t, 2);
  if (calib === undefined) return;
  const r = await quantizeFile(OCR_CLS, calib, 'minmax');
  assert.equal(
    r.prepared.graph.node.filter((n) => n.op_type === 'BatchNormalization').length,
    0,
    'every BatchNormalization after a Conv folded',
  );
  assert.ok(r.quantizedOps['Conv']! >= 50, JSON.stringify(r.quantizedOps));
  const fused = Object.fromEntries(
    inspectModel(await ortOptimized(encodeModel(r.model)), 'opt').operators.map((o) => [o.opType, o.count]),
  );
  assert.ok(fused['com.microsoft.QLinearConv']! >= 50, JSON.stringify(fused));
  // 17 of its 18 HardSwish divisions by 6 fold into scales; the float stem keeps its own.
  assert.equal(r.plan.scaleDivs.size, 17);
  assert.equal(fused['Div'], 1, JSON.stringify(fused));
});
