/**
 * Which nodes of a float graph get quantized and which activations get a QuantizeLinear →
 * DequantizeLinear pair, chosen so that onnxruntime's QDQ transformers fuse each group into an
 * integer kernel (QLinearConv, QGemm, QLinearMatMul, QLinearAdd/Mul, QLinearSigmoid, ...):
 *
 * - every activation input and the output of a quantized node gets one pair, shared by all its
 *   readers, and a quantized node's output goes to nothing but its Q (onnxruntime only fuses a
 *   node whose output is read by the Q alone);
 * - Relu and Clip right after a quantized node are folded: the pair goes after them, with their
 *   output's range, and onnxruntime drops them as the Q's clamping makes them redundant;
 * - data-movement ops (MaxPool, Resize, Reshape, Transpose, ...) pass the scale of their input
 *   through to their output, so onnxruntime runs them on the 8-bit data directly;
 * - a Div by a positive constant right after a quantized node (HardSwish's /6) is folded into
 *   scales: the node's Q quantizes x at c·s what its DQ reads back at s as x/c, and no Div runs;
 * - the detection head's final decode (every node after the last Conv/Gemm/MatMul on its way to
 *   an output) stays in float by default: it is cheap, and box arithmetic is where 8 bits hurt;
 * - so does the stem, the first depthwise Conv and every node before it (stemNodes);
 * - and SiLU, x·sigmoid(x), unless asked (siluPairs): onnxruntime has no int8 SiLU, and its pair
 *   QLinearSigmoid + QLinearMul cost more than DequantizeLinear → one float QuickGelu →
 *   QuantizeLinear (yolox_nano, 103 SiLUs: 6.9 against 6.1 ms of kernel time per run).
 */
import { RtinferError } from '../errors.js';
import type { OnnxGraph, OnnxNode } from '../runtime/onnx-schema.js';
import { TensorDataType } from '../runtime/onnx-schema.js';
import { attrInt, elementTypes, floatValues, indexGraph, topologicalOrder, type GraphIndex } from './graph.js';

/** Ops with weights: input 1 quantized per output channel, input 2 (bias) to int32. */
export const COMPUTE_OPS: ReadonlySet<string> = new Set(['Conv', 'Gemm', 'MatMul']);
/** Ops onnxruntime has integer kernels for, which take their inputs' and output's own scales. */
export const ARITHMETIC_OPS: ReadonlySet<string> = new Set([
  'Add',
  'Mul',
  'Sigmoid',
  'GlobalAveragePool',
  'AveragePool',
  'LeakyRelu',
  'Concat',
]);
/** Data movement: the output keeps the input's scale and zero point. */
export const PASS_THROUGH_OPS: ReadonlySet<string> = new Set([
  'MaxPool',
  'Resize',
  'Reshape',
  'Transpose',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Slice',
]);
/** keptFloat's reason for a SiLU written as one float QuickGelu. */
export const FLOAT_SILU = 'SiLU (one float QuickGelu)';

/** Folded into the preceding quantized node. */
export const FOLDED_OPS: ReadonlySet<string> = new Set(['Relu', 'Clip']);

export const QUANTIZABLE_OPS: ReadonlySet<string> = new Set([
  ...COMPUTE_OPS,
  ...ARITHMETIC_OPS,
  ...PASS_THROUGH_OPS,
  ...FOLDED_OPS,
]);

export interface ExcludeSpec {
  /** Node names and op types to keep in float; checked against the model (unknown ones are an error). */
  names?: readonly string[];
  /** Quantize the detection head's final decode too (default false: it stays float). */
  quantizeHead?: boolean;
  /** Quantize the stem (stemNodes) too (default false: it stays float). */
  quantizeStem?: boolean;
  /** Quantize SiLU as QLinearSigmoid + QLinearMul (default false: one float QuickGelu). */
  quantizeSilu?: boolean;
}

