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
import { modelBinding, type InferenceTarget, type ModelBinding } from './model-binding.js';
import { preprocess, preprocessBatch, type Preprocessed, type StageTimes } from './preprocess.js';
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
  /**
   * How inference runs: a function, or a session / RuntimeSession / engine to take it (and the model's
   * inputs and outputs) from.
   */
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
  return new VisionPipelineImpl(options);
}

/** The time of each stage for one image, from its preprocessing times and the run and head it shared. */
function speedOf(timing: StageTimes, inference: number, postprocess: number): SpeedMs {
  return { decode: timing.decodeMs, preprocess: timing.preprocessMs, inference, postprocess };
}

/**
 * Everything decided once per model (binding, plan, batch shape, reused tensors) is a private field;
 * each stage is a method. `predict` and `predictBatch` are own arrow properties, not prototype
 * methods, because callers spread a pipeline into a larger object (openVisionModel adds `close` and
 * `metadata`) and pass `predict` around unbound, as they could with the factory's plain object.
 */
class VisionPipelineImpl implements VisionPipeline {
  // Typed from the contract so the interface stays the one place these are described. Declared
  // before `predict` so a spread copy lists its keys in the interface's order.
  readonly head: VisionPipeline['head'];
  readonly headReason: VisionPipeline['headReason'];
  readonly explanation: VisionPipeline['explanation'];
  readonly config: VisionPipeline['config'];
  readonly decodeOptions: VisionPipeline['decodeOptions'];
  readonly inputName: VisionPipeline['inputName'];

  readonly #binding: ModelBinding;
  readonly #input: TensorMeta;
  readonly #preprocessor: VisionPipelineOptions['preprocessor'];
  readonly #hasBatchDim: boolean;
  /** The input's batch size when the model fixes it (a number > 0 in the shape). */
  readonly #fixedBatch: number | undefined;
  /** Width and height fixed by the config, so every image packs into a tensor of the same shape. */
  readonly #fixedSize: boolean;
  // Input tensors of batch 1, reused once a run has settled (engines copy their inputs, sessions
  // are done with them when run resolves), so steady-state predict allocates no input buffer.
  readonly #pool: VisionTensor[] = [];

  constructor(options: VisionPipelineOptions) {
    const binding = modelBinding(options);
    const plan = planVision({
      inputs: binding.inputs,
      outputs: binding.outputs,
      metadata: options.metadata ?? {},
      ...(options.task !== undefined ? { task: options.task } : {}),
      ...(options.preprocess !== undefined ? { preprocess: options.preprocess } : {}),
    });
    const { choice, config } = plan;
    const input = binding.inputs[0]!;
    this.head = choice.head;
    this.headReason = choice.reason;
    this.explanation = plan.explanation;
    this.config = config;
    this.decodeOptions = resolveDecodeOptions(
      decodeDefaultsFor(choice.head),
      { labels: options.labels ?? choice.labels },
      options.decode,
    );
    this.inputName = input.name;
    this.#binding = binding;
    this.#input = input;
    this.#preprocessor = options.preprocessor;
    this.#hasBatchDim = input.shape.length === 4;
    const batchDim = this.#hasBatchDim ? input.shape[0] : undefined;
    this.#fixedBatch = typeof batchDim === 'number' && batchDim > 0 ? batchDim : undefined;
    this.#fixedSize = config.width !== null && config.height !== null;
  }

