/**
 * ModelInfer's decoders leave raw contents aligned in place (alignRawInPlace): the tensors read
 * back exactly, as views on the message (no copy), and nothing outside the moved entries' own
 * bytes and the dead bytes before them changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alignRawInPlace,
  fromGrpcTensors,
  reusingResponseSerializer,
  toGrpcTensors,
} from '../../src/protocol/grpc-v2.js';
import type { V2Tensor } from '../../src/protocol/kserve-v2.js';
import { inferCodec } from '../helpers/grpc-codec.js';

const infer = inferCodec();

const a: V2Tensor = {
  name: 'a',
  type: 'float32',
  dims: [3, 5],
  data: Float32Array.from({ length: 15 }, (_, i) => i / 3),
};
const b: V2Tensor = {
  name: 'b',
  type: 'int64',
  dims: [7],
  data: BigInt64Array.from({ length: 7 }, (_, i) => BigInt(i - 3)),
};

/** The message at every offset 0..7 into a larger buffer, as grpc-js's frames and HTTP/2 chunks place it. */
function atEveryOffset(message: Buffer, run: (at: Buffer, whole: Buffer) => void): void {
  for (let off = 0; off < 8; off++) {
    const whole = Buffer.alloc(message.length + 16, 0xee);
    message.copy(whole, off);
    run(whole.subarray(off, off + message.length), whole);
  }
}

function request(tensors: V2Tensor[]): Buffer {
  const g = toGrpcTensors(tensors, true);
  return infer.requestSerialize({
    model_name: 'm',
    model_version: '',
    id: 'x',
    parameters: {},
    inputs: g.tensors,
    outputs: [],
    raw_input_contents: g.raw,
  });
}

test('a request decodes to an aligned view on its own message, whatever its offset', () => {
  atEveryOffset(request([a]), (message, whole) => {
    const req = infer.requestDeserialize(message);
    const raw = req.raw_input_contents[0]!;
    assert.equal(raw.byteOffset % 8, 0);
    assert.equal(raw.buffer, message.buffer, 'a view, not a copy');
    const [t] = fromGrpcTensors(req.inputs, req.raw_input_contents, 'inputs');
    assert.deepEqual(t?.data, a.data);
    assert.equal((t?.data as Float32Array).buffer, message.buffer);
    // Bytes outside the message are untouched.
    const at = message.byteOffset - whole.byteOffset;
    assert.ok(whole.subarray(0, at).every((x) => x === 0xee));
    assert.ok(whole.subarray(at + message.length).every((x) => x === 0xee));
  });
});

test('several raw inputs read back exactly (moved where they can be, copied where not)', () => {
  atEveryOffset(request([a, b]), (message) => {
    const req = infer.requestDeserialize(message);
    const [ta, tb] = fromGrpcTensors(req.inputs, req.raw_input_contents, 'inputs');
    assert.deepEqual(ta?.data, a.data);
    assert.deepEqual(tb?.data, b.data);
  });
});

test('a response decodes to aligned views too (the load generator reads outputs in place)', () => {
  const g = toGrpcTensors([a], true);
  const wire = infer.responseSerialize({
    model_name: 'm',
    model_version: '1',
    id: '',
    outputs: g.tensors,
    raw_output_contents: g.raw,
  });
  atEveryOffset(wire, (message) => {
    const res = infer.responseDeserialize(message);
    assert.equal(res.raw_output_contents[0]!.byteOffset % 8, 0);
    assert.deepEqual(fromGrpcTensors(res.outputs, res.raw_output_contents, 'outputs')[0]?.data, a.data);
  });
});

/**
 * A response as the official proto reads it, raw contents as plain bytes (where they sit in the
 * message aside), from a copy: the service's decoder aligns raw contents in the bytes it is given.
 */
function decoded(message: Buffer): unknown {
  const res = infer.responseDeserialize(Buffer.from(message));
  return { ...res, raw_output_contents: res.raw_output_contents.map((r) => Buffer.from(r)) };
}

test("the reusing response serializer writes what the proto's own serializer writes (the id, if any, after the head it keeps)", () => {
  const serialize = reusingResponseSerializer();
  const big = new Float32Array(40_000).map((_, i) => i);
  for (const tensors of [[a], [a, b], [{ ...a, data: big, dims: [200, 200] }], [a]]) {
    const g = toGrpcTensors(tensors, true);
    for (const id of ['r', '', 'r2']) {
      const res = { model_name: 'm', model_version: '1', id, outputs: g.tensors, raw_output_contents: g.raw };
      const ours = Buffer.from(serialize(res));
      assert.deepEqual(decoded(ours), decoded(infer.responseSerialize(res)));
    }
  }
  const typed = toGrpcTensors([a], false);
  const res = { model_name: 'm', model_version: '', id: '', outputs: typed.tensors, raw_output_contents: [] };
  assert.deepEqual(serialize(res), infer.responseSerialize(res));
});

test('an entry is not moved over a live view or below the message: it stays where it is', () => {
  const buf = new Uint8Array(64).map((_, i) => i);
  const message = buf.subarray(3, 60);
  // Below the message's start: not moved.
  const first = [buf.subarray(5, 13)];
  alignRawInPlace(message, first, []);
  assert.equal(first[0]!.byteOffset, 5);
  // A pinned view in the bytes it would move over: not moved, and the pinned bytes unchanged.
  const raw = [buf.subarray(21, 29)];
  const pinned = buf.subarray(17, 19);
  alignRawInPlace(message, raw, [pinned]);
  assert.equal(raw[0]!.byteOffset, 21);
  assert.deepEqual([...pinned], [17, 18]);
  // Two entries: each moves down to a multiple of 8, the second never onto the first.
  const two = [buf.subarray(33, 41), buf.subarray(43, 51)];
  alignRawInPlace(message, two, []);
  assert.deepEqual([two[0]!.byteOffset, two[1]!.byteOffset], [32, 40]);
  assert.deepEqual([...two[0]!], [33, 34, 35, 36, 37, 38, 39, 40]);
  assert.deepEqual([...two[1]!], [43, 44, 45, 46, 47, 48, 49, 50]);
  const fresh = new Uint8Array(64).map((_, i) => i);
  const kept = [fresh.subarray(32, 43), fresh.subarray(45, 50)];
  alignRawInPlace(fresh.subarray(3, 60), kept, []);
  assert.deepEqual([kept[0]!.byteOffset, kept[1]!.byteOffset], [32, 45]);
  assert.deepEqual([...kept[1]!], [45, 46, 47, 48, 49]);
});
