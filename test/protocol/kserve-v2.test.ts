import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RtinferError } from '../../src/errors.js';
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  encodeInferResponseParts,
  HEADER_LENGTH,
  modelMetadata,
  specsFromMetadata,
  type V2Tensor,
} from '../../src/protocol/kserve-v2.js';

const tensors: V2Tensor[] = [
  { name: 'f32', type: 'float32', dims: [2, 2], data: Float32Array.of(1.5, -2, 3.25, 0) },
  { name: 'f16', type: 'float16', dims: [2], data: Uint16Array.of(0x3c00, 0xc000) },
  { name: 'i64', type: 'int64', dims: [3], data: BigInt64Array.of(-5n, 0n, 16000n) },
  { name: 'u8', type: 'uint8', dims: [3], data: Uint8Array.of(0, 128, 255) },
  { name: 'b', type: 'bool', dims: [2], data: Uint8Array.of(1, 0) },
  { name: 's', type: 'string', dims: [2], data: ['héllo', ''] },
  { name: 'f64', type: 'float64', dims: [1], data: Float64Array.of(1e300) },
];

function plain(t: V2Tensor): unknown {
  return { name: t.name, type: t.type, dims: t.dims, data: Array.from(t.data as ArrayLike<unknown>) };
}

test('requests round-trip through binary and JSON encodings for every datatype', () => {
  for (const binaryInputs of [true, false]) {
    const msg = encodeInferRequest(tensors, {
      binaryInputs,
      binaryOutputs: true,
      id: 'r1',
      parameters: { timeout: 5000 },
    });
    assert.equal(msg.headers[HEADER_LENGTH] !== undefined, binaryInputs);
    const back = decodeInferRequest(msg.body, msg.headers[HEADER_LENGTH]);
    assert.equal(back.id, 'r1');
    assert.equal(back.parameters['timeout'], 5000);
    assert.equal(back.binaryOutputByDefault, true);
    assert.deepEqual(back.inputs.map(plain), tensors.map(plain));
  }
});

test('responses round-trip, binary per output as asked', () => {
  const msg = encodeInferResponse('m', '1', tensors, (n) => n !== 's', 'id9');
  const back = decodeInferResponse(msg.body, msg.headers[HEADER_LENGTH]);
  assert.deepEqual(back.map(plain), tensors.map(plain));
  const json = JSON.parse(msg.body.toString('utf8', 0, Number(msg.headers[HEADER_LENGTH])));
  assert.deepEqual(json.outputs.find((o: { name: string }) => o.name === 's').data, ['héllo', '']);
  assert.equal(json.model_name, 'm');
});

test('BAD CALL - NaN and Infinity are refused as JSON data, naming the tensor, and travel as binary', () => {
  const cases: V2Tensor[] = [
    { name: 'scores', type: 'float32', dims: [3], data: Float32Array.of(0.5, NaN, 1) },
    { name: 'logits', type: 'float64', dims: [2], data: Float64Array.of(1, -Infinity) },
    { name: 'half', type: 'float16', dims: [1], data: Uint16Array.of(0x7c00) },
  ];
  for (const t of cases) {
    assert.throws(
      () => encodeInferResponseParts('m', '1', [t], () => false),
      (e: unknown) =>
        e instanceof RtinferError &&
        e.status === 400 &&
        e.message.includes(`'${t.name}'`) &&
        /JSON cannot carry: ask for it as binary data/.test(e.message),
    );
    assert.throws(() => encodeInferRequest([t], { binaryInputs: false }), /JSON cannot carry: send it as binary/);
    const msg = encodeInferResponse('m', '1', [t], () => true);
    assert.deepEqual(decodeInferResponse(msg.body, msg.headers[HEADER_LENGTH]).map(plain), [plain(t)]);
  }
});

test("a response's parts are its message unjoined, binary tensors as views of the outputs' data", () => {
  const binary = (n: string): boolean => n !== 's';
  const { parts, headers } = encodeInferResponseParts('m', '1', tensors, binary, 'id9');
  const msg = encodeInferResponse('m', '1', tensors, binary, 'id9');
  assert.deepEqual(headers, msg.headers);
  assert.ok(Buffer.concat(parts).equals(msg.body));
  const f32 = tensors[0]!.data as Float32Array;
  assert.ok(
    parts.some((p) => p.buffer === f32.buffer && p.byteOffset === f32.byteOffset),
    'f32 sent from its own memory, not a copy',
  );
});