  readonly predict = (image: ImageSource, overrides?: Partial<DecodeOptions>): Promise<VisionResult> =>
    this.#predictOne(
      image,
      overrides === undefined ? this.decodeOptions : resolveDecodeOptions(this.decodeOptions, overrides),
    );

  readonly predictBatch = async (
    images: readonly ImageSource[],
    overrides: Partial<DecodeOptions> & { maxBatch?: number } = {},
  ): Promise<BatchResult[]> => {
    const { maxBatch, ...rest } = overrides;
    const opts = resolveDecodeOptions(this.decodeOptions, rest);
    const perImage = !this.#fixedSize || this.#fixedBatch === 1 || !this.#hasBatchDim;
    return perImage ? this.#predictEach(images, opts) : this.#predictChunks(images, opts, maxBatch);
  };

  /** One at a time: a dynamic-size model (each image its own shape) or a model without a batch. */
  async #predictEach(images: readonly ImageSource[], opts: DecodeOptions): Promise<BatchResult[]> {
    const results: BatchResult[] = [];
    for (const image of images) {
      try {
        results.push({ ok: true, source: imageLabel(image), batchSize: 1, ...(await this.#predictOne(image, opts)) });
      } catch (error) {
        if (!isRtinferError(error) || error.kind !== 'usage') throw error;
        results.push({ ok: false, source: imageLabel(image), error });
      }
    }
    return results;
  }

  /** Images packed into batches of the model's fixed batch, or of `maxBatch` (default: all at once). */
  async #predictChunks(
    images: readonly ImageSource[],
    opts: DecodeOptions,
    maxBatch: number | undefined,
  ): Promise<BatchResult[]> {
    const chunk = this.#fixedBatch ?? Math.max(1, maxBatch ?? images.length);
    const results: BatchResult[] = [];
    for (let start = 0; start < images.length; start += chunk) {
      const part = images.slice(start, start + chunk);
      const padTo = this.#fixedBatch !== undefined ? { padTo: this.#fixedBatch } : {};
      const batch = await preprocessBatch(part, this.config, padTo);
      if (batch.rows === 0) {
        for (const item of batch.items) if (!item.ok) results.push(item);
        continue;
      }
      const ran = await this.#run(batch.tensor);
      const size = batch.items.filter((i) => i.ok).length;
      for (const item of batch.items) {
        if (!item.ok) {
          results.push(item);
          continue;
        }
        const post = this.#decode(ran.outputs, item.transform, { ...opts, batchIndex: item.row });
        results.push({
          ok: true,
          source: item.source,
          batchSize: size,
          ...post.result,
          transform: item.transform,
          speedMs: speedOf(item.timing, ran.ms, post.ms),
        });
      }
    }
    return results;
  }

  async #predictOne(image: ImageSource, opts: DecodeOptions): Promise<VisionResult> {
    const fixedBatch = this.#fixedBatch;
    const padded = fixedBatch !== undefined && fixedBatch > 1;
    const { config } = this;
    const target =
      this.#fixedSize && !padded
        ? (this.#pool.pop() ?? allocateTensor(config, 1, config.width!, config.height!))
        : undefined;
    try {
      const pre = await this.#preprocess(image, target);
      let tensor = pre.tensor;
      if (padded) {
        // A model with a fixed batch > 1 gets the image in row 0 and zeros after it.
        const full = allocateTensor(config, fixedBatch, pre.transform.input.width, pre.transform.input.height);
        full.data.set(pre.tensor.data);
        tensor = full;
      }
      const ran = await this.#run(tensor);
      const post = this.#decode(ran.outputs, pre.transform, { ...opts, batchIndex: 0 });
      return { ...post.result, transform: pre.transform, speedMs: speedOf(pre.timing, ran.ms, post.ms) };
    } finally {
      if (target !== undefined && target.data.buffer.byteLength > 0 && this.#pool.length < 4) this.#pool.push(target);
    }
  }

  /** Encoded images go to the preprocessor when there is one; the rest pack here, into `target` if given. */
  #preprocess(image: ImageSource, target: VisionTensor | undefined): Promise<Preprocessed> {
    if (this.#preprocessor !== undefined && (typeof image === 'string' || image instanceof Uint8Array))
      return this.#preprocessor(image, this.config);
    return preprocess(image, this.config, target === undefined ? {} : { into: { tensor: target, item: 0 } });
  }

  async #run(t: VisionTensor): Promise<{ outputs: ModelOutputs; ms: number }> {
    const t0 = performance.now();
    try {
      const outputs = await this.#binding.run(this.#feedsOf(t));
      return { outputs, ms: performance.now() - t0 };
    } catch (error) {
      if (isRtinferError(error)) throw error;
      throw new RtinferError(
        'RTI_ERR_INFERENCE_FAILED',
        `inference failed on input '${this.#input.name}' [${t.dims.join(',')}]: ${firstLine(error)}`,
        { cause: error },
      );
    }
  }

  #feedsOf(t: VisionTensor): Record<string, Tensor> {
    return { [this.#input.name]: new Tensor(t.type, t.data, this.#hasBatchDim ? t.dims : t.dims.slice(1)) };
  }

  #decode(outputs: ModelOutputs, transform: ImageTransform, opts: DecodeOptions): { result: HeadResult; ms: number } {
    const t0 = performance.now();
    const result = this.head.decode(outputs, transform, opts);
    return { result, ms: performance.now() - t0 };
  }
}
