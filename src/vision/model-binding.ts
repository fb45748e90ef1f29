/**
 * What a pipeline needs from "the model": a function from feeds to outputs, and the declared
 * inputs and outputs. Taken from a plain function plus metadata, an onnxruntime InferenceSession,
 * rtinfer's RuntimeSession (createSession), or an engine (anything with `infer`, `inputs`,
 * `outputs`), structurally, so this layer depends on none of them.
 */
import type { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';
import type { ModelOutputs, TensorMeta } from './types.js';

export type RunFunction = (feeds: Record<string, Tensor>) => Promise<ModelOutputs>;

interface ValueMetadataLike {
  name: string;
  isTensor?: boolean;
  type?: unknown;
  shape?: ReadonlyArray<number | string>;
}

/** onnxruntime-node's InferenceSession, structurally. */
export interface SessionLike {
  run(feeds: Record<string, Tensor>): Promise<ModelOutputs>;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata?: readonly ValueMetadataLike[];
  readonly outputMetadata?: readonly ValueMetadataLike[];
}

/** createSession's RuntimeSession, structurally. */
export interface RuntimeSessionLike {
  session: SessionLike;
  inputs: readonly TensorMeta[];
  outputs: readonly TensorMeta[];
}

/** The worker engine (createEngine), structurally. */
export interface EngineLike {
  infer(inputs: Record<string, Tensor>): Promise<ModelOutputs>;
  readonly inputs: readonly TensorMeta[];
  readonly outputs: readonly TensorMeta[];
}

export type InferenceTarget = SessionLike | RuntimeSessionLike | EngineLike;

export interface ModelBinding {
  run: RunFunction;
  inputs: readonly TensorMeta[];
  outputs: readonly TensorMeta[];
}

function fromMetadata(list: readonly ValueMetadataLike[] | undefined, names: readonly string[]): TensorMeta[] {
  return names.map((name) => {
    const m = list?.find((x) => x.name === name);
    return { name, shape: m?.shape ? [...m.shape] : [], ...(typeof m?.type === 'string' ? { dtype: m.type } : {}) };
  });
}

export function modelBinding(options: {
  run?: RunFunction;
  session?: InferenceTarget;
  inputs?: readonly TensorMeta[];
  outputs?: readonly TensorMeta[];
}): ModelBinding {
  let run = options.run;
  let inputs = options.inputs;
  let outputs = options.outputs;
  const s = options.session;
  if (s !== undefined) {
    if ('infer' in s && typeof s.infer === 'function') {
      run ??= (feeds) => s.infer(feeds);
      inputs ??= s.inputs;
      outputs ??= s.outputs;
    } else if ('session' in s && typeof s.session?.run === 'function') {
      const inner = s.session;
      run ??= (feeds) => inner.run(feeds);
      inputs ??= s.inputs;
      outputs ??= s.outputs;
    } else if ('run' in s && typeof s.run === 'function') {
      run ??= (feeds) => s.run(feeds);
      inputs ??= fromMetadata(s.inputMetadata, s.inputNames);
      outputs ??= fromMetadata(s.outputMetadata, s.outputNames);
    }
  }
  if (run === undefined)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      'a vision pipeline needs `run` or `session` (a session, RuntimeSession or engine)',
    );
  if (inputs === undefined || inputs.length === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      'a vision pipeline needs the model inputs (`inputs`, or a session that has them)',
    );
  if (outputs === undefined || outputs.length === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      'a vision pipeline needs the model outputs (`outputs`, or a session that has them)',
    );
  return { run, inputs, outputs };
}
