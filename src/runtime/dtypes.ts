/**
 * The tensor element types onnxruntime-node accepts, with their storage. float16 travels as the
 * raw IEEE half bits in a Uint16Array (onnxruntime-common's DataTypeMap), bool as one byte per value.
 */

export type TensorDType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export type TensorData = NumericArray | string[];

interface DTypeSpec {
  /** Bytes per element; 0 for strings, which have no fixed width. */
  readonly bytes: number;
  readonly create: (length: number) => TensorData;
  readonly fromBytes: (buffer: ArrayBuffer, byteOffset: number, length: number) => NumericArray;
  /** Whether `data` is the array type onnxruntime-node expects for this dtype. */
  readonly accepts: (data: unknown) => boolean;
}

function spec<T extends NumericArray>(ctor: {
  new (n: number): T;
  new (b: ArrayBuffer, o: number, n: number): T;
  BYTES_PER_ELEMENT: number;
}): DTypeSpec {
  return {
    bytes: ctor.BYTES_PER_ELEMENT,
    create: (n) => new ctor(n),
    fromBytes: (b, o, n) => new ctor(b, o, n),
    accepts: (data) => data instanceof ctor,
  };
}

export const DTYPES: Readonly<Record<TensorDType, DTypeSpec>> = {
  float32: spec(Float32Array),
  float16: spec(Uint16Array),
  float64: spec(Float64Array),
  int8: spec(Int8Array),
  int16: spec(Int16Array),
  int32: spec(Int32Array),
  int64: spec(BigInt64Array),
  uint8: spec(Uint8Array),
  uint16: spec(Uint16Array),
  uint32: spec(Uint32Array),
  uint64: spec(BigUint64Array),
  bool: spec(Uint8Array),
  string: {
    bytes: 0,
    create: (n) => new Array<string>(n).fill(''),
    fromBytes: () => {
      throw new TypeError('string tensors have no fixed-width byte form');
    },
    accepts: (data) => Array.isArray(data) && data.every((x) => typeof x === 'string'),
  },
};

export function isTensorDType(value: string): value is TensorDType {
  return Object.hasOwn(DTYPES, value);
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}