export interface QdqPlan {
  /** Nodes to quantize, in topological order. */
  nodes: OnnxNode[];
  /** Activations that get a Q/DQ pair, in topological order of their producers (graph inputs first). */
  activations: string[];
  /** Activation → the activation whose scale it shares (pass-through outputs). */
  sharesScaleWith: Map<string, string>;
  /** Why nodes were left in float: node name → reason. */
  keptFloat: Map<string, string>;
  /** SiLU Mul → its Sigmoid (siluPairs); those left float are written as one QuickGelu. */
  silu: Map<OnnxNode, OnnxNode>;
  /** The SiLU nodes kept float for being SiLU (not for the stem, the head or --exclude). */
  floatSilu: Set<OnnxNode>;
  /** Div nodes folded into the scales of the pair on their output → their divisor (scaleDivisor). */
  scaleDivs: Map<OnnxNode, number>;
  index: GraphIndex;
}

/** Indices of a node's inputs that carry activations to quantize (weights are handled apart). */
export function activationInputs(node: OnnxNode, index: GraphIndex): number[] {
  const op = node.op_type ?? '';
  if (op === 'Conv') return [0];
  if (op === 'Gemm' || op === 'MatMul') return index.initializers.has(node.input[1] ?? '') ? [0] : [0, 1];
  if (op === 'Add' || op === 'Mul') return [0, 1].filter((k) => !index.initializers.has(node.input[k] ?? ''));
  if (op === 'Concat') return node.input.map((_, k) => k).filter((k) => !index.initializers.has(node.input[k] ?? ''));
  return [0];
}

/** Names of nodes whose every path to an output crosses no Conv/Gemm/MatMul: the head's decode. */
export function headDecodeNodes(graph: OnnxGraph, index: GraphIndex): Set<OnnxNode> {
  const order = topologicalOrder(graph);
  const feedsCompute = new Set<OnnxNode>();
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    const next = n.output.flatMap((o) => index.consumers.get(o) ?? []);
    if (next.some((c) => COMPUTE_OPS.has(c.op_type ?? '') || feedsCompute.has(c))) feedsCompute.add(n);
  }
  return new Set(order.filter((n) => !feedsCompute.has(n) && !COMPUTE_OPS.has(n.op_type ?? '')));
}

/**
 * The first depthwise Conv and every node it depends on. The stem's first activations feed that
 * Conv channel by channel, and one 8-bit scale per tensor cannot hold their channels: yolox_nano's
 * first SiLU has channel maxima from 0.1 to 127 (means near 2), and quantizing it took the mAP@0.5
 * agreement to 0.49 (min-max) where keeping these four nodes float gave 0.99, at no cost in speed
 * (its int8 stem Conv was no faster than fp32's). Empty for networks without depthwise Convs.
 */
export function stemNodes(graph: OnnxGraph, index: GraphIndex): Set<OnnxNode> {
  const order = topologicalOrder(graph);
  const first = order.find((n) => {
    if (n.op_type !== 'Conv') return false;
    const group = attrInt(n, 'group', 1);
    const w = index.initializers.get(n.input[1] ?? '');
    return group > 1 && w !== undefined && Number(w.dims[1]) === 1;
  });
  const stem = new Set<OnnxNode>();
  if (first === undefined) return stem;
  const todo = [first];
  while (todo.length > 0) {
    const n = todo.pop()!;
    if (stem.has(n)) continue;
    stem.add(n);
    for (const i of n.input) {
      const p = index.producer.get(i);
      if (p !== undefined) todo.push(p);
    }
  }
  return stem;
}

/**
 * SiLU written out as Sigmoid(x) and Mul(x, that Sigmoid), the Sigmoid read by that Mul alone: Mul → Sigmoid.
 * Left float, the pair becomes one com.microsoft QuickGelu (alpha 1, x·sigmoid(x)) in the rewrite:
 * onnxruntime would fuse it itself on a float graph, but not once x comes out of a DequantizeLinear,
 * which it copies for each of its two readers.
 */
