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

test('yolox_nano (opset 11) calibrated on images: every Conv fuses to QLinearConv, the SiLUs to QLinearSigmoid/QLinearMul, the head decode stays float', async (t) => {
  const file = sharedModel(t, 'yolox_nano.onnx');
  const calib = images(t, 2);
  if (file === undefined || calib === undefined) return;
  const r = await quantizeFile(file, calib, 'minmax');
  assert.equal(r.quantizedOps['Conv'], 113);
  assert.ok([...r.plan.keptFloat.values()].every((why) => why === 'detection head decode'));
  assert.ok(r.plan.keptFloat.size >= 10, `head decode nodes: ${r.plan.keptFloat.size}`);
  const fused = Object.fromEntries(
    inspectModel(await ortOptimized(encodeModel(r.model)), 'opt').operators.map((o) => [o.opType, o.count]),
  );
  assert.equal(fused['com.microsoft.QLinearConv'], 113, JSON.stringify(fused));
  assert.ok(
    fused['com.microsoft.QLinearSigmoid']! >= 100 && fused['com.microsoft.QLinearMul']! >= 100,
    JSON.stringify(fused),
  );
  assert.equal(fused['Conv'], undefined);
});

test('the PP-OCR classifier (opset 9, weights in Constant nodes, BatchNormalization) quantizes with BN folded into its Convs', async (t) => {
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
});
