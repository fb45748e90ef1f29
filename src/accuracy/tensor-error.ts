/**
 * The raw-tensor accuracy check: two models, the same synthetic inputs, outputs compared element
 * by element (TensorErrorAccumulator).
 */
import { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';
import { fromFloat16Bits, toFloat16Bits } from '../runtime/float16.js';
import { buildSamples, type Feeds } from '../runtime/inputs.js';
import { imageSizeFromMetadata } from '../runtime/metadata.js';
import type { RuntimeSession } from '../runtime/session.js';
import { resolveShapes, type ShapeOverride } from '../runtime/shapes.js';
import type { OutputTensor } from '../vision/types.js';
import type { AccuracyReport } from './accuracy.js';
import { TensorErrorAccumulator, numericValues } from './agreement.js';

export interface ComparedModel {
  runtime: RuntimeSession;
  metadata: Readonly<Record<string, string>>;
}

export interface TensorErrorOptions {
  /** File names, for messages. */
  model: string;
  reference: string;
  shapes?: readonly ShapeOverride[];
  referenceShapes?: readonly ShapeOverride[];
  samples: number;
  signal?: AbortSignal;
}

function mismatch(message: string): RtinferError {
  return new RtinferError('RTI_ERR_ACCURACY_MISMATCH', message);
}

/**
 * A feed converted to the candidate's input dtype where only float precision differs (an fp16 variant
 * of an fp32 model).
 */
function convertFeed(t: Tensor, dtype: string, name: string, model: string): Tensor {
  if (t.type === dtype) return t;
  if (t.type === 'float32' && dtype === 'float16')
    return new Tensor('float16', Uint16Array.from(t.data as Float32Array, toFloat16Bits), t.dims);
  if (t.type === 'float16' && dtype === 'float32')
    return new Tensor('float32', Float32Array.from(t.data as Uint16Array, fromFloat16Bits), t.dims);
  throw mismatch(
    `input '${name}' is ${dtype} in ${model} but ${t.type} in the reference: the same inputs cannot be fed to both`,
  );
}

/**
 * `tensor-error`: both models on the same seeded random inputs (`samples` of them), every output
 * element compared. The candidate runs at `shapes`, the reference at `referenceShapes`, each
 * defaulting to the other; they must come to the same input shapes.
 */
export async function tensorError(
  cand: ComparedModel,
  ref: ComparedModel,
  o: TensorErrorOptions,
): Promise<AccuracyReport> {
  const samples = o.samples;
  const imageSize = imageSizeFromMetadata(ref.metadata);
  const refShapes = resolveShapes(
    ref.runtime.inputs,
    o.referenceShapes ?? o.shapes ?? [],
    imageSize ? { imageSize } : {},
  ).shapes;
  const candShapes = resolveShapes(
    cand.runtime.inputs,
    o.shapes ?? o.referenceShapes ?? [],
    imageSize ? { imageSize } : {},
  ).shapes;
  for (const spec of ref.runtime.inputs) {
    const mine = cand.runtime.inputs.find((s) => s.name === spec.name);
    if (mine === undefined)
      throw mismatch(
        `${o.model} has no input '${spec.name}' (its inputs: ${cand.runtime.inputs.map((s) => s.name).join(', ')}): ` +
          `raw outputs need the same inputs as the reference`,
      );
    const a = refShapes[spec.name]!.join('x');
    const b = candShapes[mine.name]!.join('x');
    if (a !== b)
      throw mismatch(
        `input '${spec.name}' is ${b} for ${o.model} but ${a} for the reference: raw outputs can only be ` +
          `compared at the same input shape (give images to compare resolutions)`,
      );
  }
  const set = await buildSamples(ref.runtime.inputs, refShapes, { fill: 'random', files: [], samples, seed: 1 });
  const acc = new TensorErrorAccumulator();
  const skippedOutputs = new Set<string>();
  for (const feeds of set.samples) {
    o.signal?.throwIfAborted();
    const candFeeds: Feeds = {};
    for (const spec of cand.runtime.inputs) {
      const t = feeds[spec.name];
      if (t === undefined) throw mismatch(`${o.model} needs input '${spec.name}', which the reference does not have`);
      candFeeds[spec.name] = convertFeed(t, spec.dtype, spec.name, o.model);
    }
    const [a, b] = [await ref.runtime.session.run(feeds), await cand.runtime.session.run(candFeeds)];
    const pairs = pairOutputs(a, b, o.model);
    for (const [name, x, y] of pairs) {
      if (x.dims.join('x') !== y.dims.join('x'))
        throw mismatch(
          `output '${name}' is [${y.dims.join(',')}] from ${o.model} but [${x.dims.join(',')}] from the reference`,
        );
      const xv = numericValues(x);
      const yv = numericValues(y);
      if (xv === undefined || yv === undefined) {
        skippedOutputs.add(name);
        continue;
      }
      acc.add(xv, yv);
    }
  }
  const stats = acc.result();
  if (stats.elements === 0) throw mismatch(`no numeric output to compare between ${o.model} and the reference`);
  const report: AccuracyReport = {
    metric: 'tensor-error',
    score: stats.score,
    drop: 1 - stats.score,
    images: set.samples.length,
    maxAbsError: stats.maxAbsError,
    meanAbsError: stats.meanAbsError,
  };
  return skippedOutputs.size === 0
    ? report
    : { ...report, note: `non-numeric output(s) not compared: ${[...skippedOutputs].join(', ')}` };
}

/** Outputs paired by name; when no name is shared but the counts agree, by position (a re-export may rename them). */
function pairOutputs(
  ref: Readonly<Record<string, OutputTensor>>,
  cand: Readonly<Record<string, OutputTensor>>,
  model: string,
): Array<[string, OutputTensor, OutputTensor]> {
  const refNames = Object.keys(ref);
  const candNames = Object.keys(cand);
  if (refNames.every((n) => n in cand)) return refNames.map((n) => [n, ref[n]!, cand[n]!]);
  if (refNames.some((n) => n in cand) || refNames.length !== candNames.length) {
    throw mismatch(`${model} has outputs ${candNames.join(', ')} but the reference has ${refNames.join(', ')}`);
  }
  return refNames.map((n, i) => [n, ref[n]!, cand[candNames[i]!]!]);
}
