import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../../src/errors.js';
import { listExecutionProviders } from '../../src/runtime/providers.js';
import { createSession, readModel } from '../../src/runtime/session.js';
import { toOrtOptions } from '../../src/runtime/session-options.js';
import { identityModel, weightsAsInputsModel } from '../fixtures/onnx-builder.js';
import { OCR_DET, SILERO, sharedModel } from '../helpers/models.js';

async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(
    async () => (typeof promise === 'function' ? promise() : promise),
    (e: unknown) => {
      assert.ok(e instanceof RtinferError, `expected RtinferError, got ${String(e)}`);
      assert.equal(e.code, code);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'error message must be one line');
      return true;
    },
  );
}

test('a model loads from a path and lists symbolic dimensions by name', async () => {
  const model = await readModel(OCR_DET);
  assert.ok(model.readMs >= 0 && model.bytes.length > 1_000_000);
  const rt = await createSession(model);
  assert.deepEqual(rt.inputs, [
    {
      name: 'x',
      dtype: 'float32',
      shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
    },
  ]);
  assert.equal(rt.outputs[0]?.shape[1], 1);
  assert.ok(rt.createMs > 0);
  await rt.release();
});

test('a model loads from bytes; unnamed dimensions come back as "" and scalars as []', async () => {
  const rt = await createSession(await readModel(new Uint8Array(readFileSync(SILERO))));
  const byName = Object.fromEntries(rt.inputs.map((i) => [i.name, i]));
  assert.deepEqual(byName['input']?.shape, ['', '']);
  assert.deepEqual(byName['state']?.shape, [2, '', 128]);
  assert.deepEqual(byName['sr'], { name: 'sr', dtype: 'int64', shape: [] });
  await rt.release();
});

test('weights listed as graph inputs are not model inputs (builder model and UltraFace RFB-320)', async (t) => {
  const rt = await createSession(await readModel(weightsAsInputsModel()));
  assert.deepEqual(
    rt.inputs.map((i) => i.name),
    ['x'],
  );
  await rt.release();
  const rfb = sharedModel(t, 'version-RFB-320.onnx');
  if (!rfb) return;
  const rt2 = await createSession(await readModel(rfb));
  assert.deepEqual(rt2.inputs, [{ name: 'input', dtype: 'float32', shape: [1, 3, 240, 320] }]);
  await rt2.release();
});

test('every tensor type onnxruntime-node accepts round-trips through a real session', async () => {
  const dtypes = [
    'float32',
    'float16',
    'float64',
    'int8',
    'int16',
    'int32',
    'int64',
    'uint8',
    'uint16',
    'uint32',
    'uint64',
    'bool',
    'string',
  ] as const;
  const rt = await createSession(
    await readModel(identityModel(dtypes.map((d) => ({ name: `in_${d}`, dtype: d, shape: ['batch', 3] })))),
  );
  assert.deepEqual(
    rt.inputs.map((i) => i.dtype),
    [...dtypes],
  );
  const values: Record<string, unknown[]> = {
    float32: [1.5, -2, 3],
    float16: [0x3c00, 0x4000, 0xc000],
    float64: [1e300, -1, 0.5],
    int8: [-128, 0, 127],
    int16: [-32768, 1, 32767],
    int32: [-(2 ** 31), 0, 2 ** 31 - 1],
    int64: [-(2n ** 63n), 0n, 2n ** 63n - 1n],
    uint8: [0, 128, 255],
    uint16: [0, 1, 65535],
    uint32: [0, 1, 2 ** 32 - 1],
    uint64: [0n, 1n, 2n ** 64n - 1n],
    bool: [1, 0, 1],
    string: ['a', '', 'ünï'],
  };
  const ctor: Record<string, (v: unknown[]) => unknown> = {
    float32: (v) => Float32Array.from(v as number[]),
    float16: (v) => Uint16Array.from(v as number[]),
    float64: (v) => Float64Array.from(v as number[]),
    int8: (v) => Int8Array.from(v as number[]),
    int16: (v) => Int16Array.from(v as number[]),
    int32: (v) => Int32Array.from(v as number[]),
    int64: (v) => BigInt64Array.from(v as bigint[]),
    uint8: (v) => Uint8Array.from(v as number[]),
    uint16: (v) => Uint16Array.from(v as number[]),
    uint32: (v) => Uint32Array.from(v as number[]),
    uint64: (v) => BigUint64Array.from(v as bigint[]),
    bool: (v) => Uint8Array.from(v as number[]),
    string: (v) => v,
  };
  const feeds: Record<string, Tensor> = {};
  for (const d of dtypes) feeds[`in_${d}`] = new Tensor(d, ctor[d]!(values[d]!) as never, [1, 3]);
  const out = await rt.session.run(feeds);
  for (const d of dtypes) {
    const got = out[`in_${d}_out`];
    assert.equal(got?.type, d);
    assert.deepEqual(
      Array.from(got?.data as ArrayLike<unknown>).map((x) => (typeof x === 'boolean' ? Number(x) : x)),
      values[d],
      d,
    );
  }
  await rt.release();
});

