import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import { DTYPES, type NumericArray, type TensorDType } from '../../src/runtime/dtypes.js';
import { fromFloat16Bits, toFloat16Bits } from '../../src/runtime/float16.js';
import { buildSamples, parseInputArg } from '../../src/runtime/inputs.js';
import { encodeNpy, parseNpy, parseRawBin } from '../../src/runtime/npy.js';
import type { TensorSpec } from '../../src/runtime/session.js';
import { createRng, syntheticData } from '../../src/runtime/synthetic.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rtinfer-inputs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const NUMERIC: TensorDType[] = [
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
];

function isCode(code: string, pattern: RegExp) {
  return (e: unknown) =>
    e instanceof RtinferError && e.code === code && pattern.test(e.message) && !e.message.includes('\n');
}

test('float16 conversion matches IEEE half values, with round-to-nearest-even', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [1e6, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [-0, 0x8000],
  ];
  for (const [x, bits] of cases) assert.equal(toFloat16Bits(x), bits, `${x}`);
  assert.equal(toFloat16Bits(1 + 2 ** -11), 0x3c00, 'tie rounds to even');
  assert.equal(toFloat16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie rounds to even (up)');
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
  for (let bits = 0; bits < 0x7c00; bits += 97) assert.equal(toFloat16Bits(fromFloat16Bits(bits)), bits);
});

test('random data is seeded, in range, and distinct per seed; zeros are zeros', () => {
  for (const dtype of [...NUMERIC, 'string'] as TensorDType[]) {
    const a = syntheticData(dtype, [4, 8], 'random', createRng(7));
    const b = syntheticData(dtype, [4, 8], 'random', createRng(7));
    const c = syntheticData(dtype, [4, 8], 'random', createRng(8));
    assert.deepEqual(a, b, `${dtype} same seed`);
    assert.notDeepEqual(a, c, `${dtype} other seed`);
    assert.equal(a.length, 32);
    const z = syntheticData(dtype, [4, 8], 'zeros', createRng(7));
    assert.ok(
      Array.from(z as ArrayLike<unknown>).every((v) => v === 0 || v === 0n || v === ''),
      `${dtype} zeros`,
    );
  }
  const f = syntheticData('float32', [1000], 'random', createRng(1)) as Float32Array;
  assert.ok(f.every((v) => v >= 0 && v < 1));
  const bools = syntheticData('bool', [1000], 'random', createRng(1)) as Uint8Array;
  assert.ok(bools.every((v) => v === 0 || v === 1));
});

test('.npy files round-trip for every numeric dtype', () => {
  for (const dtype of NUMERIC) {
    const data = syntheticData(dtype, [2, 3, 5], 'random', createRng(3)) as NumericArray;
    const parsed = parseNpy(encodeNpy(dtype, [2, 3, 5], data), `${dtype}.npy`);
    assert.equal(parsed.dtype, dtype);
    assert.deepEqual(parsed.dims, [2, 3, 5]);
    assert.deepEqual(parsed.data, data);
  }
  const scalar = parseNpy(encodeNpy('int64', [], BigInt64Array.of(16000n)), 'sr.npy');
  assert.deepEqual(scalar.dims, []);
  assert.equal(scalar.data[0], 16000n);
});

test('BAD CALL - unusable .npy and .bin files are refused with the file named', () => {
  const good = encodeNpy('float32', [4], Float32Array.of(1, 2, 3, 4));
  assert.throws(
    () => parseNpy(new TextEncoder().encode('hello world'), 'a.npy'),
    isCode('RTI_ERR_INPUT_DATA', /a\.npy .*magic/),
  );
  assert.throws(
    () => parseNpy(good.subarray(0, good.length - 4), 'b.npy'),
    isCode('RTI_ERR_INPUT_DATA', /b\.npy .*data bytes/),
  );
  const header = new TextDecoder('latin1').decode(good);
  const enc = (h: string) => Uint8Array.from(h, (c) => c.charCodeAt(0));
  assert.throws(
    () => parseNpy(enc(header.replace("'<f4'", "'>f4'")), 'c.npy'),
    isCode('RTI_ERR_INPUT_DATA', /dtype '>f4'/),
  );
  assert.throws(
    () => parseNpy(enc(header.replace("'fortran_order': False", "'fortran_order': True ")), 'd.npy'),
    isCode('RTI_ERR_INPUT_DATA', /Fortran/),
  );
  assert.throws(
    () => parseRawBin(new Uint8Array(10), 'float32', [1, 3], 'e.bin'),
    isCode('RTI_ERR_INPUT_DATA', /e\.bin has 10 bytes, but float32 \[1,3\] needs 12/),
  );
  assert.deepEqual(
    parseRawBin(new Uint8Array(Float32Array.of(1, 2, 3).buffer), 'float32', [1, 3], 'f.bin'),
    Float32Array.of(1, 2, 3),
  );
});

