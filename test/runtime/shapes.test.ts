import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import type { TensorSpec } from '../../src/runtime/session.js';
import { parseShapeArg, resolveShapes } from '../../src/runtime/shapes.js';

const OCR: TensorSpec[] = [
  {
    name: 'x',
    dtype: 'float32',
    shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
  },
];
const SILERO: TensorSpec[] = [
  { name: 'input', dtype: 'float32', shape: ['', ''] },
  { name: 'state', dtype: 'float32', shape: [2, '', 128] },
  { name: 'sr', dtype: 'int64', shape: [] },
];

function throwsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof RtinferError && e.code === code && pattern.test(e.message));
}

test('--shape accepts name=AxBxC, commas, and a bare shape', () => {
  assert.deepEqual(parseShapeArg('x=1x3x640x640'), { name: 'x', dims: [1, 3, 640, 640] });
  assert.deepEqual(parseShapeArg('images=1,3,416,416'), { name: 'images', dims: [1, 3, 416, 416] });
  assert.deepEqual(parseShapeArg('2x512'), { dims: [2, 512] });
  assert.deepEqual(parseShapeArg('a=b=4'), { name: 'a=b', dims: [4] });
});

test('BAD CALL - malformed --shape values are refused', () => {
  for (const bad of ['x=', 'x=1x0x3', 'x=1xx3', 'x=-1x3', '=1x3', 'x=1.5x3', 'x=abc']) {
    throwsCode(() => parseShapeArg(bad), 'RTI_ERR_ARG_INVALID', /invalid --shape/);
  }
});

test('dynamic dimensions default to batch 1 and 640x640 images, and are reported', () => {
  const { shapes, defaulted } = resolveShapes(OCR, []);
  assert.deepEqual(shapes, { x: [1, 3, 640, 640] });
  assert.deepEqual(
    defaulted.map((d) => [d.index, d.symbol, d.value, d.why]),
    [
      [0, 'p2o.DynamicDimension.0', 1, 'batch'],
      [2, 'p2o.DynamicDimension.1', 640, 'image size'],
      [3, 'p2o.DynamicDimension.2', 640, 'image size'],
    ],
  );
  const custom = resolveShapes(OCR, [], { imageSize: [320, 480] });
  assert.deepEqual(custom.shapes['x'], [1, 3, 320, 480]);
});

test('a symbolic name shared by two inputs gets one value; user shapes win', () => {
  const specs: TensorSpec[] = [
    { name: 'ids', dtype: 'int64', shape: ['batch', 'sequence'] },
    { name: 'mask', dtype: 'int64', shape: ['batch', 'sequence'] },
  ];
  assert.deepEqual(resolveShapes(specs, []).shapes, { ids: [1, 128], mask: [1, 128] });
  assert.deepEqual(resolveShapes(specs, [{ name: 'ids', dims: [4, 32] }]).shapes, { ids: [4, 32], mask: [4, 32] });
});

test('unnamed dimensions and scalars resolve; fixed dimensions are kept', () => {
  const { shapes } = resolveShapes(SILERO, [{ name: 'input', dims: [1, 512] }]);
  assert.deepEqual(shapes, { input: [1, 512], state: [2, 1, 128], sr: [] });
});

test('BAD CALL - shapes that do not fit the model name the input and the dimension', () => {
  throwsCode(
    () => resolveShapes(OCR, [{ name: 'x', dims: [1, 3, 640] }]),
    'RTI_ERR_SHAPE_MISMATCH',
    /input 'x' 3 dimensions .* declares 4/,
  );
  throwsCode(
    () => resolveShapes(OCR, [{ name: 'x', dims: [1, 4, 640, 640] }]),
    'RTI_ERR_SHAPE_MISMATCH',
    /dimension 1 = 4, but the model fixes it at 3/,
  );
  throwsCode(
    () => resolveShapes(OCR, [{ name: 'y', dims: [1, 3, 64, 64] }]),
    'RTI_ERR_MODEL_INPUT_UNKNOWN',
    /'y', but the model's inputs are: x/,
  );
  throwsCode(
    () => resolveShapes(SILERO, [{ dims: [1, 512] }]),
    'RTI_ERR_ARG_INVALID',
    /needs an input name: the model has 3 inputs/,
  );
  assert.deepEqual(resolveShapes(OCR, [{ dims: [2, 3, 64, 96] }]).shapes, { x: [2, 3, 64, 96] });
});
