/**
 * Static int8 quantization, QDQ format: prepare the float graph (prepare.ts), plan where Q/DQ
 * pairs go (qdq-plan.ts), calibrate the activations' ranges on the user's data (calibrate.ts) and
 * write the quantized graph (qdq-rewrite.ts).
 */
import { RtinferError } from '../errors.js';
import type { OnnxGraph, OnnxModel } from '../runtime/onnx-schema.js';
import type { SessionSettings } from '../runtime/session-options.js';
import type { Tensor } from 'onnxruntime-node';
import { collectRanges, type CollectedRanges } from './calibrate.js';
import { COMPUTE_OPS, planQdq, saturatedLowerBound, type ExcludeSpec, type QdqPlan } from './qdq-plan.js';
import { rewriteQdq, type QdqOptions } from './qdq-rewrite.js';
import { prepareForQuantization } from './prepare.js';
import type { CalibrationMethod, Range } from './ranges.js';

type Model = OnnxModel & { graph: OnnxGraph };

/** Ops whose outputs are bounded by construction: their observed range needs no clipping. */
const BOUNDED_OPS: ReadonlySet<string> = new Set(['Sigmoid', 'HardSigmoid', 'Softmax', 'Tanh', 'Clip']);

export interface QuantizeOptions extends QdqOptions, ExcludeSpec {
  method?: CalibrationMethod;
  percentile?: number;
  session?: SessionSettings;
  /** Ranges already collected for this model (the sensitivity search re-plans without recalibrating). */
  ranges?: CollectedRanges;
}

export interface QuantizeResult {
  model: Model;
  plan: QdqPlan;
  /** The prepared float model the plan refers to (Constant weights lifted, BatchNorm folded). */
  prepared: Model;
  ranges: CollectedRanges;
  /** Nodes quantized, by op type. */
  quantizedOps: Record<string, number>;
}

function assertSomethingToQuantize(plan: QdqPlan): void {
  if (!plan.nodes.some((n) => COMPUTE_OPS.has(n.op_type ?? ''))) {
    const excluded =
      plan.keptFloat.size > 0 ? ` (${plan.keptFloat.size} kept in float by --exclude or as the head's decode)` : '';
    throw new RtinferError(
      'RTI_ERR_OPTIMIZE_NOTHING',
      `the model has no quantizable Conv, Gemm or MatMul node with float weights${excluded}: nothing to quantize`,
    );
  }
}

/** The checks quantizeStatic makes before calibrating (exclude names, something left to quantize), alone. */
export function checkQuantizable(
  model: Model,
  names: readonly string[],
  quantizeHead: boolean,
  quantizeStem = false,
): void {
  assertSomethingToQuantize(planQdq(prepareForQuantization(model).graph, { names, quantizeHead, quantizeStem }));
}

export async function quantizeStatic(
  model: Model,
  feeds: ReadonlyArray<Record<string, Tensor>>,
  o: QuantizeOptions = {},
): Promise<QuantizeResult> {
  const prepared = prepareForQuantization(model);
  const plan = planQdq(prepared.graph, o);
  assertSomethingToQuantize(plan);
  let collected = o.ranges;
  if (collected === undefined) {
    if (feeds.length === 0)
      throw new RtinferError('RTI_ERR_ACCURACY_NO_IMAGES', 'static quantization needs calibration data (--calibrate)');
    collected = await collectRanges(prepared, plan.activations, feeds, {
      method: o.method ?? 'minmax',
      ...(o.percentile !== undefined ? { percentile: o.percentile } : {}),
      ...(o.session ? { session: o.session } : {}),
    });
  }
  const ranges = finalRanges(plan, collected);
  const quantized = rewriteQdq(prepared, plan, ranges, o);
  const quantizedOps: Record<string, number> = {};
  for (const n of plan.nodes) quantizedOps[n.op_type ?? ''] = (quantizedOps[n.op_type ?? ''] ?? 0) + 1;
  return { model: quantized, plan, prepared, ranges: collected, quantizedOps };
}

/**
 * The ranges the Q/DQ pairs get: the method's, except that values read only by the float head
 * decode keep their observed range (clipping a box regression or a class logit moves boxes and
 * scores, where clipping a hidden activation only saturates a few outliers), and values that only
 * Sigmoid/SiLU read are floored where those saturate (saturatedLowerBound).
 */
export function finalRanges(plan: QdqPlan, collected: CollectedRanges): Map<string, Range> {
  // A float SiLU between Q/DQ pairs stands where its int8 kernels would: its input keeps the method's range.
  const quantized = new Set([...plan.nodes, ...plan.floatSilu]);
  const out = new Map<string, Range>();
  for (const [t, range] of collected.ranges) {
    const readers = plan.index.consumers.get(t) ?? [];
    const toFloatOnly = readers.length > 0 && readers.every((r) => !quantized.has(r));
    const bounded = BOUNDED_OPS.has(plan.index.producer.get(t)?.op_type ?? '');
    let [lo, hi] =
      toFloatOnly || bounded || plan.index.graphOutputs.has(t) ? (collected.observed.get(t) ?? range) : range;
    const floor = saturatedLowerBound(t, plan.index);
    if (floor !== undefined && lo < floor) lo = floor;
    if (hi < lo) hi = lo;
    out.set(t, [lo, hi]);
  }
  return out;
}
