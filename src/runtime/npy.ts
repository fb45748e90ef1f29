/**
 * NumPy .npy files (format versions 1–3, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html)
 * and raw little-endian .bin files, as tensor data. Only C-order little-endian arrays of the
 * dtypes onnxruntime accepts are read; anything else is refused with a message naming the file.
 */
import { RtinferError } from '../errors.js';
import { DTYPES, elementCount, type NumericArray, type TensorDType } from './dtypes.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const DESCR_TO_DTYPE: Readonly<Record<string, TensorDType>> = {
  '<f4': 'float32',
  '<f2': 'float16',
  '<f8': 'float64',
  '|i1': 'int8',
  '<i2': 'int16',
  '<i4': 'int32',
  '<i8': 'int64',
  '|u1': 'uint8',
  '<u2': 'uint16',
  '<u4': 'uint32',
  '<u8': 'uint64',
  '|b1': 'bool',
};
const DTYPE_TO_DESCR = Object.fromEntries(Object.entries(DESCR_TO_DTYPE).map(([k, v]) => [v, k])) as Record<
  string,
  string
>;

export interface LoadedArray {
  dtype: TensorDType;
  dims: number[];
  data: NumericArray;
}

function bad(label: string, why: string): RtinferError {
  return new RtinferError('RTI_ERR_INPUT_DATA', `${label} is not a usable .npy file: ${why}`);
}

/** Copies the payload so the result is aligned and independent of the file buffer. */
function copyTyped(dtype: TensorDType, bytes: Uint8Array, count: number): NumericArray {
  const spec = DTYPES[dtype];
  const own = new Uint8Array(count * spec.bytes);
  own.set(bytes.subarray(0, own.length));
  return spec.fromBytes(own.buffer, 0, count);
}

export function parseNpy(bytes: Uint8Array, label: string): LoadedArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad(label, 'missing the \\x93NUMPY magic');
  const major = bytes[6] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad(label, 'truncated header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw bad(label, `unsupported format version ${major}`);
  }
  if (start + headerLen > bytes.length) throw bad(label, 'truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(label, 'malformed header');
  if (fortran === 'True') throw bad(label, 'Fortran-order arrays are not supported (save with np.ascontiguousarray)');
  const dtype = DESCR_TO_DTYPE[descr.replace(/^=/, '<')];
  if (dtype === undefined) throw bad(label, `dtype '${descr}' is not supported (little-endian numeric or bool only)`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw bad(label, `bad shape (${shapeText})`);
  const count = elementCount(dims);
  const payload = bytes.subarray(start + headerLen);
  const need = count * DTYPES[dtype].bytes;
  if (payload.length < need) throw bad(label, `holds ${payload.length} data bytes, shape needs ${need}`);
  return { dtype, dims, data: copyTyped(dtype, payload, count) };
}

export function encodeNpy(dtype: TensorDType, dims: readonly number[], data: NumericArray): Uint8Array {
  const descr = DTYPE_TO_DESCR[dtype];
  if (descr === undefined) throw new TypeError(`dtype '${dtype}' cannot be written to .npy`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // The whole preamble is padded with spaces to a multiple of 64 bytes and ends in a newline.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** A raw little-endian file: its size must be exactly the tensor's byte size. */
export function parseRawBin(
  bytes: Uint8Array,
  dtype: TensorDType,
  dims: readonly number[],
  label: string,
): NumericArray {
  if (dtype === 'string')
    throw new RtinferError('RTI_ERR_INPUT_DATA', `${label}: string inputs cannot be read from a raw .bin file`);
  const count = elementCount(dims);
  const need = count * DTYPES[dtype].bytes;
  if (bytes.length !== need) {
    throw new RtinferError(
      'RTI_ERR_INPUT_DATA',
      `${label} has ${bytes.length} bytes, but ${dtype} [${dims.join(',')}] needs ${need}`,
    );
  }
  return copyTyped(dtype, bytes, count);
}
