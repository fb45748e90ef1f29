import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession } from 'onnxruntime-node';
import { inspectModel, parseOnnxModel } from '../../src/runtime/model-info.js';
import { encodeModel, type OnnxNode } from '../../src/runtime/onnx-schema.js';
import { planQdq, scaleDivisor } from '../../src/optimize/qdq-plan.js';
import { quantizeStatic } from '../../src/optimize/quantize.js';
import { ortOptimized } from '../../src/optimize/optimize.js';
import { nodeSensitivity } from '../../src/optimize/sensitivity.js';
import { identityModel } from '../fixtures/onnx-builder.js';
import { hardSwishCnn, randomFeeds, smallCnn } from './fixtures.js';

async function outputsOf(bytes: Uint8Array, feeds: ReturnType<typeof randomFeeds>): Promise<Float32Array[]> {
  const s = await InferenceSession.create(bytes);
  try {
    const out: Float32Array[] = [];
    for (const f of feeds) out.push((await s.run(f))['y']!.data as Float32Array);
    return out;
  } finally {
    await s.release();
  }
}

function ops(bytes: Uint8Array): Record<string, number> {
  return Object.fromEntries(inspectModel(bytes, 'm').operators.map((o) => [o.opType, o.count]));
}

test('the QDQ plan folds Relu into the Conv before it, shares MaxPool/Flatten scales and keeps SiLU and the head decode in float', () => {
  const plan = planQdq(parseOnnxModel(smallCnn(), 'cnn').graph);
  assert.deepEqual(
    plan.nodes.map((n) => n.op_type),
    ['Conv', 'Relu', 'Conv', 'MaxPool', 'Flatten', 'Gemm'],
  );
  // c1 (Conv → Relu only) gets no pair: the pair sits on the Relu output r1. The float SiLU reads
  // c2 through its pair and writes m2, which gets one for the MaxPool; its Sigmoid output none.
  assert.deepEqual(plan.activations, ['x', 'r1', 'c2', 'm2', 'p2', 'f', 'logits']);
  assert.equal(plan.sharesScaleWith.get('p2'), 'm2');
  assert.equal(plan.sharesScaleWith.get('f'), 'm2');
  assert.deepEqual(
    [...plan.keptFloat],
    [
      ['Sigmoid_s2', 'SiLU (one float QuickGelu)'],
      ['Mul_m2', 'SiLU (one float QuickGelu)'],
      ['Softmax_y', 'detection head decode'],
    ],
  );
  const all = planQdq(parseOnnxModel(smallCnn(), 'cnn').graph, { quantizeHead: true, quantizeSilu: true });
  assert.equal(all.keptFloat.size, 0);
  assert.deepEqual(
    all.nodes.map((n) => n.op_type),
    ['Conv', 'Relu', 'Conv', 'Sigmoid', 'Mul', 'MaxPool', 'Flatten', 'Gemm'],
  );
  assert.deepEqual(all.activations.slice(0, 5), ['x', 'r1', 'c2', 's2', 'm2']);
});

test('static int8 of a small CNN: onnxruntime fuses it into integer kernels and its outputs stay close to float', async () => {
  const float = smallCnn();
  const calib = randomFeeds(16);
  const r = await quantizeStatic(parseOnnxModel(float, 'cnn'), calib, { method: 'minmax' });
  const bytes = encodeModel(r.model);
  // Opset 13: standard-domain Q/DQ; per-channel weights carry axis 0.
  const counts = ops(bytes);
  assert.ok(counts['QuantizeLinear']! >= 7 && counts['DequantizeLinear']! >= 10, JSON.stringify(counts));
  assert.equal(counts['com.microsoft.QuantizeLinear'], undefined);
  const w1 = r.model.graph.initializer.find((t) => t.name === 'W1_quantized');
  assert.equal(w1?.data_type, 3, 'W1 stored as int8');
  assert.deepEqual(
    r.model.graph.initializer.find((t) => t.name === 'W1_scale')?.dims,
    [4],
    'one scale per output channel',
  );
  const fused = ops(await ortOptimized(bytes));
  assert.equal(fused['com.microsoft.QLinearConv'], 2, JSON.stringify(fused));
  assert.ok(
    (fused['com.microsoft.QGemm'] ?? 0) + (fused['com.microsoft.QLinearMatMul'] ?? 0) >= 1,
    JSON.stringify(fused),
  );
  assert.equal(fused['Relu'], undefined, 'Relu folded away by the Q after it');
  assert.equal(fused['Conv'], undefined);
  // The SiLU runs as one float QuickGelu between a DequantizeLinear and a QuantizeLinear.
  assert.equal(counts['com.microsoft.QuickGelu'], 1, JSON.stringify(counts));
  assert.equal(counts['Sigmoid'], undefined);
  assert.equal(fused['com.microsoft.QuickGelu'], 1, JSON.stringify(fused));
  assert.equal(fused['com.microsoft.QLinearSigmoid'], undefined);

  const test = randomFeeds(8, [1, 3, 8, 8], 99);
  const [a, b] = [await outputsOf(float, test), await outputsOf(bytes, test)];
  let err = 0;
  let ref = 0;
  a.forEach((x, i) => x.forEach((v, k) => ((err += Math.abs(v - b[i]![k]!)), (ref += Math.abs(v)))));
  assert.ok(err / ref < 0.05, `relative error ${err / ref}`);
  const top = (v: Float32Array): number => v.indexOf(Math.max(...v));
  assert.ok(a.filter((x, i) => top(x) === top(b[i]!)).length >= 7, 'top-1 agrees on at least 7 of 8');
});

