import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { RtinferError } from '../../src/errors.js';
import { inspectModel, type ModelInfo } from '../../src/runtime/model-info.js';
import { TensorDataType, decodeModel, encodeModel } from '../../src/runtime/onnx-schema.js';
import {
  buildModel,
  convMatMulGemmModel,
  CONV_MATMUL_GEMM,
  floatTensor,
  graphAttribute,
  identityModel,
  modelObject,
  node,
  tensorAttribute,
  weightsAsInputsModel,
} from '../fixtures/onnx-builder.js';
import { OCR_DET as PPOCR_DET, ROOT, SHARED_MODELS as SHARED, SILERO } from '../helpers/models.js';

const HAS_SHARED = existsSync(SHARED);
const SKIP_SHARED = '../shared/models not found';

function operatorCount(info: ModelInfo, opType: string): number {
  return info.operators.find((o) => o.opType === opType)?.count ?? 0;
}

function sumOfOperators(info: ModelInfo): number {
  return info.operators.reduce((sum, o) => sum + o.count, 0);
}

// Deterministic pseudo-random bytes (mulberry32), so a failure can be replayed.
function randomBytes(length: number, seed: number): Uint8Array {
  let state = seed >>> 0;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

function assertNotOnnx(bytes: Uint8Array, label: string, reason?: RegExp): void {
  assert.throws(
    () => inspectModel(bytes, label),
    (error: unknown) => {
      assert.ok(error instanceof RtinferError, `expected RtinferError, got ${String(error)}`);
      assert.equal(error.code, 'RTI_ERR_MODEL_NOT_ONNX');
      assert.ok(error.message.startsWith(`${label} is not an ONNX model (`), error.message);
      assert.ok(error.message.endsWith(')'), error.message);
      assert.ok(!error.message.includes('\n'), 'message must be one line');
      if (reason) assert.match(error.message, reason);
      return true;
    },
  );
}

test('PP-OCRv4 det shows its symbolic dims as their dim_param names', () => {
  const bytes = readFileSync(PPOCR_DET);
  const info = inspectModel(bytes, 'det.onnx');
  assert.deepEqual(info.inputs, [
    {
      name: 'x',
      dtype: 'float32',
      shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
    },
  ]);
  assert.equal(info.outputs.length, 1);
  assert.equal(info.outputs[0]?.shape[1], 1);
  assert.deepEqual(info.opsetImports, [{ domain: 'ai.onnx', version: 11 }]);
  assert.equal(info.irVersion, 8);
  assert.equal(info.weightInputs, 0);
  assert.equal(operatorCount(info, 'Conv'), 62);
  assert.equal(info.nodeCount, sumOfOperators(info));
  assert.equal(info.externalData, false);
});

test('parameters include Constant-node weights, which hold all of PP-OCRv4 det weights', () => {
  const bytes = readFileSync(PPOCR_DET);
  const info = inspectModel(bytes, 'det.onnx');
  // Paddle exports keep every weight in a Constant node (no initializers at all), and the weights
  // are nearly the whole file: the byte total must land just under the file size.
  assert.equal(decodeModel(bytes).graph?.initializer.length, 0);
  assert.equal(info.parameters.tensors, operatorCount(info, 'Constant'));
  assert.ok(info.parameters.bytes < bytes.length, `${info.parameters.bytes} < ${bytes.length}`);
  assert.ok(info.parameters.bytes > 0.95 * bytes.length, `${info.parameters.bytes} ≈ ${bytes.length}`);
  assert.ok(info.parameters.count > 1_000_000 && info.parameters.count < 1_300_000, String(info.parameters.count));
});

test('silero VAD shows unnamed dims as empty strings and sr as an int64 scalar', () => {
  const info = inspectModel(readFileSync(SILERO), 'silero_vad.onnx');
  assert.deepEqual(info.inputs, [
    { name: 'input', dtype: 'float32', shape: ['', ''] },
    { name: 'state', dtype: 'float32', shape: [2, '', 128] },
    { name: 'sr', dtype: 'int64', shape: [] },
  ]);
  assert.deepEqual(
    info.outputs.map((o) => o.name),
    ['output', 'stateN'],
  );
  assert.equal(info.producerName, 'spox');
});

test('operators inside If branches are counted, not only the main graph', () => {
  const bytes = readFileSync(SILERO);
  const info = inspectModel(bytes, 'silero_vad.onnx');
  const mainGraphNodes = decodeModel(bytes).graph?.node.length ?? 0;
  assert.equal(mainGraphNodes, 5);
  assert.ok(info.nodeCount > 100, `nodeCount ${info.nodeCount} should include subgraph nodes`);
  assert.equal(info.nodeCount, sumOfOperators(info));
  // The main graph has one If; the rest sit inside the branches.
  assert.ok(operatorCount(info, 'If') > 1);
  assert.ok(operatorCount(info, 'Conv') > 0, 'the convolutions live in the If branches');
});

test('yolox_nano shows images [1,3,416,416], opset 11 and its published 0.91M parameters', (t) => {
  if (!HAS_SHARED) {
    t.skip(SKIP_SHARED);
    return;
  }
  const bytes = readFileSync(`${SHARED}yolox_nano.onnx`);
  const info = inspectModel(bytes, 'yolox_nano.onnx');
  assert.deepEqual(info.inputs, [{ name: 'images', dtype: 'float32', shape: [1, 3, 416, 416] }]);
  assert.deepEqual(info.outputs, [{ name: 'output', dtype: 'float32', shape: [1, 3549, 85] }]);
  assert.deepEqual(info.opsetImports, [{ domain: 'ai.onnx', version: 11 }]);
  assert.equal(info.producerName, 'pytorch');
  assert.equal(info.operators[0]?.opType, 'Conv');
  // The YOLOX README lists YOLOX-Nano at 0.91M parameters.
  assert.ok(info.parameters.count > 0.89e6 && info.parameters.count < 0.93e6, String(info.parameters.count));
  // float32 weights plus a few int64 shape constants: about 4 bytes each, and nearly the whole file.
  assert.ok(info.parameters.bytes >= info.parameters.count * 4 && info.parameters.bytes < bytes.length);
  assert.ok(info.parameters.bytes > 0.98 * bytes.length);
});

test('version-RFB-320 lists weights as graph inputs, but only input is a model input', (t) => {
  if (!HAS_SHARED) {
    t.skip(SKIP_SHARED);
    return;
  }
  const bytes = readFileSync(`${SHARED}version-RFB-320.onnx`);
  const info = inspectModel(bytes, 'version-RFB-320.onnx');
  assert.deepEqual(info.inputs, [{ name: 'input', dtype: 'float32', shape: [1, 3, 240, 320] }]);
  const graphInputs = decodeModel(bytes).graph?.input.length ?? 0;
  assert.ok(info.weightInputs > 100);
  assert.equal(info.weightInputs, graphInputs - 1);
  assert.equal(info.irVersion, 4);
  assert.deepEqual(
    info.outputs.map((o) => o.name),
    ['scores', 'boxes'],
  );
});

test('decoding then encoding a real model reproduces the file byte for byte', (t) => {
  // A wrong field number, wire type or packing would change the bytes, so this checks the schema
  // against files written by real exporters (PyTorch, Paddle, spox).
  const files = [PPOCR_DET, SILERO];
  if (HAS_SHARED) files.push(`${SHARED}yolox_nano.onnx`, `${SHARED}version-RFB-320.onnx`);
  else t.diagnostic(`${SKIP_SHARED}: checked the npm models only`);
  for (const file of files) {
    const bytes = readFileSync(file);
    const again = encodeModel(decodeModel(bytes));
    assert.equal(Buffer.compare(Buffer.from(again), bytes), 0, `${file} changed on re-encoding`);
  }
});

test('raw_data comes back as a view into the file, so a 112 MB model decodes without a copy', () => {
  const size = 112 * 1024 * 1024;
  const bytes = encodeModel(
    modelObject({
      nodes: [node('Identity', ['w'], ['y'])],
      inputs: [],
      outputs: [{ name: 'y', dtype: 'float32', shape: [size / 4] }],
      initializers: [{ name: 'w', dims: [size / 4], data_type: TensorDataType.FLOAT, raw_data: new Uint8Array(size) }],
    }),
  );
  const before = process.memoryUsage().arrayBuffers;
  const model = decodeModel(bytes);
  const grown = process.memoryUsage().arrayBuffers - before;
  const raw = model.graph?.initializer[0]?.raw_data;
  assert.ok(raw !== undefined);
  assert.equal(raw.byteLength, size);
  assert.equal(raw.buffer, bytes.buffer, 'raw_data must share the input buffer');
  assert.ok(grown < 16 * 1024 * 1024, `decoding allocated ${grown} bytes of ArrayBuffers`);
  assert.deepEqual(inspectModel(bytes, 'big.onnx').parameters, { count: size / 4, bytes: size, tensors: 1 });
});

test('builder Conv/MatMul/Gemm model has the hand-computed parameter count', () => {
  const info = inspectModel(convMatMulGemmModel(), 'cmg.onnx');
  assert.deepEqual(info.parameters, CONV_MATMUL_GEMM.parameters);
  assert.deepEqual(info.inputs, [{ name: 'x', dtype: 'float32', shape: ['N', 3, 8, 8] }]);
  assert.deepEqual(info.outputs, [{ name: 'y', dtype: 'float32', shape: ['N', 10] }]);
  assert.equal(info.nodeCount, 5);
  assert.deepEqual(
    info.operators.map((o) => o.opType),
    ['Constant', 'Conv', 'Gemm', 'MatMul', 'Reshape'],
  );
  assert.deepEqual(info.opsetImports, [{ domain: 'ai.onnx', version: 17 }]);
});

test('an initializer listed as a graph input counts as a weight input, not a model input', () => {
  const info = inspectModel(weightsAsInputsModel(), 'w.onnx');
  assert.deepEqual(
    info.inputs.map((i) => i.name),
    ['x'],
  );
  assert.equal(info.weightInputs, 1);
  assert.equal(info.irVersion, 4);
  assert.deepEqual(info.parameters, { count: 8, bytes: 32, tensors: 1 });
});

test('every onnxruntime-node dtype round-trips through the model file and through ORT', async () => {
  const samples: Record<string, Tensor> = {
    float32: new Tensor('float32', Float32Array.from([1.5, -2]), [2]),
    float16: new Tensor('float16', Uint16Array.from([0x3c00, 0xc000]), [2]),
    float64: new Tensor('float64', Float64Array.from([1.5, -2]), [2]),
    int8: new Tensor('int8', Int8Array.from([1, -2]), [2]),
    int16: new Tensor('int16', Int16Array.from([1, -2]), [2]),
    int32: new Tensor('int32', Int32Array.from([1, -2]), [2]),
    int64: new Tensor('int64', BigInt64Array.from([1n, -2n]), [2]),
    uint8: new Tensor('uint8', Uint8Array.from([1, 2]), [2]),
    uint16: new Tensor('uint16', Uint16Array.from([1, 2]), [2]),
    uint32: new Tensor('uint32', Uint32Array.from([1, 2]), [2]),
    uint64: new Tensor('uint64', BigUint64Array.from([1n, 2n]), [2]),
    bool: new Tensor('bool', Uint8Array.from([1, 0]), [2]),
    string: new Tensor('string', ['a', 'bc'], [2]),
  };
  const specs = Object.keys(samples).map((dtype) => ({ name: `in_${dtype}`, dtype, shape: [2] }));
  const bytes = identityModel(specs);
  const info = inspectModel(bytes, 'identity.onnx');
  assert.deepEqual(info.inputs, specs);

  // ORT reading the same bytes must agree on every type: proves our dtype codes are the real ones.
  const session = await InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const feeds = Object.fromEntries(Object.entries(samples).map(([dtype, tensor]) => [`in_${dtype}`, tensor]));
    const results = await session.run(feeds);
    for (const [dtype, tensor] of Object.entries(samples)) {
      const out = results[`in_${dtype}_out`];
      assert.equal(out?.type, dtype);
      assert.deepEqual(Array.from(out?.data as ArrayLike<unknown>), Array.from(tensor.data as ArrayLike<unknown>));
    }
  } finally {
    await session.release();
  }
});

