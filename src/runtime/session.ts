/**
 * Loading a model and creating an onnxruntime-node session for it, timed in the two parts a cold
 * start has (reading the file, creating the session) and with onnxruntime's failures turned into
 * one-line errors that name the model.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { InferenceSession } from 'onnxruntime-node';
import { RtinferError, firstLine } from '../errors.js';
import { isTensorDType, type TensorDType } from './dtypes.js';
import { assertProvidersAvailable } from './providers.js';
import { toOrtOptions, type SessionSettings } from './session-options.js';

/** A dimension as the model declares it: a number, or a symbolic name ("" when unnamed). */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dtype: TensorDType;
  shape: Dim[];
}

export interface LoadedModel {
  /** How messages name the model: its path, or "<bytes>". */
  label: string;
  path?: string;
  bytes: Uint8Array;
  readMs: number;
}

export type ModelSource = string | Uint8Array;

export async function readModel(source: ModelSource): Promise<LoadedModel> {
  if (typeof source !== 'string') return { label: '<bytes>', bytes: source, readMs: 0 };
  const t0 = performance.now();
  let bytes: Uint8Array;
  try {
    const info = await stat(source);
    if (info.isDirectory())
      throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `${source} is a directory, not a model file`);
    bytes = await readFile(source);
  } catch (error) {
    if (error instanceof RtinferError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'model file not found'
        : code === 'EACCES'
          ? 'model file not readable'
          : 'cannot read model file';
    throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `${why}: ${source}`, { cause: error });
  }
  return { label: source, path: path.resolve(source), bytes, readMs: performance.now() - t0 };
}

export interface RuntimeSession {
  session: InferenceSession;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  createMs: number;
  release(): Promise<void>;
}

function specsOf(
  label: string,
  kind: 'input' | 'output',
  meta: readonly InferenceSession.ValueMetadata[],
): TensorSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) {
      throw new RtinferError(
        'RTI_ERR_SESSION_CREATE',
        `${label}: ${kind} '${m.name}' is not a tensor (sequence and map values are not supported)`,
      );
    }
    const dtype = String(m.type);
    if (!isTensorDType(dtype)) {
      throw new RtinferError(
        'RTI_ERR_SESSION_CREATE',
        `${label}: ${kind} '${m.name}' has element type ${dtype}, which onnxruntime-node cannot feed`,
      );
    }
    return { name: m.name, dtype, shape: [...m.shape] };
  });
}

function sessionError(model: LoadedModel, error: unknown, settings: SessionSettings): RtinferError {
  const msg = firstLine(error);
  if (/protobuf parsing failed|Model data pointer is null|ModelProto does not have a graph/i.test(msg)) {
    return new RtinferError('RTI_ERR_MODEL_NOT_ONNX', `${model.label} is not an ONNX model (onnxruntime: ${msg})`, {
      cause: error,
    });
  }
  const eps = settings.executionProviders ?? ['cpu'];
  if (eps.some((ep) => ep !== 'cpu') && /backend|provider|adapter|shared library/i.test(msg)) {
    return new RtinferError('RTI_ERR_EP_UNAVAILABLE', `execution provider ${eps.join(',')} failed to start: ${msg}`, {
      cause: error,
    });
  }
  return new RtinferError('RTI_ERR_SESSION_CREATE', `cannot create a session for ${model.label}: ${msg}`, {
    cause: error,
  });
}

/** rtinfer's settings as onnxruntime options, refusing bad values and missing providers first. */
function ortOptions(settings: SessionSettings): InferenceSession.SessionOptions {
  const options = toOrtOptions(settings);
  assertProvidersAvailable(settings.executionProviders ?? ['cpu']);
  return options;
}

/**
 * The one call to InferenceSession.create, from bytes or a path (as onnxruntime-node's backend has
 * one place that makes session handles), so every session rtinfer makes gets its options the same way.
 */
function create(source: Uint8Array | string, options: InferenceSession.SessionOptions): Promise<InferenceSession> {
  return typeof source === 'string'
    ? InferenceSession.create(source, options)
    : InferenceSession.create(source, options);
}

/**
 * A bare onnxruntime session for rtinfer's own passes (FLOPs shapes, float16 probes, offline graph
 * optimization), with onnxruntime's error as it is: each caller words it for what it was doing.
 * Settings not given keep toOrtOptions' defaults (cpu, sequential, 'all', log level 'fatal').
 */
export function openSession(source: Uint8Array | string, settings: SessionSettings = {}): Promise<InferenceSession> {
  return create(source, ortOptions(settings));
}

export async function createSession(model: LoadedModel, settings: SessionSettings = {}): Promise<RuntimeSession> {
  // Bad settings are refused as they are, before the clock starts, not as a session failure.
  const options = ortOptions(settings);
  const t0 = performance.now();
  let session: InferenceSession;
  try {
    session = await create(model.bytes, options);
  } catch (error) {
    // Weights stored as external data resolve relative to the model file, which bytes do not carry.
    if (model.path !== undefined && /external/i.test(firstLine(error))) {
      try {
        session = await create(model.path, options);
      } catch (again) {
        throw sessionError(model, again, settings);
      }
    } else {
      throw sessionError(model, error, settings);
    }
  }
  const createMs = performance.now() - t0;
  return {
    session,
    inputs: specsOf(model.label, 'input', session.inputMetadata),
    outputs: specsOf(model.label, 'output', session.outputMetadata),
    createMs,
    release: () => session.release(),
  };
}