test('BAD CALL - a missing file, a directory and a non-ONNX file are named in one line', async () => {
  await rejectsWith(
    readModel('/nonexistent/model.onnx'),
    'RTI_ERR_MODEL_NOT_FOUND',
    /model file not found: \/nonexistent\/model\.onnx/,
  );
  await rejectsWith(readModel(os.tmpdir()), 'RTI_ERR_MODEL_NOT_FOUND', /is a directory/);
  const text = await readModel(new TextEncoder().encode('name,value\nthis is a csv file\n'));
  await rejectsWith(createSession(text), 'RTI_ERR_MODEL_NOT_ONNX', /is not an ONNX model/);
  await rejectsWith(
    createSession(await readModel(new Uint8Array(0))),
    'RTI_ERR_MODEL_NOT_ONNX',
    /is not an ONNX model/,
  );
  const truncated = await readModel(new Uint8Array(readFileSync(OCR_DET)).subarray(0, 50_000));
  await rejectsWith(createSession(truncated), 'RTI_ERR_MODEL_NOT_ONNX', /is not an ONNX model/);
});

test('BAD CALL - invalid session settings are refused with the setting named', async () => {
  const model = await readModel(SILERO);
  await rejectsWith(createSession(model, { intraOpThreads: -1 }), 'RTI_ERR_ARG_INVALID', /intraOpThreads: -1/);
  await rejectsWith(createSession(model, { interOpThreads: 1.5 }), 'RTI_ERR_ARG_INVALID', /interOpThreads: 1\.5/);
  await rejectsWith(
    createSession(model, { graphOptimizationLevel: 'max' as never }),
    'RTI_ERR_ARG_INVALID',
    /graphOptimizationLevel: 'max'/,
  );
  await rejectsWith(createSession(model, { executionMode: 'async' as never }), 'RTI_ERR_ARG_INVALID', /executionMode/);
  await rejectsWith(
    createSession(model, { freeDimensionOverrides: { batch: 0 } }),
    'RTI_ERR_ARG_INVALID',
    /freeDimensionOverrides\.batch/,
  );
  await rejectsWith(createSession(model, { executionProviders: [] }), 'RTI_ERR_ARG_INVALID', /empty/);
});

test('EXPECTED FAILURE - an execution provider missing from the binary is a clear usage error', async () => {
  const model = await readModel(SILERO);
  await rejectsWith(
    createSession(model, { executionProviders: ['nosuch'] }),
    'RTI_ERR_EP_UNAVAILABLE',
    /'nosuch' is not in this onnxruntime-node build .*it has: cpu/,
  );
  const cuda = listExecutionProviders().find((p) => p.name === 'cuda');
  if (cuda && !cuda.available) {
    await rejectsWith(
      createSession(model, { executionProviders: ['cuda'] }),
      'RTI_ERR_EP_UNAVAILABLE',
      /'cuda' is not available: .*libonnxruntime_providers_cuda/,
    );
  }
  assert.ok(listExecutionProviders().some((p) => p.name === 'cpu' && p.available));
});

test('session options reach onnxruntime: threads, modes, free dimensions, optimized model output', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-'));
  try {
    const out = path.join(dir, 'optimized.onnx');
    const opts = toOrtOptions({
      intraOpThreads: 1,
      interOpThreads: 1,
      executionMode: 'parallel',
      graphOptimizationLevel: 'basic',
      enableCpuMemArena: false,
      enableMemPattern: false,
      optimizedModelPath: out,
    });
    assert.equal(opts.intraOpNumThreads, 1);
    assert.equal(opts.logSeverityLevel, 4);
    assert.equal(opts.extra, undefined, 'spinning left to onnxruntime unless asked');
    const off = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
    assert.deepEqual(toOrtOptions({ allowSpinning: false }).extra, off);
    const rt = await createSession(
      await readModel(identityModel([{ name: 'x', dtype: 'float32', shape: ['batch', 2] }])),
      {
        intraOpThreads: 1,
        executionMode: 'parallel',
        graphOptimizationLevel: 'basic',
        freeDimensionOverrides: { batch: 2 },
        optimizedModelPath: out,
      },
    );
    assert.ok(existsSync(out), 'optimized model written');
    const res = await rt.session.run({ x: new Tensor('float32', new Float32Array([1, 2, 3, 4]), [2, 2]) });
    assert.deepEqual(Array.from(res['x_out']?.data as Float32Array), [1, 2, 3, 4]);
    await rt.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