test('external-data initializers count from their dims and set externalData', () => {
  const model = modelObject({
    nodes: [node('MatMul', ['x', 'w'], ['y'])],
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 1000] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, 10] }],
  });
  const external = {
    name: 'w',
    dims: [1000, 10],
    data_type: TensorDataType.FLOAT16,
    data_location: 1,
    external_data: [
      { key: 'location', value: 'weights.bin' },
      { key: 'offset', value: '0' },
      { key: 'length', value: '20000' },
    ],
  };
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializer: [external] } });
  const info = inspectModel(bytes, 'ext.onnx');
  assert.equal(info.externalData, true);
  assert.deepEqual(info.parameters, { count: 10_000, bytes: 20_000, tensors: 1 });
});

test('custom-domain operators are prefixed with their domain and subgraph weights are counted', () => {
  const branch = (op: string, out: string) => ({
    name: `${op}_branch`,
    node: [
      node('Constant', [], [`${out}_c`], [tensorAttribute('value', floatTensor(`${out}_cv`, [3]))]),
      node(op, ['x', `${out}_c`], [out]),
    ],
    output: [{ name: out }],
  });
  const bytes = buildModel({
    nodes: [
      node('FusedConv', ['x'], ['f'], [], 'com.microsoft'),
      node(
        'Constant',
        [],
        ['cond'],
        [tensorAttribute('value', { name: 'c', dims: [], data_type: TensorDataType.BOOL, int32_data: [1] })],
      ),
      node(
        'If',
        ['cond'],
        ['y'],
        [graphAttribute('then_branch', branch('Add', 'a')), graphAttribute('else_branch', branch('Mul', 'm'))],
      ),
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: [3] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [3] }],
    initializers: [floatTensor('unused', [2, 2])],
    extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
    metadata: { imgsz: '[640, 640]', names: "{0: 'person'}", stride: '32', task: 'detect' },
  });
  const info = inspectModel(bytes, 'custom.onnx');
  assert.equal(operatorCount(info, 'com.microsoft.FusedConv'), 1);
  assert.equal(operatorCount(info, 'Constant'), 3);
  assert.equal(operatorCount(info, 'Add'), 1);
  assert.equal(operatorCount(info, 'Mul'), 1);
  assert.equal(info.nodeCount, 7);
  assert.deepEqual(info.operators[0], { opType: 'Constant', count: 3 });
  // unused 2x2 float + bool scalar + two 3-float branch constants.
  assert.deepEqual(info.parameters, { count: 4 + 1 + 3 + 3, bytes: 16 + 1 + 12 + 12, tensors: 4 });
  assert.deepEqual(info.opsetImports, [
    { domain: 'ai.onnx', version: 17 },
    { domain: 'com.microsoft', version: 1 },
  ]);
  assert.deepEqual(info.metadata, { imgsz: '[640, 640]', names: "{0: 'person'}", stride: '32', task: 'detect' });
});

