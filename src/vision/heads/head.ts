/**
 * The contract every task head meets, and the helpers heads share to read outputs and to fail
 * with one-line HEAD_MISMATCH errors. A new head is one file plus one entry in registry.ts.
 */
import { RtinferError } from '../../errors.js';
import { fromFloat16Bits } from '../../runtime/float16.js';
import type { PreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, OutputTensor, TensorMeta, VisionTask } from '../types.js';

export type BuiltinHeadName =
  | 'yolo'
  | 'yolov5'
  | 'yolox'
  | 'end2end'
  | 'ssd'
  | 'blazeface'
  | 'classify'
  | 'text'
  | 'ctc'
  | 'pose'
  | 'yolov8-raw'
  | 'yunet'
  | 'scrfd'
  | 'nanodet'
  | 'fastestv2'
  | 'segment'
  | 'semantic'
  | 'obb'
  | 'image';
/** A built-in head's name, or one given to registerHead(). */
export type HeadName = BuiltinHeadName | (string & {});

/** metadata_props of the model (Ultralytics: task, names, imgsz, stride, ...). */
export type ModelMetadata = Readonly<Record<string, string>>;

export interface DecodeOptions {
  /** Detections and classes below this score are dropped (text: boxes below this mean probability). */
  scoreThreshold: number;
  /** NMS IoU threshold. */
  iouThreshold: number;
  /** At most this many results per image. */
  maxDetections: number;
  /** Candidates kept (best first) before NMS; bounds NMS cost on noisy outputs. */
  topK: number;
  /** NMS across classes. */
  agnostic: boolean;
  /** Keep only these class ids (detection heads); empty keeps all. */
  classes: readonly number[];
  /** Class labels; default the model's `names` metadata, or the head's own (COCO-80, faces). */
  labels: readonly string[] | undefined;
  /** Which item of a batched output to decode. */
  batchIndex: number;
  /** classify: how many classes to return. */
  k: number;
  /** text: probability above which a pixel is text (PaddleOCR det_db_thresh 0.3). */
  binaryThreshold: number;
  /** text: how far boxes grow, as area·ratio/perimeter (PaddleOCR det_db_unclip_ratio 1.5). */
  unclipRatio: number;
  /** text: regions whose shorter side (in tensor pixels) is below this are dropped (PaddleOCR 3). */
  minSize: number;
  /** text: minimum-area rotated rectangles instead of axis-aligned boxes. */
  rotated: boolean;
}

export const DEFAULT_DECODE: Readonly<DecodeOptions> = {
  scoreThreshold: 0.25,
  iouThreshold: 0.45,
  maxDetections: 300,
  topK: 5000,
  agnostic: false,
  classes: [],
  labels: undefined,
  batchIndex: 0,
  k: 5,
  binaryThreshold: 0.3,
  unclipRatio: 1.5,
  minSize: 3,
  rotated: false,
};

export interface VisionHead {
  readonly name: HeadName;
  readonly task: VisionTask;
  /** The outputs it expects, in words, for error messages. */
  readonly expects: string;
  /** Its family's preprocessing (size, resize mode, channel order, scaling), all overridable. */
  readonly defaults: Readonly<PreprocessConfig>;
  /** Its family's thresholds, over DEFAULT_DECODE. */
  readonly decodeDefaults: Partial<DecodeOptions>;
  /** Whether the model's declared outputs (and inputs, when given) have the shape this head reads. */
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean;
  /**
   * The head specialised to a model's metadata_props (class and keypoint counts from `names` and
   * `kpt_shape`, a sidecar head spec), when the outputs alone do not say everything.
   */
  withMetadata?(metadata: ModelMetadata): VisionHead;
  /** One image's result from the outputs of a run; boxes in original-image pixels. */
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult;
}

export function headMismatch(head: string, problem: string): never {
  throw new RtinferError('RTI_ERR_HEAD_MISMATCH', `head '${head}' does not fit the model: ${problem}`);
}