test('SiLU: one float QuickGelu by default (com.microsoft imported even at opset 13); --quantize-silu makes it QLinearSigmoid + QLinearMul', async () => {
  const model = parseOnnxModel(smallCnn(), 'cnn');
  const feeds = randomFeeds(8);
  const byDefault = await quantizeStatic(model, feeds, {});
  assert.ok(byDefault.model.opset_import.some((o) => o.domain === 'com.microsoft'));
  const qg = byDefault.model.graph.node.find((n) => n.op_type === 'QuickGelu');
  assert.equal(qg?.attribute.find((a) => a.name === 'alpha')?.f, 1, 'alpha 1: x·sigmoid(x)');
  assert.deepEqual([qg?.input[0], qg?.output[0]], ['c2', 'm2_fq']);
  const int8 = await quantizeStatic(model, feeds, { quantizeSilu: true });
  assert.equal(int8.quantizedOps['Sigmoid'], 1);
  const fused = ops(await ortOptimized(encodeModel(int8.model)));
  assert.equal(fused['com.microsoft.QLinearSigmoid'], 1, JSON.stringify(fused));
  assert.equal(fused['com.microsoft.QLinearMul'], 1, JSON.stringify(fused));
  assert.equal(fused['com.microsoft.QuickGelu'], undefined);
  // Both compute what the float model does, within 8-bit error.
  const test = randomFeeds(8, [1, 3, 8, 8], 5);
  const ref = await outputsOf(smallCnn(), test);
  for (const r of [byDefault, int8]) {
    const out = await outputsOf(encodeModel(r.model), test);
    let err = 0;
    let sum = 0;
    ref.forEach((x, i) => x.forEach((v, k) => ((err += Math.abs(v - out[i]![k]!)), (sum += Math.abs(v)))));
    assert.ok(err / sum < 0.05, `relative error ${err / sum}`);
  }
});

test('a Div by a positive constant after a quantized Mul (HardSwish /6) folds into the scales: no Div runs', async () => {
  const float = hardSwishCnn();
  const model = parseOnnxModel(float, 'hswish');
  const r = await quantizeStatic(model, randomFeeds(16), {});
  assert.deepEqual([...r.plan.scaleDivs.values()], [6]);
  // No pair on the Mul output m: its Q writes m at 6·s, which the DQ of h reads back at s, as m / 6.
  assert.ok(!r.plan.activations.includes('m') && r.plan.activations.includes('h'), r.plan.activations.join());
  assert.equal(r.model.graph.node.filter((n) => n.op_type === 'Div').length, 0);
  const q = r.model.graph.node.find((n) => n.op_type === 'QuantizeLinear' && n.input[0] === 'h_fq')!;
  const dq = r.model.graph.node.find((n) => n.op_type === 'DequantizeLinear' && n.output[0] === 'h')!;
  const value = (name: string): number =>
    new Float32Array(r.model.graph.initializer.find((t) => t.name === name)!.raw_data!.slice().buffer)[0]!;
  assert.ok(Math.abs(value(q.input[1]!) / value(dq.input[1]!) - 6) < 1e-5);
  const fused = ops(await ortOptimized(encodeModel(r.model)));
  assert.equal(fused['Div'], undefined, JSON.stringify(fused));
  assert.equal(fused['com.microsoft.QLinearMul'], 1, JSON.stringify(fused));
  const test = randomFeeds(8, [1, 3, 8, 8], 3);
  const [a, b] = [await outputsOf(float, test), await outputsOf(encodeModel(r.model), test)];
  let err = 0;
  let sum = 0;
  a.forEach((x, i) => x.forEach((v, k) => ((err += Math.abs(v - b[i]![k]!)), (sum += Math.abs(v)))));
  assert.ok(err / sum < 0.05, `relative error ${err / sum}`);
  // A divisor that is not a positive constant scalar is not a scale.
  const index = r.plan.index;
  const div = (d: string): OnnxNode => ({ op_type: 'Div', input: ['m', d], output: ['h'], attribute: [] }) as OnnxNode;
  assert.equal(scaleDivisor(div('six'), index), 6);
  assert.equal(scaleDivisor(div('B1'), index), undefined, 'four values');
  assert.equal(scaleDivisor(div('zero'), index), undefined, 'not positive');
  assert.equal(scaleDivisor(div('c'), index), undefined, 'computed at run time');
});