test('a text file is not an ONNX model', () => {
  assertNotOnnx(readFileSync(`${ROOT}package.json`), 'package.json');
  assertNotOnnx(Buffer.from('hello world, this is plain text\n'.repeat(20)), 'notes.txt');
});

test('a JPEG image is not an ONNX model', (t) => {
  const jpeg = `${SHARED}coco139.jpg`;
  if (!existsSync(jpeg)) t.diagnostic(`${SKIP_SHARED}: using random bytes instead of a JPEG`);
  const bytes = existsSync(jpeg) ? readFileSync(jpeg) : randomBytes(160_000, 139);
  assertNotOnnx(bytes, 'coco139.jpg');
});

test('random bytes are not an ONNX model, whatever the seed', () => {
  for (let seed = 1; seed <= 200; seed++)
    assertNotOnnx(randomBytes(1 + ((seed * 97) % 4096), seed), `random-${seed}.bin`);
});

test('an empty file is not an ONNX model', () => {
  assertNotOnnx(new Uint8Array(0), 'empty.onnx', /\(empty file\)$/);
});

test('a truncated model is not an ONNX model', () => {
  const bytes = readFileSync(PPOCR_DET);
  assertNotOnnx(bytes.subarray(0, Math.floor(bytes.length / 2)), 'half.onnx');
  assertNotOnnx(bytes.subarray(0, bytes.length - 1), 'short.onnx');
});

test('a protobuf without a plausible ir_version or without a graph is not an ONNX model', () => {
  const model = modelObject({ nodes: [], inputs: [], outputs: [] });
  assertNotOnnx(encodeModel({ ...model, ir_version: 99 }), 'ir99.onnx', /implausible ir_version 99/);
  assertNotOnnx(encodeModel({ ...model, ir_version: undefined }), 'noir.onnx', /no ir_version/);
  assertNotOnnx(encodeModel({ ...model, graph: undefined }), 'nograph.onnx', /no graph/);
});
