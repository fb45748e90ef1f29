/** Small float models and calibration data for the optimize tests, built with the test ONNX builder. */
import { Tensor } from 'onnxruntime-node';
import { buildModel, floatTensor, intAttribute, intsAttribute, node } from '../fixtures/onnx-builder.js';

/**
 * x [N,3,8,8] → Conv 3→4 (3x3, pad 1) → Relu → Conv 4→8 (1x1) → SiLU (Sigmoid, Mul) → MaxPool 2
 * → Flatten → Gemm 128→10 → Softmax → y [N,10]. Softmax is the "head decode" (after the last Gemm).
 */
export function smallCnn(opset = 13): Uint8Array {
  return buildModel({
    opset,
    nodes: [
      node(
        'Conv',
        ['x', 'W1', 'B1'],
        ['c1'],
        [intsAttribute('kernel_shape', [3, 3]), intsAttribute('pads', [1, 1, 1, 1])],
      ),
      node('Relu', ['c1'], ['r1']),
      node('Conv', ['r1', 'W2', 'B2'], ['c2'], [intsAttribute('kernel_shape', [1, 1])]),
      node('Sigmoid', ['c2'], ['s2']),
      node('Mul', ['c2', 's2'], ['m2']),
      node('MaxPool', ['m2'], ['p2'], [intsAttribute('kernel_shape', [2, 2]), intsAttribute('strides', [2, 2])]),
      node('Flatten', ['p2'], ['f']),
      node('Gemm', ['f', 'G', 'C'], ['logits'], [intAttribute('transB', 1)]),
      node('Softmax', ['logits'], ['y'], [intAttribute('axis', 1)]),
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: ['N', 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['N', 10] }],
    initializers: [
      scaled(floatTensor('W1', [4, 3, 3, 3]), 3),
      floatTensor('B1', [4]),
      scaled(floatTensor('W2', [8, 4, 1, 1]), 5),
      floatTensor('B2', [8]),
      scaled(floatTensor('G', [10, 128]), 2),
      floatTensor('C', [10]),
    ],
  });
}

/** A float scalar initializer (or one of the given dims). */
function scalar(name: string, v: number, dims: number[] = []): ReturnType<typeof floatTensor> {
  return { ...floatTensor(name, dims), raw_data: new Uint8Array(Float32Array.of(v).buffer) };
}

/**
 * x [1,3,8,8] → Conv 3→4 (3x3, pad 1) → HardSwish as PaddlePaddle exports it, c·Clip(c + 3, 0, 6) / 6
 * (Add, Clip, Mul, Div) → Conv 4→8 (1x1) → y. The Div by 6 is what int8 folds into scales.
 */
export function hardSwishCnn(): Uint8Array {
  return buildModel({
    opset: 13,
    nodes: [
      node(
        'Conv',
        ['x', 'W1', 'B1'],
        ['c'],
        [intsAttribute('kernel_shape', [3, 3]), intsAttribute('pads', [1, 1, 1, 1])],
      ),
      node('Add', ['c', 'three'], ['a']),
      node('Clip', ['a', 'zero', 'six'], ['k']),
      node('Mul', ['c', 'k'], ['m']),
      node('Div', ['m', 'six'], ['h']),
      node('Conv', ['h', 'W2', 'B2'], ['y'], [intsAttribute('kernel_shape', [1, 1])]),
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, 3, 8, 8] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, 8, 8, 8] }],
    initializers: [
      scaled(floatTensor('W1', [4, 3, 3, 3]), 30),
      floatTensor('B1', [4]),
      scaled(floatTensor('W2', [8, 4, 1, 1]), 5),
      floatTensor('B2', [8]),
      scalar('three', 3),
      scalar('zero', 0),
      scalar('six', 6),
    ],
  });
}

function scaled<T extends { raw_data?: Uint8Array }>(t: T, k: number): T {
  const v = new Float32Array(t.raw_data!.slice().buffer).map((x) => x * k);
  return { ...t, raw_data: new Uint8Array(v.buffer) };
}

/** Seeded inputs in [0, 1) (mulberry32), like normalised image pixels. */
export function randomFeeds(count: number, dims = [1, 3, 8, 8], seed = 7): Array<Record<string, Tensor>> {
  let a = seed;
  const r = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = dims.reduce((p, d) => p * d, 1);
  return Array.from({ length: count }, () => ({ x: new Tensor('float32', Float32Array.from({ length: n }, r), dims) }));
}
