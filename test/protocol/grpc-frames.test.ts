/**
 * The server's own gRPC framing of ModelInfer (grpc-frames.ts, framedResponse): what it reads and
 * writes is what grpc-js and the official proto read and write, whatever the chunking; and the
 * request's first raw input lands aligned, so decoding it moves nothing.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import fc from 'fast-check';
import { MessageDecoder } from '../../src/protocol/grpc-frames.js';
import {
  framedResponse,
  RAW_INPUT_FIELD,
  RAW_OUTPUT_FIELD,
  rawEntryOffset,
  toGrpcTensors,
} from '../../src/protocol/grpc-v2.js';
import type { V2Tensor } from '../../src/protocol/kserve-v2.js';
import { inferCodec } from '../helpers/grpc-codec.js';

const infer = inferCodec();
// grpc-js's own decoder, the reference (not exported from the package's entry point).
const { StreamDecoder } = createRequire(import.meta.url)('@grpc/grpc-js/build/src/stream-decoder.js') as {
  StreamDecoder: new (max: number) => { write(b: Buffer): Buffer[] };
};

function frame(message: Buffer, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** `bytes` cut at the given points (each taken modulo the length), as a socket may hand them over. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (bytes.length > 0 ? c % bytes.length : 0)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    if (c > prev) out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

const tensorArb: fc.Arbitrary<V2Tensor> = fc
  .record({ name: fc.string({ maxLength: 40 }), n: fc.integer({ min: 0, max: 3000 }), seed: fc.integer() })
  .map(({ name, n, seed }) => ({
    name,
    type: 'float32' as const,
    dims: [n],
    data: Float32Array.from({ length: n }, (_, i) => ((i * 7919 + seed) % 1000) / 7),
  }));

const requestArb = fc
  .record({ model: fc.string({ maxLength: 300 }), id: fc.string({ maxLength: 300 }), tensors: fc.array(tensorArb) })
  .map(({ model, id, tensors }) => {
    const g = toGrpcTensors(tensors, true);
    return infer.requestSerialize({
      model_name: model,
      model_version: '',
      id,
      parameters: { p: { int64_param: 3 } },
      inputs: g.tensors,
      outputs: [],
      raw_input_contents: g.raw,
    });
  });

test("messages read back as grpc-js's decoder reads them, whatever the chunking", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          requestArb,
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
        ),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      fc.array(fc.nat(), { maxLength: 12 }),
      (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => frame(m)));
        const ours = new MessageDecoder(-1, RAW_INPUT_FIELD);
        const theirs = new StreamDecoder(-1);
        const a: Buffer[] = [];
        const b: Buffer[] = [];
        for (const c of chunked(wire, cuts)) {
          a.push(...ours.write(c));
          b.push(...theirs.write(c));
        }
        assert.deepEqual(a, b);
        assert.equal(a.length, messages.length);
      },
    ),
  );
});

test('read through (discard), messages are not kept, and a cut one is still seen as partial', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        { minLength: 1, maxLength: 4 },
      ),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.nat(),
      (messages, cuts, cut) => {
        const wire = Buffer.concat(messages.map((m) => frame(m)));
        const whole = new MessageDecoder(-1, RAW_INPUT_FIELD, true);
        for (const c of chunked(wire, cuts)) assert.deepEqual(whole.write(c), []);
        assert.equal(whole.partial, false);
        const short = wire.subarray(0, cut % wire.length);
        const ends = new Set<number>();
        for (let at = 0; at < wire.length; at += 5 + wire.readUInt32BE(at + 1)) ends.add(at);
        const cutDecoder = new MessageDecoder(-1, RAW_INPUT_FIELD, true);
        for (const c of chunked(short, cuts)) cutDecoder.write(c);
        assert.equal(cutDecoder.partial, !ends.has(short.length));
      },
    ),
  );
});

test('a request is placed so that its first raw input is aligned: decoding it moves nothing', () => {
  fc.assert(
    fc.property(requestArb, fc.array(fc.nat(), { maxLength: 8 }), (message, cuts) => {
      const decoder = new MessageDecoder(-1, RAW_INPUT_FIELD);
      const [framed] = chunked(frame(message), cuts).flatMap((c) => decoder.write(c));
      const body = framed!.subarray(5);
      const req = infer.requestDeserialize(body);
      const first = req.raw_input_contents[0];
      // Only the first entry is placed: with one (as a model with one input sends), nothing moves.
      if (req.raw_input_contents.length === 1) assert.deepEqual(body, message, 'nothing in the message moved');
      if (first && first.byteLength > 0) {
        assert.equal(first.byteOffset % 8, 0);
        assert.equal(first.buffer, framed!.buffer, 'a view on the message');
      }
    }),
  );
});

test('rawEntryOffset finds the raw contents where the proto put them, and says nothing from a cut message', () => {
  fc.assert(
    fc.property(requestArb, (message) => {
      const req = infer.requestDeserialize(Buffer.from(message));
      const first = req.raw_input_contents[0];
      const at = rawEntryOffset(message, RAW_INPUT_FIELD);
      if (!first) return assert.equal(at, undefined);
      assert.ok(at !== undefined);
      assert.deepEqual(message.subarray(at, at + first.byteLength), Buffer.from(first));
      assert.equal(rawEntryOffset(message.subarray(0, at - 1), RAW_INPUT_FIELD), undefined);
    }),
  );
});

test("a message over the limit is refused with grpc-js's error; an empty one comes through", () => {
  const ours = new MessageDecoder(100, RAW_INPUT_FIELD);
  const theirs = new StreamDecoder(100);
  const big = frame(Buffer.alloc(101));
  assert.throws(() => ours.write(big), {
    message: (() => {
      try {
        theirs.write(big);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    })(),
  });
  assert.deepEqual(new MessageDecoder(100, RAW_INPUT_FIELD).write(frame(Buffer.alloc(0))), [frame(Buffer.alloc(0))]);
});

/**
 * A response as the official proto reads it, raw contents as plain bytes (where they sit in the
 * message aside), from a copy: the service's decoder aligns raw contents in the bytes it is given.
 */
