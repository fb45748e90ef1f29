/**
 * Real ONNX models whose outputs are constants chosen by the test (built with the project's ONNX
 * builder): the image input is declared like the family's (so layout, size and head detection run
 * as for a real export) and the outputs are what the family's head would emit, so decoded boxes
 * and keypoints can be asserted exactly.
 */
import * as ort from 'onnxruntime-node';
import { createVisionPipeline, type VisionPipeline, type VisionPipelineOptions } from '../../src/vision/pipeline.js';
import type { RawImage } from '../../src/vision/types.js';
import { buildModel, node, tensorAttribute } from '../fixtures/onnx-builder.js';

export interface ConstantOutput {
  name: string;
  dims: number[];
  values: Float32Array;
}

export function constantModel(
  input: { name: string; shape: number[] },
  outputs: ConstantOutput[],
  metadata: Record<string, string> = {},
): Uint8Array {
  // onnxruntime accepts a graph input that no node reads.
  return buildModel({
    nodes: outputs.map((o) =>
      node(
        'Constant',
        [],
        [o.name],
        [
          tensorAttribute('value', {
            name: `${o.name}_value`,
            dims: o.dims,
            data_type: 1,
            raw_data: new Uint8Array(o.values.buffer, o.values.byteOffset, o.values.byteLength),
          }),
        ],
      ),
    ),
    inputs: [{ name: input.name, dtype: 'float32', shape: input.shape }],
    outputs: outputs.map((o) => ({ name: o.name, dtype: 'float32', shape: o.dims })),
    metadata,
  });
}

/** A session on the model and a pipeline over it (detected head unless options say otherwise). */
export async function openConstant(
  bytes: Uint8Array,
  metadata: Record<string, string> = {},
  options: Omit<VisionPipelineOptions, 'session' | 'metadata'> = {},
): Promise<{ pipeline: VisionPipeline; close: () => Promise<void> }> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const pipeline = createVisionPipeline({ ...options, session, metadata });
    return { pipeline, close: () => session.release() };
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** A grey frame of width × height (the constant models ignore their input). */
export function blankFrame(width: number, height: number): RawImage {
  return { data: new Uint8Array(width * height * 3).fill(128), width, height, channels: 3 };
}

/** Filled with `fill`; `set(c, pos, v)` writes channel c at position pos of a [1, C, H·W] or [1, N, C] layout. */
export function levelValues(channels: number, positions: number, fill: number, layout: 'chw' | 'nc') {
  const values = new Float32Array(channels * positions).fill(fill);
  const set = (c: number, pos: number, v: number): void => {
    values[layout === 'chw' ? c * positions + pos : pos * channels + c] = v;
  };
  return { values, set };
}