test('opset 11 models get com.microsoft Q/DQ (per-channel axis needs opset 13 in the default domain) and still fuse', async () => {
  const r = await quantizeStatic(parseOnnxModel(smallCnn(11), 'cnn11'), randomFeeds(8), { method: 'entropy' });
  const bytes = encodeModel(r.model);
  assert.ok(r.model.opset_import.some((o) => o.domain === 'com.microsoft' && o.version === 1));
  assert.ok(ops(bytes)['com.microsoft.DequantizeLinear']! > 0);
  assert.equal(ops(await ortOptimized(bytes))['com.microsoft.QLinearConv'], 2);
});

test('--exclude keeps named nodes and op types in float; an unknown name is a one-line error', async () => {
  const model = parseOnnxModel(smallCnn(), 'cnn');
  const r = await quantizeStatic(model, randomFeeds(4), { names: ['Gemm', 'Conv_c2'], quantizeSilu: true });
  assert.deepEqual(Object.keys(r.quantizedOps).sort(), ['Conv', 'Flatten', 'MaxPool', 'Mul', 'Relu', 'Sigmoid']);
  assert.equal(r.quantizedOps['Conv'], 1);
  assert.equal(r.plan.keptFloat.get('Gemm_logits'), 'excluded');
  await assert.rejects(quantizeStatic(model, randomFeeds(1), { names: ['Foo'] }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'RTI_ERR_ARG_INVALID');
    assert.match(
      e.message,
      /^invalid --exclude 'Foo': no node or op type of that name in the model \(its op types: Conv, Flatten, Gemm, MaxPool, Mul, Relu, Sigmoid, Softmax\)$/,
    );
    return true;
  });
});

test('EXPECTED FAILURE - a model with no Conv, Gemm or MatMul has nothing to quantize', async () => {
  const m = parseOnnxModel(identityModel([{ name: 'x', dtype: 'float32', shape: [1, 4] }]), 'id');
  await assert.rejects(quantizeStatic(m, [], {}), { code: 'RTI_ERR_OPTIMIZE_NOTHING' });
  // Excluding every Conv of the CNN leaves nothing worth quantizing either.
  await assert.rejects(quantizeStatic(parseOnnxModel(smallCnn(), 'cnn'), randomFeeds(1), { names: ['Conv', 'Gemm'] }), {
    code: 'RTI_ERR_OPTIMIZE_NOTHING',
  });
});

test('sensitivity ranks every quantized Conv/Gemm with the activation kept in float along with it', async () => {
  const model = parseOnnxModel(smallCnn(), 'cnn');
  const feeds = randomFeeds(3);
  const full = await quantizeStatic(model, feeds, {});
  const s = await nodeSensitivity(model, feeds, full.ranges, {});
  assert.ok(s.baseline > 0 && s.baseline < 0.1, `baseline ${s.baseline}`);
  assert.deepEqual(s.nodes.map((n) => n.node).sort(), ['Conv_c1', 'Conv_c2', 'Gemm_logits']);
  const byName = Object.fromEntries(s.nodes.map((n) => [n.node, n]));
  assert.deepEqual(byName['Conv_c1']!.block, ['Conv_c1', 'Relu_r1']);
  assert.deepEqual(byName['Conv_c2']!.block, ['Conv_c2', 'Sigmoid_s2', 'Mul_m2']);
  for (const n of s.nodes) assert.ok(Math.abs(s.baseline - n.errorWithout - n.cost) < 1e-12);
  // Sorted by cost, and keeping a node in float cannot make the outputs much worse.
  for (let i = 1; i < s.nodes.length; i++) assert.ok(s.nodes[i - 1]!.cost >= s.nodes[i]!.cost);
  assert.ok(s.nodes.every((n) => n.errorWithout <= s.baseline * 1.5));
});