export function describeShape(shape: ReadonlyArray<number | string>): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : d === '' ? '?' : d)).join(',')}]`;
}

export function describeTensors(metas: readonly TensorMeta[]): string {
  return metas.map((m) => `${m.name}${describeShape(m.shape)}`).join(', ');
}

/** A fixed dimension's value, or undefined for a symbolic one. */
export function fixedDim(shape: ReadonlyArray<number | string>, i: number): number | undefined {
  const d = shape[i];
  return typeof d === 'number' && d >= 0 ? d : undefined;
}

/** Two declared dimensions that must be equal: equal numbers, or the same symbol. */
export function sameDim(a: number | string | undefined, b: number | string | undefined): boolean {
  return a !== undefined && a === b && a !== '';
}

/** The spatial size of an NCHW/NHWC image input, when fixed. */
export function inputSize(inputs: readonly TensorMeta[] | undefined): { width: number; height: number } | undefined {
  const s = inputs?.[0]?.shape;
  if (s === undefined || s.length !== 4) return undefined;
  const nchw = s[1] === 3 || s[1] === 1;
  const h = fixedDim(s, nchw ? 2 : 1);
  const w = fixedDim(s, nchw ? 3 : 2);
  return h !== undefined && w !== undefined && h > 0 && w > 0 ? { width: w, height: h } : undefined;
}

// float16 → float32 for all 65536 bit patterns, built on first use (256 KiB).
let halfTable: Float32Array | undefined;

/**
 * An output's values as a Float32Array (a view when it already is one). float16 (bits in a
 * Uint16Array) and float64 are converted; anything else is a HEAD_MISMATCH.
 */
export function floatData(head: string, name: string, t: OutputTensor): Float32Array {
  const data = t.data;
  if (data instanceof Float32Array) return data;
  if (data instanceof Uint16Array && (t.type === undefined || t.type === 'float16')) {
    if (halfTable === undefined) {
      halfTable = new Float32Array(65536);
      for (let i = 0; i < 65536; i++) halfTable[i] = fromFloat16Bits(i);
    }
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = halfTable[data[i]!]!;
    return out;
  }
  if (data instanceof Float64Array) return Float32Array.from(data);
  return headMismatch(head, `output '${name}' is ${t.type ?? typeof data}, a float tensor was expected`);
}

/** The outputs in the order the run returned them, as [name, tensor] pairs. */
export function outputEntries(outputs: ModelOutputs): Array<[string, OutputTensor]> {
  return Object.entries(outputs);
}

/** The first output, which is all that the single-output heads read. */
export function firstOutput(head: string, outputs: ModelOutputs): [string, OutputTensor] {
  return outputEntries(outputs)[0] ?? headMismatch(head, 'the model returned no outputs');
}

/** An output's values as float32 and the element offset of batch item `b` in them (after the head's shape checks). */
export function batchData(
  head: string,
  name: string,
  t: OutputTensor,
  b: number,
): { data: Float32Array; base: number } {
  return { data: floatData(head, name, t), base: batchOffset(head, name, t.dims, b) };
}

/** Checks the actual dims of an output at decode time (declared shapes may be symbolic). */
export function expectRank(head: string, name: string, t: OutputTensor, rank: number): readonly number[] {
  if (t.dims.length !== rank)
    headMismatch(head, `output '${name}' has dims [${t.dims.join(',')}], expected rank ${rank}`);
  return t.dims;
}

/** The element offset of batch item `b` of an output whose first dimension is the batch. */
export function batchOffset(head: string, name: string, dims: readonly number[], b: number): number {
  const batch = dims[0] ?? 1;
  if (b < 0 || b >= batch) headMismatch(head, `batch item ${b} requested from output '${name}' with batch ${batch}`);
  let per = 1;
  for (let i = 1; i < dims.length; i++) per *= dims[i]!;
  return b * per;
}
