/**
 * The shortest way from a model file to predictions: read it, create an onnxruntime session, read
 * its metadata_props, and build the pipeline on them.
 */
import { inspectModel } from '../runtime/model-info.js';
import { createSession, readModel, type ModelSource } from '../runtime/session.js';
import type { SessionSettings } from '../runtime/session-options.js';
import { createVisionPipeline, type VisionPipeline, type VisionPipelineOptions } from './pipeline.js';

export type OpenVisionOptions = Omit<VisionPipelineOptions, 'run' | 'session' | 'inputs' | 'outputs' | 'metadata'> & {
  session?: SessionSettings;
};

export interface OpenedVisionModel extends VisionPipeline {
  /** metadata_props of the model file. */
  readonly metadata: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export async function openVisionModel(model: ModelSource, options: OpenVisionOptions = {}): Promise<OpenedVisionModel> {
  const loaded = await readModel(model);
  const { session: settings, ...rest } = options;
  const runtime = await createSession(loaded, settings);
  try {
    const metadata = inspectModel(loaded.bytes, loaded.label).metadata;
    const pipeline = createVisionPipeline({ ...rest, session: runtime, metadata });
    return { ...pipeline, metadata, close: () => runtime.release() };
  } catch (error) {
    await runtime.release();
    throw error;
  }
}