function decoded(message: Buffer): unknown {
  const res = infer.responseDeserialize(Buffer.from(message));
  return { ...res, raw_output_contents: res.raw_output_contents.map((r) => Buffer.from(r)) };
}

test('framedResponse is the official serialization in a gRPC frame', () => {
  fc.assert(
    fc.property(
      fc.array(tensorArb, { maxLength: 3 }),
      fc.string({ maxLength: 50 }),
      fc.boolean(),
      (tensors, id, raw) => {
        const g = toGrpcTensors(tensors, raw);
        const res = { model_name: 'm', model_version: '2', id, outputs: g.tensors, raw_output_contents: g.raw };
        const framed = framedResponse(res);
        // A frame of the message the official proto writes (a raw answer's id after the head,
        // which is kept per model and output shapes: the same message to any protobuf reader).
        assert.equal(framed[0], 0);
        assert.equal(framed.readUInt32BE(1), framed.length - 5);
        assert.deepEqual(decoded(framed.subarray(5)), decoded(infer.responseSerialize(res)));
        const at = rawEntryOffset(framed.subarray(5), RAW_OUTPUT_FIELD);
        const first = g.raw[0];
        if (first) assert.deepEqual(framed.subarray(5 + at!, 5 + at! + first.byteLength), Buffer.from(first));
        else assert.equal(at, undefined);
      },
    ),
  );
});

test('framedResponse keeps heads by what they hold: names that would run together in a joined key get their own', () => {
  const f32 = (n: number): Uint8Array => new Uint8Array(new Float32Array(n).fill(n).buffer);
  // Joined with a separator, these two output lists would give the same key.
  const two = {
    model_name: 'm',
    model_version: '1',
    id: 'a',
    outputs: [
      { name: 'x', datatype: 'FP32', shape: [1] },
      { name: 'y', datatype: 'FP32', shape: [2] },
    ],
    raw_output_contents: [f32(1), f32(2)],
  };
  const one = {
    model_name: 'm',
    model_version: '1',
    id: 'b',
    outputs: [{ name: 'x\0FP32\u00001\0y', datatype: 'FP32', shape: [2] }],
    raw_output_contents: [f32(2)],
  };
  for (const res of [two, one, two, one]) {
    const framed = framedResponse(res);
    assert.deepEqual(decoded(framed.subarray(5)), decoded(infer.responseSerialize(res)));
  }
});
