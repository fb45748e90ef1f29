/**
 * The shortest way from a model file to predictions: read it, create an onnxruntime session, read
 * its metadata_props, and build the pipeline on them.
 */
import { inspectModel } from '../runtime/model-info.js';
import { createSession, readModel, type ModelSource } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { ctcClasses } from './heads/ctc.js';
import { modelBinding } from './model-binding.js';
import { createVisionPipeline, type VisionPipeline, type VisionPipelineOptions } from './pipeline.js';
import { dictionaryFor, readSidecar, type Sidecar } from './sidecar.js';

export type OpenVisionOptions = Omit<VisionPipelineOptions, 'run' | 'session' | 'inputs' | 'outputs' | 'metadata'> & {
  session?: SessionSettings;
};

export interface OpenedVisionModel extends VisionPipeline {
  /** metadata_props of the model file. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The sidecar config applied (model.rtinfer.json / .yaml next to the model), if any. */
  readonly sidecar: string | undefined;
  close(): Promise<void>;
}

/** The caller's options over the sidecar's: a named task, preprocess fields, decode fields and labels win. */
export function withSidecar<
  T extends Omit<VisionPipelineOptions, 'run' | 'session' | 'inputs' | 'outputs' | 'metadata'>,
>(options: T, side: Sidecar | undefined): T {
  if (side === undefined) return options;
  return {
    ...options,
    ...(options.task === undefined && side.head !== undefined ? { task: side.head } : {}),
    ...(side.preprocess !== undefined ? { preprocess: { ...side.preprocess, ...options.preprocess } } : {}),
    ...(side.decode !== undefined ? { decode: { ...side.decode, ...options.decode } } : {}),
    ...(options.labels === undefined && side.labels !== undefined ? { labels: side.labels } : {}),
  };
}

function sidecarFields(side: Sidecar): string {
  const head =
    side.head === undefined
      ? undefined
      : typeof side.head === 'string'
        ? `head '${side.head}'`
        : `head spec '${side.head.name}'`;
  return (
    [head, side.preprocess && 'preprocess', side.decode && 'decode', side.labels && `${side.labels.length} labels`]
      .filter(Boolean)
      .join(', ') || 'empty'
  );
}

/**
 * The pipeline of a model file: `options` over its sidecar's, and for a CTC recogniser given no
 * labels the dictionary found beside the model; the explanation ends with what each added. Shared by
 * openVisionModel and the server, which run the model their own ways.
 */
export async function modelFilePipeline(
  model: ModelSource,
  options: VisionPipelineOptions,
  side: Sidecar | undefined,
): Promise<VisionPipeline> {
  const merged = withSidecar(options, side);
  let pipeline = createVisionPipeline(merged);
  const notes = side === undefined ? [] : [`sidecar ${side.file}: ${sidecarFields(side)}`];
  // A text-line recogniser reads characters: its dictionary, when not given, sits beside the model.
  const classes = ctcClasses(pipeline.head, modelBinding(merged).outputs);
  if (classes !== undefined) {
    const labels = pipeline.decodeOptions.labels;
    const source =
      options.labels !== undefined ? 'your labels' : side?.labels !== undefined ? "the sidecar's labels" : 'metadata';
    const given = labels === undefined ? undefined : { source, count: labels.length };
    const dictionary = await dictionaryFor(model, classes, given);
    if (dictionary.labels !== undefined) pipeline = createVisionPipeline({ ...merged, labels: dictionary.labels });
    notes.unshift(dictionary.note);
  }
  return notes.length === 0 ? pipeline : { ...pipeline, explanation: [...pipeline.explanation, ...notes] };
}

export async function openVisionModel(model: ModelSource, options: OpenVisionOptions = {}): Promise<OpenedVisionModel> {
  const loaded = await readModel(model);
  const side = await readSidecar(model);
  const { session: settings, ...rest } = options;
  const runtime = await createSession(loaded, settings);
  try {
    const metadata = inspectModel(loaded.bytes, loaded.label).metadata;
    const pipeline = await modelFilePipeline(model, { ...rest, session: runtime, metadata }, side);
    return { ...pipeline, metadata, sidecar: side?.file, close: () => runtime.release() };
  } catch (error) {
    await runtime.release();
    throw error;
  }
}