export function siluPairs(graph: OnnxGraph, index: GraphIndex): Map<OnnxNode, OnnxNode> {
  const pairs = new Map<OnnxNode, OnnxNode>();
  for (const mul of graph.node) {
    if (mul.op_type !== 'Mul' || (mul.domain ?? '') !== '' || mul.input.length !== 2) continue;
    for (const k of [0, 1]) {
      const [s, x] = [mul.input[k] ?? '', mul.input[1 - k] ?? ''];
      const sigmoid = index.producer.get(s);
      if (sigmoid?.op_type !== 'Sigmoid' || (sigmoid.domain ?? '') !== '' || sigmoid.input[0] !== x) continue;
      if ((index.consumers.get(s) ?? []).length !== 1 || index.graphOutputs.has(s) || x === s) continue;
      pairs.set(mul, sigmoid);
      break;
    }
  }
  return pairs;
}

export function planQdq(graph: OnnxGraph, exclude: ExcludeSpec = {}): QdqPlan {
  const index = indexGraph(graph);
  const types = elementTypes(graph);
  const isFloat = (name: string): boolean =>
    name !== '' && types.get(name) === TensorDataType.FLOAT && !index.initializers.has(name);
  const order = topologicalOrder(graph);
  const silu = siluPairs(graph, index);
  const facts = { index, types, order, isFloat, silu };
  const { chosen, keptFloat, floatSilu } = chooseNodes(graph, exclude, facts);
  dropLonePassThrough(order, index, chosen);
  const scaleDivs = foldableDivs(order, index, chosen);
  const nodes = order.filter((n) => chosen.has(n));
  const activations = activationsOf(nodes, index, chosen, isFloat, scaleDivs);
  const sharesScaleWith = sharedScales(nodes, new Set(activations));
  return { nodes, activations, sharesScaleWith, keptFloat, silu, floatSilu, scaleDivs, index };
}

interface GraphFacts {
  index: GraphIndex;
  types: ReadonlyMap<string, number>;
  order: readonly OnnxNode[];
  /** A float tensor computed at run time (not an initializer). */
  isFloat: (name: string) => boolean;
  silu: ReadonlyMap<OnnxNode, OnnxNode>;
}

/** The nodes that can be quantized, and why notable others stay float (keyed by node name). */
function chooseNodes(
  graph: OnnxGraph,
  exclude: ExcludeSpec,
  { index, types, order, isFloat, silu }: GraphFacts,
): { chosen: Set<OnnxNode>; keptFloat: Map<string, string>; floatSilu: Set<OnnxNode> } {
  const excluded = checkExclude(graph, exclude.names ?? []);
  const head = exclude.quantizeHead ? new Set<OnnxNode>() : headDecodeNodes(graph, index);
  const stem = exclude.quantizeStem ? new Set<OnnxNode>() : stemNodes(graph, index);
  const siluNodes = new Set(exclude.quantizeSilu ? [] : [...silu].flat());
  const floatSilu = new Set<OnnxNode>();
  const keptFloat = new Map<string, string>();
  const chosen = new Set<OnnxNode>();
  for (const n of order) {
    const op = n.op_type ?? '';
    const name = n.name ?? '';
    if (head.has(n)) {
      keptFloat.set(name, 'detection head decode');
      continue;
    }
    if (stem.has(n)) {
      keptFloat.set(name, 'stem (up to the first depthwise Conv)');
      continue;
    }
    if (siluNodes.has(n)) {
      floatSilu.add(n);
      keptFloat.set(name, FLOAT_SILU);
      continue;
    }
    if ((n.domain ?? '') !== '' || !(QUANTIZABLE_OPS.has(op) || scaleDivisor(n, index) !== undefined)) continue;
    if (excluded.has(name) || excluded.has(op)) {
      keptFloat.set(name, 'excluded');
      continue;
    }
    if (!isFloat(n.input[0] ?? '') && !(op === 'Add' || op === 'Mul' || op === 'Concat')) continue;
    const acts = activationInputs(n, index);
    if (acts.length === 0 || acts.some((k) => !isFloat(n.input[k] ?? ''))) continue;
    if (!isFloat(n.output[0] ?? '')) continue;
    if (COMPUTE_OPS.has(op) && !weightOk(n, index)) {
      keptFloat.set(name, 'weights are not a float initializer');
      continue;
    }
    if (
      (op === 'Add' || op === 'Mul') &&
      n.input.some((i) => index.initializers.has(i) && types.get(i) !== TensorDataType.FLOAT)
    )
      continue;
    chosen.add(n);
  }
  return { chosen, keptFloat, floatSilu };
}

