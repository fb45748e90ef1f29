/**
 * Sensitivity: which quantized Conv/Gemm/MatMul nodes cost the most accuracy. Each one in turn is
 * kept in float while the rest stays quantized (same calibrated ranges), and the model outputs'
 * relative error against the float model, on a few calibration samples, is compared with the
 * fully quantized model's: the drop in error is what quantizing that node costs.
 *
 * Per-tensor errors inside one fake-quant model would be cheaper, but mislead: the range floor
 * before SiLU (saturatedLowerBound) shows up as large error at the Conv output that no reader
 * can see. Model outputs are what the user sees.
 */
import type { Tensor } from 'onnxruntime-node';
import { encodeModel, type OnnxGraph, type OnnxModel, type OnnxNode } from '../runtime/onnx-schema.js';
import { openSession } from '../runtime/session.js';
import type { CollectedRanges } from './calibrate.js';
import { COMPUTE_OPS, type QdqPlan } from './qdq-plan.js';
import { quantizeStatic, type QuantizeOptions } from './quantize.js';

type Model = OnnxModel & { graph: OnnxGraph };
type Feeds = Record<string, Tensor>;

/**
 * A compute node and the activation right after it that reads only its output (Relu, Clip,
 * Sigmoid, and the Mul of a SiLU): kept in float together, so no Q/DQ pair is left between them.
 * Keeping the Conv alone in float would leave its output quantized for the SiLU, and save nothing.
 */
export function blockOf(plan: QdqPlan, node: OnnxNode): string[] {
  const out = node.output[0] ?? '';
  const readers = plan.index.consumers.get(out) ?? [];
  const names = [node.name ?? ''];
  const sigmoids = readers.filter((r) => r.op_type === 'Sigmoid');
  for (const r of readers) {
    const op = r.op_type ?? '';
    const silu =
      op === 'Mul' && r.input.includes(out) && r.input.some((i) => sigmoids.some((sg) => sg.output.includes(i)));
    if (op === 'Relu' || op === 'Clip' || op === 'Sigmoid' || silu) names.push(r.name ?? '');
  }
  return names;
}

export interface NodeSensitivity {
  /** The compute node; `block` lists it with the activation kept in float along with it. */
  node: string;
  block: string[];
  opType: string;
  /** Output relative error with this node kept in float. */
  errorWithout: number;
  /** Fully quantized error minus errorWithout: what quantizing this node costs. */
  cost: number;
}

export interface SensitivityResult {
  /** Relative mean absolute error of the fully quantized model's outputs. */
  baseline: number;
  nodes: NodeSensitivity[];
}

async function outputsOf(bytes: Uint8Array, feeds: readonly Feeds[]): Promise<Float32Array[][]> {
  const s = await openSession(bytes, { logLevel: 'fatal' });
  try {
    const out: Float32Array[][] = [];
    for (const f of feeds) {
      const r = await s.run(f);
      out.push(
        Object.keys(r)
          .sort()
          .map((k) => r[k]!.data as Float32Array),
      );
    }
    return out;
  } finally {
    await s.release();
  }
}

function relativeError(reference: Float32Array[][], candidate: Float32Array[][]): number {
  let e = 0;
  let s = 0;
  reference.forEach((outs, i) =>
    outs.forEach((x, k) => {
      const y = candidate[i]![k]!;
      for (let j = 0; j < x.length; j++) {
        e += Math.abs(x[j]! - y[j]!);
        s += Math.abs(x[j]!);
      }
    }),
  );
  return s > 0 ? e / s : 0;
}

export async function nodeSensitivity(
  model: Model,
  feeds: readonly Feeds[],
  ranges: CollectedRanges,
  o: QuantizeOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<SensitivityResult> {
  const full = await quantizeStatic(model, feeds, { ...o, ranges });
  const reference = await outputsOf(encodeModel(full.prepared), feeds);
  const baseline = relativeError(reference, await outputsOf(encodeModel(full.model), feeds));
  const candidates = full.plan.nodes.filter((n) => COMPUTE_OPS.has(n.op_type ?? ''));
  const nodes: NodeSensitivity[] = [];
  for (const [k, n] of candidates.entries()) {
    const without = await quantizeStatic(model, feeds, {
      ...o,
      ranges,
      names: [...(o.names ?? []), ...blockOf(full.plan, n)],
    });
    const errorWithout = relativeError(reference, await outputsOf(encodeModel(without.model), feeds));
    nodes.push({
      node: n.name ?? '',
      block: blockOf(full.plan, n),
      opType: n.op_type ?? '',
      errorWithout,
      cost: baseline - errorWithout,
    });
    onProgress?.(k + 1, candidates.length);
  }
  return { baseline, nodes: nodes.sort((a, b) => b.cost - a.cost) };
}