test('aligned binary tensors are used in place; misaligned ones are copied', () => {
  const msg = encodeInferRequest([tensors[0]!]);
  const headerLen = Number(msg.headers[HEADER_LENGTH]);
  const pad = (8 - (headerLen % 8)) % 8;
  const aligned = Buffer.from(new ArrayBuffer(msg.body.length + pad), pad, msg.body.length);
  msg.body.copy(aligned);
  const inPlace = decodeInferRequest(aligned, String(headerLen)).inputs[0]!.data as Float32Array;
  assert.equal(inPlace.buffer, aligned.buffer, 'no copy');
  const odd = Buffer.from(new ArrayBuffer(msg.body.length + pad + 1), pad + 1, msg.body.length);
  msg.body.copy(odd);
  const copied = decodeInferRequest(odd, String(headerLen)).inputs[0]!.data as Float32Array;
  assert.notEqual(copied.buffer, odd.buffer);
  assert.deepEqual(Array.from(copied), [1.5, -2, 3.25, 0]);
});

test('BAD CALL - malformed messages are refused naming the field', () => {
  const cases: Array<[string, string | undefined, RegExp]> = [
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],"parameters":{"binary_data_size":0}}]}',
      undefined,
      /inputs\[0\] 'x' has both data and parameters\.binary_data_size/,
    ],
    [
      '{"parameters":{"binary_data_output":1},"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}',
      undefined,
      /parameters\.binary_data_output must be true or false, not 1/,
    ],
    [
      '{"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}],"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]}',
      undefined,
      /outputs\[0\]\.parameters\.binary_data must be true or false, not "yes"/,
    ],
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}',
      undefined,
      /binary_data_size 8 runs past the end/,
    ],
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[-1],"data":[1]}]}',
      undefined,
      /inputs\[0\]\.shape must be an array of non-negative integers/,
    ],
    [
      '{"inputs":[{"name":"","datatype":"FP32","shape":[1],"data":[1]}]}',
      undefined,
      /inputs\[0\]\.name must be a non-empty string/,
    ],
    ['{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,"a"]}]}', undefined, /element 1 is not a number/],
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[[1],["a"]]}]}',
      undefined,
      /element 1 is not a number/,
    ],
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2,3]}]}',
      undefined,
      /more values than the shape needs \(2\)/,
    ],
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[[1],[2]]}]}',
      undefined,
      /2 values, shape \[3\] needs 3/,
    ],
    [
      '{"inputs":[{"name":"x","datatype":"INT32","shape":[2],"data":[1,null]}]}',
      undefined,
      /element 1 is not a number/,
    ],
    [
      '{"inputs":[{"name":"x","datatype":"BOOL","shape":[1],"data":["yes"]}]}',
      undefined,
      /BOOL data must be true\/false/,
    ],
    ['{"inputs":[]}', '999', /invalid Inference-Header-Content-Length 999/],
    ['[1,2]', undefined, /JSON header must be an object/],
    [
      '{"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]}',
      undefined,
      /neither data nor parameters\.binary_data_size/,
    ],
  ];
  for (const [body, header, pattern] of cases) {
    assert.throws(
      () => decodeInferRequest(Buffer.from(body), header),
      (e: unknown) => e instanceof RtinferError && e.code === 'RTI_ERR_INPUT_DATA' && pattern.test(e.message),
      body,
    );
  }
});

test('JSON data decodes the same flat or nested, in ASCII or UTF-8 text', () => {
  const values = [0.5, -1.25, 3, 1e-7, 65504, 0];
  const nested = [
    [values[0], values[1], values[2]],
    [values[3], values[4], values[5]],
  ];
  for (const [datatype, type] of [
    ['FP32', Float32Array],
    ['FP64', Float64Array],
    ['INT32', Int32Array],
  ] as const) {
    const expected = Array.from(type.from(values));
    for (const data of [values, nested]) {
      // The id's "é" and escaped "\u00e9" take the UTF-8 and the ASCII (Latin-1) readings of the text.
      for (const id of ['caf\u00e9', 'café']) {
        const body = Buffer.from(
          `{"id":"${id}","inputs":[{"name":"x","datatype":"${datatype}","shape":[2,3],"data":${JSON.stringify(data)}}]}`,
        );
        const back = decodeInferRequest(body, undefined);
        assert.equal(back.id, 'café');
        assert.ok(back.inputs[0]!.data instanceof type, datatype);
        assert.deepEqual(Array.from(back.inputs[0]!.data as ArrayLike<number>), expected, `${datatype} ${id}`);
      }
    }
  }
});

test('metadata uses -1 for dynamic dimensions and reads back as unnamed symbols', () => {
  const meta = modelMetadata(
    'm',
    ['1'],
    [{ name: 'x', dtype: 'float32', shape: ['batch', 3, 224, ''] }],
    [{ name: 'y', dtype: 'int64', shape: [1] }],
  );
  assert.deepEqual(meta.inputs[0], { name: 'x', datatype: 'FP32', shape: [-1, 3, 224, -1] });
  assert.deepEqual(specsFromMetadata(meta, 'm').inputs[0], { name: 'x', dtype: 'float32', shape: ['', 3, 224, ''] });
  assert.throws(
    () => specsFromMetadata({ inputs: [{ name: 'x', datatype: 'FP8', shape: [1] }], outputs: [] }, 'm'),
    /not a v2 tensor description/,
  );
});