/**
 * Pass-through and folded ops are only worth quantizing next to quantized work: alone they would
 * add a Q/DQ round trip and gain nothing.
 */
function dropLonePassThrough(order: readonly OnnxNode[], index: GraphIndex, chosen: Set<OnnxNode>): void {
  for (const n of order) {
    const op = n.op_type ?? '';
    if (!chosen.has(n) || !(PASS_THROUGH_OPS.has(op) || FOLDED_OPS.has(op))) continue;
    const producer = index.producer.get(n.input[0] ?? '');
    const readers = n.output.flatMap((o) => index.consumers.get(o) ?? []);
    if ((producer === undefined || !chosen.has(producer)) && !readers.some((r) => chosen.has(r))) chosen.delete(n);
  }
}

/** The divisor of a Div by a positive constant scalar, which can be folded into a pair's scales. */
export function scaleDivisor(n: OnnxNode, index: GraphIndex): number | undefined {
  if (n.op_type !== 'Div' || (n.domain ?? '') !== '') return undefined;
  const c = index.initializers.get(n.input[1] ?? '');
  if (c === undefined || c.dims.some((d) => Number(d) !== 1)) return undefined;
  const v = floatValues(c)?.[0];
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * The chosen Divs that fold into scales: their input comes from a quantized kernel (which writes
 * its own output scale) and goes to the Div alone. Other Divs are not worth a pair: back to float.
 */
function foldableDivs(order: readonly OnnxNode[], index: GraphIndex, chosen: Set<OnnxNode>): Map<OnnxNode, number> {
  const divs = new Map<OnnxNode, number>();
  for (const n of order) {
    const c = chosen.has(n) ? scaleDivisor(n, index) : undefined;
    if (c === undefined) continue;
    const t = n.input[0] ?? '';
    const producer = index.producer.get(t);
    const op = producer?.op_type ?? '';
    const ok =
      producer !== undefined &&
      chosen.has(producer) &&
      (COMPUTE_OPS.has(op) || ARITHMETIC_OPS.has(op)) &&
      (index.consumers.get(t) ?? []).length === 1 &&
      !index.graphOutputs.has(t);
    if (ok) divs.set(n, c);
    else chosen.delete(n);
  }
  return divs;
}

/** The tensors that get a Q/DQ pair, in node order: the chosen nodes' activation inputs and outputs. */
function activationsOf(
  nodes: readonly OnnxNode[],
  index: GraphIndex,
  chosen: ReadonlySet<OnnxNode>,
  isFloat: (name: string) => boolean,
  scaleDivs: ReadonlyMap<OnnxNode, number>,
): string[] {
  const folded = (t: string): boolean => {
    // t is produced by a quantized node and read only by one quantized Relu/Clip or folded Div: no pair on t.
    const producer = index.producer.get(t);
    const readers = index.consumers.get(t) ?? [];
    return (
      producer !== undefined &&
      chosen.has(producer) &&
      !FOLDED_OPS.has(producer.op_type ?? '') &&
      readers.length === 1 &&
      (FOLDED_OPS.has(readers[0]!.op_type ?? '') || scaleDivs.has(readers[0]!)) &&
      chosen.has(readers[0]!) &&
      !index.graphOutputs.has(t)
    );
  };
  const activations: string[] = [];
  const seen = new Set<string>();
  const add = (t: string): void => {
    if (seen.has(t) || !isFloat(t) || folded(t)) return;
    seen.add(t);
    activations.push(t);
  };
  for (const n of nodes) {
    for (const k of activationInputs(n, index)) add(n.input[k] ?? '');
    add(n.output[0] ?? '');
  }
  return activations;
}

/** Pass-through outputs share the scale of their input's chain (the chain's first tensor). */
function sharedScales(nodes: readonly OnnxNode[], activations: ReadonlySet<string>): Map<string, string> {
  const sharesScaleWith = new Map<string, string>();
  for (const n of nodes) {
    const [source, target] = [n.input[0] ?? '', n.output[0] ?? ''];
    if (PASS_THROUGH_OPS.has(n.op_type ?? '') && activations.has(source) && activations.has(target))
      sharesScaleWith.set(target, sharesScaleWith.get(source) ?? source);
  }
  return sharesScaleWith;
}

/**
 * Where Sigmoid saturates: sigmoid(-6) = 0.0025, under half of a uint8 step over [0, 1] (1/255),
 * and SiLU(-6) = x·sigmoid(x) = -0.015. Below it the readers cannot tell values apart.
 */
export const SATURATION = 6;

/**
 * A lower bound for `t`'s quantization range when every reader saturates below it: t goes only to
 * Sigmoid, or to Sigmoid and to a Mul with that Sigmoid's output (SiLU, x·sigmoid(x)). Batch-norm
 * folded convolutions before SiLU have long negative tails (yolox_nano: min -92 where the 99th
 * percentile is near -5); spending 8 bits on them would triple the step of the values that matter.
 */
export function saturatedLowerBound(t: string, index: GraphIndex): number | undefined {
  const readers = index.consumers.get(t) ?? [];
  if (readers.length === 0 || index.graphOutputs.has(t)) return undefined;
  const sigmoids = new Set(readers.filter((r) => r.op_type === 'Sigmoid').flatMap((r) => r.output));
  if (sigmoids.size === 0) return undefined;
  const ok = readers.every(
    (r) =>
      r.op_type === 'Sigmoid' || (r.op_type === 'Mul' && r.input.includes(t) && r.input.some((i) => sigmoids.has(i))),
  );
  return ok ? -SATURATION : undefined;
}

function weightOk(n: OnnxNode, index: GraphIndex): boolean {
  const op = n.op_type ?? '';
  const w = index.initializers.get(n.input[1] ?? '');
  if (op === 'MatMul' && w === undefined) return true;
  if (w === undefined || w.data_type !== TensorDataType.FLOAT) return false;
  if (op === 'Gemm' && (attrInt(n, 'transA', 0) !== 0 || w.dims.length !== 2)) return false;
  if (op === 'MatMul' && w.dims.length !== 2) return false;
  const b = n.input[2];
  if (b !== undefined && b !== '') {
    const bias = index.initializers.get(b);
    if (bias === undefined || bias.data_type !== TensorDataType.FLOAT || bias.dims.length !== 1) return false;
  }
  return true;
}

/** The exclude list as a set, after checking every entry names a node or an op type in the graph. */
function checkExclude(graph: OnnxGraph, names: readonly string[]): Set<string> {
  const ops = new Set(graph.node.map((n) => n.op_type ?? ''));
  const nodes = new Set(graph.node.map((n) => n.name ?? ''));
  for (const name of names) {
    if (!ops.has(name) && !nodes.has(name)) {
      const looksLikeOp = /^[A-Z][A-Za-z0-9]*$/.test(name);
      const list = [...ops].sort().join(', ');
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        looksLikeOp
          ? `invalid --exclude '${name}': no node or op type of that name in the model (its op types: ${list})`
          : `invalid --exclude '${name}': no node of that name in the model`,
      );
    }
  }
  return new Set(names);
}