test('--input values parse as fills, files and numeric constants', () => {
  assert.deepEqual(parseInputArg('zeros'), { fill: 'zeros' });
  assert.deepEqual(parseInputArg('x=img.npy'), { file: { name: 'x', path: 'img.npy' } });
  assert.deepEqual(parseInputArg('./dir/a=b.bin'), { file: { path: './dir/a=b.bin' } });
  assert.deepEqual(parseInputArg('sr=16000'), { constant: { name: 'sr', value: 16000 } });
  assert.deepEqual(parseInputArg('data.npy'), { file: { path: 'data.npy' } });
});

const SPECS: TensorSpec[] = [
  { name: 'x', dtype: 'float32', shape: ['batch', 3, 'h', 'w'] },
  { name: 'sr', dtype: 'int64', shape: [] },
];

test('a sample set rotates through distinct random samples; constants and zeros are fixed', async () => {
  const set = await buildSamples(
    SPECS,
    { x: [1, 3, 4, 4], sr: [] },
    { fill: 'random', files: [], constants: [{ name: 'sr', value: 16000 }], samples: 8, seed: 1 },
  );
  assert.equal(set.samples.length, 8);
  const firsts = new Set(set.samples.map((s) => (s['x']?.data as Float32Array)[0]));
  assert.equal(firsts.size, 8, 'each sample differs');
  assert.ok(set.samples.every((s) => s['sr']?.data[0] === 16000n && s['sr']?.dims.length === 0));
  const zeros = await buildSamples(
    SPECS,
    { x: [1, 3, 4, 4], sr: [] },
    { fill: 'zeros', files: [], samples: 8, seed: 1 },
  );
  assert.equal(zeros.samples.length, 1, 'identical zero samples are not repeated');
});

test('inputs load from .npy (its shape wins) and .bin files, rotating over several files', async () => {
  const a = path.join(dir, 'a.npy');
  const b = path.join(dir, 'b.npy');
  writeFileSync(a, encodeNpy('float32', [1, 3, 2, 2], new Float32Array(12).fill(1)));
  writeFileSync(b, encodeNpy('float32', [1, 3, 2, 2], new Float32Array(12).fill(2)));
  const bin = path.join(dir, 'sr.bin');
  writeFileSync(bin, new Uint8Array(BigInt64Array.of(8000n).buffer));
  const set = await buildSamples(
    SPECS,
    { x: [1, 3, 640, 640], sr: [] },
    {
      fill: 'random',
      files: [
        { name: 'x', path: a },
        { name: 'x', path: b },
        { name: 'sr', path: bin },
      ],
      samples: 8,
      seed: 1,
    },
  );
  assert.deepEqual(set.shapes['x'], [1, 3, 2, 2]);
  assert.deepEqual(
    set.samples.map((s) => (s['x']?.data as Float32Array)[0]),
    [1, 2],
  );
  assert.equal(set.samples[1]?.['sr']?.data[0], 8000n);
});

test('BAD CALL - input files that do not fit the model are refused', async () => {
  const wrongType = path.join(dir, 'int.npy');
  writeFileSync(wrongType, encodeNpy('int32', [1, 3, 2, 2], new Int32Array(12)));
  const wrongShape = path.join(dir, 'shape.npy');
  writeFileSync(wrongShape, encodeNpy('float32', [1, 4, 2, 2], new Float32Array(16)));
  const shapes = { x: [1, 3, 2, 2], sr: [] };
  const plan = (files: Array<{ name?: string; path: string }>) => ({
    fill: 'random' as const,
    files,
    samples: 2,
    seed: 1,
  });
  await assert.rejects(
    buildSamples(SPECS, shapes, plan([{ name: 'x', path: wrongType }])),
    isCode('RTI_ERR_INPUT_DATA', /holds int32, but input 'x' takes float32/),
  );
  await assert.rejects(
    buildSamples(SPECS, shapes, plan([{ name: 'x', path: wrongShape }])),
    isCode('RTI_ERR_SHAPE_MISMATCH', /dimension 1 = 4/),
  );
  await assert.rejects(
    buildSamples(SPECS, shapes, plan([{ name: 'x', path: path.join(dir, 'missing.npy') }])),
    isCode('RTI_ERR_INPUT_DATA', /not found/),
  );
  await assert.rejects(
    buildSamples(SPECS, shapes, plan([{ name: 'nope', path: wrongType }])),
    isCode('RTI_ERR_MODEL_INPUT_UNKNOWN', /'nope'/),
  );
  await assert.rejects(
    buildSamples(SPECS, shapes, plan([{ path: wrongType }])),
    isCode('RTI_ERR_ARG_INVALID', /needs an input name/),
  );
  assert.equal(DTYPES.float16.bytes, 2);
});
