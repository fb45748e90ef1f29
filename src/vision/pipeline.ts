/**
 * One model's vision pipeline: image → preprocess → run → head → results in original-image pixels,
 * with the time of each stage. It does not care how inference runs: anything that turns feeds into
 * outputs (`(feeds) => Promise<outputs>`, an onnxruntime session, createSession's RuntimeSession, or
 * an engine with `infer`) will do, so the same pipeline works in-process now and on the worker
 * engine later.
 */
import { performance } from 'node:perf_hooks';
import { Tensor } from 'onnxruntime-node';
import { RtinferError, firstLine, isRtinferError } from '../errors.js';
import type { PreprocessConfig } from './config.js';
import { decodeDefaultsFor, resolveDecodeOptions, type DecodeOptions } from './decode-options.js';
import type { ImageTransform } from './geometry.js';
import type { HeadName, ModelMetadata, VisionHead } from './heads/head.js';
import { planVision } from './plan.js';
import { modelBinding, type InferenceTarget } from './model-binding.js';
import { preprocess, preprocessBatch, type Preprocessed } from './preprocess.js';
import { allocateTensor } from './pack.js';
import { imageLabel } from './decode.js';
import type { HeadResult, ImageSource, ModelOutputs, TensorMeta, VisionTask, VisionTensor } from './types.js';

export interface SpeedMs {
  decode: number;
  preprocess: number;
  /** What the run function took (for a batch: the whole batch's run, shared by its images). */
  inference: number;
  postprocess: number;
}

export type VisionResult = HeadResult & { transform: ImageTransform; speedMs: SpeedMs };

export type BatchResult =
  ({ ok: true; source: string; batchSize: number } & VisionResult) | { ok: false; source: string; error: RtinferError };

export interface VisionPipelineOptions {
  /** How inference runs: a function, or a session / RuntimeSession / engine to take it (and the model's inputs and outputs) from. */
  run?: (feeds: Record<string, Tensor>) => Promise<ModelOutputs>;
  session?: InferenceTarget;
  /** Declared inputs and outputs; needed with `run`, read from `session` otherwise. */
  inputs?: readonly TensorMeta[];
  outputs?: readonly TensorMeta[];
  /** metadata_props (inspectModel(bytes).metadata); Ultralytics exports need nothing else. */
  metadata?: ModelMetadata;
  /** A head by name or object, or a task the detected head must have; default: detected. */
  task?: HeadName | VisionTask | VisionHead;
  preprocess?: Partial<PreprocessConfig>;
  decode?: Partial<DecodeOptions>;
  /** Class labels, overriding `names` metadata. */
  labels?: readonly string[];
  /**
   * Where decode and packing run for encoded images (default: here, packing into reused tensors).
   * A server passes a PreprocessPool's run to keep per-pixel work off its request thread.
   */
  preprocessor?: (image: Uint8Array | string, config: PreprocessConfig) => Promise<Preprocessed>;
}

export interface VisionPipeline {
  readonly head: VisionHead;
  /** Why this head was chosen. */
  readonly headReason: string;
  /** What was decided before running (head, layout, size, colour, values) and why, one line each. */
  readonly explanation: readonly string[];
  readonly config: PreprocessConfig;
  readonly decodeOptions: DecodeOptions;
  readonly inputName: string;
  predict(image: ImageSource, options?: Partial<DecodeOptions>): Promise<VisionResult>;
  /** One result per image, in order; an image that fails gets `{ ok: false, error }` and the others go on. */
  predictBatch(
    images: readonly ImageSource[],
    options?: Partial<DecodeOptions> & { maxBatch?: number },
  ): Promise<BatchResult[]>;
}

export function createVisionPipeline(options: VisionPipelineOptions): VisionPipeline {
  const binding = modelBinding(options);
  const metadata = options.metadata ?? {};
  const plan = planVision({
    inputs: binding.inputs,
    outputs: binding.outputs,
    metadata,
    ...(options.task !== undefined ? { task: options.task } : {}),
    ...(options.preprocess !== undefined ? { preprocess: options.preprocess } : {}),
  });
  const { choice, config } = plan;
  const { head } = choice;
  const input = binding.inputs[0]!;
  const decodeOptions = resolveDecodeOptions(
    decodeDefaultsFor(head),
    { labels: options.labels ?? choice.labels },
    options.decode,
  );
  const batchDim = input.shape.length === 4 ? input.shape[0] : undefined;
  const fixedBatch = typeof batchDim === 'number' && batchDim > 0 ? batchDim : undefined;
  const hasBatchDim = input.shape.length === 4;
  // Input tensors of batch 1, reused once a run has settled (engines copy their inputs, sessions
  // are done with them when run resolves), so steady-state predict allocates no input buffer.
  const pool: VisionTensor[] = [];
  const fixedSize = config.width !== null && config.height !== null;

  const feedsOf = (t: VisionTensor): Record<string, Tensor> => ({
    [input.name]: new Tensor(t.type, t.data, hasBatchDim ? t.dims : t.dims.slice(1)),
  });

  async function run(t: VisionTensor): Promise<{ outputs: ModelOutputs; ms: number }> {
    const t0 = performance.now();
    try {
      const outputs = await binding.run(feedsOf(t));
      return { outputs, ms: performance.now() - t0 };
    } catch (error) {
      if (isRtinferError(error)) throw error;
      throw new RtinferError(
        'RTI_ERR_INFERENCE_FAILED',
        `inference failed on input '${input.name}' [${t.dims.join(',')}]: ${firstLine(error)}`,
        { cause: error },
      );
    }
  }

  function decodeWith(
    outputs: ModelOutputs,
    transform: ImageTransform,
    opts: DecodeOptions,
  ): { result: HeadResult; ms: number } {
    const t0 = performance.now();
    const result = head.decode(outputs, transform, opts);
    return { result, ms: performance.now() - t0 };
  }

  async function predictOne(image: ImageSource, opts: DecodeOptions): Promise<VisionResult> {
    const padded = fixedBatch !== undefined && fixedBatch > 1;
    const reusable = fixedSize && !padded;
    const target = reusable ? (pool.pop() ?? allocateTensor(config, 1, config.width!, config.height!)) : undefined;
    try {
      const offThread =
        options.preprocessor !== undefined && (typeof image === 'string' || image instanceof Uint8Array);
      const pre = offThread
        ? await options.preprocessor!(image as Uint8Array | string, config)
        : await preprocess(image, config, target === undefined ? {} : { into: { tensor: target, item: 0 } });
      let tensor = pre.tensor;
      if (padded) {
        // A model with a fixed batch > 1 gets the image in row 0 and zeros after it.
        const full = allocateTensor(config, fixedBatch, pre.transform.input.width, pre.transform.input.height);
        full.data.set(pre.tensor.data);
        tensor = full;
      }
      const ran = await run(tensor);
      const post = decodeWith(ran.outputs, pre.transform, { ...opts, batchIndex: 0 });
      return {
        ...post.result,
        transform: pre.transform,
        speedMs: {
          decode: pre.timing.decodeMs,
          preprocess: pre.timing.preprocessMs,
          inference: ran.ms,
          postprocess: post.ms,
        },
      };
    } finally {
      if (target !== undefined && target.data.buffer.byteLength > 0 && pool.length < 4) pool.push(target);
    }
  }

  return {
    head,
    headReason: choice.reason,
    explanation: plan.explanation,
    config,
    decodeOptions,
    inputName: input.name,
    predict(image, overrides) {
      return predictOne(
        image,
        overrides === undefined ? decodeOptions : resolveDecodeOptions(decodeOptions, overrides),
      );
    },
    async predictBatch(images, overrides = {}) {
      const { maxBatch, ...rest } = overrides;
      const opts = resolveDecodeOptions(decodeOptions, rest);
      const perImage = !fixedSize || fixedBatch === 1 || !hasBatchDim;
      if (perImage) {
        // One at a time: a dynamic-size model (each image its own shape) or a model without a batch.
        const results: BatchResult[] = [];
        for (const image of images) {
          try {
            results.push({ ok: true, source: imageLabel(image), batchSize: 1, ...(await predictOne(image, opts)) });
          } catch (error) {
            if (!isRtinferError(error) || error.kind !== 'usage') throw error;
            results.push({ ok: false, source: imageLabel(image), error });
          }
        }
        return results;
      }
      const chunk = fixedBatch ?? Math.max(1, maxBatch ?? images.length);
      const results: BatchResult[] = [];
      for (let start = 0; start < images.length; start += chunk) {
        const part = images.slice(start, start + chunk);
        const batch = await preprocessBatch(part, config, fixedBatch !== undefined ? { padTo: fixedBatch } : {});
        if (batch.rows === 0) {
          for (const item of batch.items) if (!item.ok) results.push(item);
          continue;
        }
        const ran = await run(batch.tensor);
        const size = batch.items.filter((i) => i.ok).length;
        for (const item of batch.items) {
          if (!item.ok) {
            results.push(item);
            continue;
          }
          const post = decodeWith(ran.outputs, item.transform, { ...opts, batchIndex: item.row });
          results.push({
            ok: true,
            source: item.source,
            batchSize: size,
            ...post.result,
            transform: item.transform,
            speedMs: {
              decode: item.timing.decodeMs,
              preprocess: item.timing.preprocessMs,
              inference: ran.ms,
              postprocess: post.ms,
            },
          });
        }
      }
      return results;
    },
  };
}
