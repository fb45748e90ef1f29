/**
 * Writes a QDQ model from a plan and calibrated ranges: activations get QuantizeLinear →
 * DequantizeLinear (8-bit, asymmetric uint8 by default), weights are stored as int8, symmetric,
 * one scale per output channel, behind a DequantizeLinear, and biases as int32 at the scale
 * input_scale × weight_scale that onnxruntime's integer kernels expect.
 *
 * Per-channel DequantizeLinear needs the `axis` attribute, which the default domain has from opset
 * 13. Older models (yolox_nano is opset 11, RFB-320 and PP-OCR opset 9) get onnxruntime's
 * com.microsoft QuantizeLinear/DequantizeLinear instead, which have `axis` at every opset and which
 * onnxruntime's QDQ fusion matches like the standard ones; such a model then needs onnxruntime,
 * which is what rtinfer runs. Upgrading the whole graph's opset would instead mean rewriting every
 * op whose signature changed (Slice, Unsqueeze, Softmax, ...), for no speed gained.
 */
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../runtime/onnx-schema.js';
import { TensorDataType } from '../runtime/onnx-schema.js';
import {
  attrInt,
  defaultOpset,
  floatAttr,
  floatValues,
  intAttr,
  makeNode,
  makeTensor,
  NameSource,
  topologicalOrder,
} from './graph.js';
import { COMPUTE_OPS, activationInputs, type QdqPlan } from './qdq-plan.js';
import type { Range } from './ranges.js';

export const ACTIVATION_TYPES = ['uint8', 'int8'] as const;
export type ActivationType = (typeof ACTIVATION_TYPES)[number];

export interface QdqOptions {
  /** uint8 asymmetric (default) or int8 symmetric activations. */
  activationType?: ActivationType;
  /** One weight scale per output channel (default true); false: one per tensor. */
  perChannel?: boolean;
}

interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/** Scale and zero point for a range; the range is widened to include 0, so 0 is exact. */
export function activationParams(range: Range, type: ActivationType): QuantParams {
  const lo = Math.min(range[0], 0);
  const hi = Math.max(range[1], 0);
  if (type === 'int8') {
    const m = Math.max(-lo, hi);
    return { scale: m > 0 ? m / 127 : 1, zeroPoint: 0 };
  }
  if (hi === lo) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / 255;
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint };
}

/** Symmetric int8 weights: q = round(w / scale) in [-127, 127], per channel along `axis` (or one scale). */
export function quantizeWeights(
  values: Float32Array,
  dims: readonly number[],
  axis: number | undefined,
): { q: Int8Array; scales: Float32Array } {
  const channels = axis === undefined ? 1 : dims[axis]!;
  const inner = axis === undefined ? values.length : dims.slice(axis + 1).reduce((p, d) => p * d, 1);
  const scales = new Float32Array(channels);
  const channelOf = (i: number): number => (axis === undefined ? 0 : Math.floor(i / inner) % channels);
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(i);
    const a = Math.abs(values[i]!);
    if (a > scales[c]!) scales[c] = a;
  }
  for (let c = 0; c < channels; c++) scales[c] = scales[c]! > 0 ? scales[c]! / 127 : 1;
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++)
    q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / scales[channelOf(i)]!)));
  return { q, scales };
}

type Model = OnnxModel & { graph: OnnxGraph };

export function rewriteQdq(
  model: Model,
  plan: QdqPlan,
  ranges: ReadonlyMap<string, Range>,
  options: QdqOptions = {},
): Model {
  const actType = options.activationType ?? 'uint8';
  const perChannel = options.perChannel ?? true;
  const domain = defaultOpset(model) >= 13 ? '' : 'com.microsoft';
  const out = new QdqWriter(new NameSource(model.graph), domain, actType);
  const params = activationParamsOf(plan, ranges, actType);
  const wiring = quantizeActivations(out, plan, params);
  const nodeInputs = new Map<OnnxNode, string[]>();
  for (const n of plan.nodes) nodeInputs.set(n, quantizedInputs(out, n, plan, params, perChannel));
  return assemble(model, plan, out, nodeInputs, wiring);
}

/**
 * What the rewrite adds to the graph, in the order it adds it: fresh names, new initializers and
 * the Q/DQ nodes (appended, then sorted into topological order by `assemble`).
 */
class QdqWriter {
  readonly inits: OnnxTensor[] = [];
  readonly nodes: OnnxNode[] = [];
  /** Element type of quantized activations and constants. */
  readonly qElem: number;

  constructor(
    readonly names: NameSource,
    readonly domain: string,
    readonly actType: ActivationType,
  ) {
    this.qElem = actType === 'uint8' ? TensorDataType.UINT8 : TensorDataType.INT8;
  }

  scalar(stem: string, type: number, value: number): string {
    const name = this.names.fresh(stem);
    const data =
      type === TensorDataType.FLOAT
        ? Float32Array.of(value)
        : type === TensorDataType.UINT8
          ? Uint8Array.of(value)
          : Int8Array.of(value);
    this.inits.push(makeTensor(name, type, [], data));
    return name;
  }

  /** A DequantizeLinear named after `stem` reading [q, scale, zero point] into `output`. */
  dequantize(stem: string, inputs: string[], output: string, axis?: number): void {
    const attributes = axis === undefined ? [] : [intAttr('axis', axis)];
    const name = this.names.fresh(`${stem}_DequantizeLinear`);
    this.nodes.push(makeNode('DequantizeLinear', inputs, [output], name, attributes, this.domain));
  }
}

/** Activation parameters, shared along pass-through chains. */
function activationParamsOf(
  plan: QdqPlan,
  ranges: ReadonlyMap<string, Range>,
  actType: ActivationType,
): Map<string, QuantParams> {
  const params = new Map<string, QuantParams>();
  for (const t of plan.activations) {
    const source = plan.sharesScaleWith.get(t);
    const shared = source === undefined ? undefined : params.get(source);
    const range = ranges.get(t);
    if (shared !== undefined) params.set(t, shared);
    else if (range !== undefined) params.set(t, activationParams(range, actType));
  }
  return params;
}

/** How the activations' Q → DQ pairs are wired in: producers renamed, graph-input readers rewired. */
interface Wiring {
  renamedOutputs: Map<string, string>;
  rewiredInputs: Map<string, string>;
}

/**
 * Each activation: its producer now writes `<t>_fq`, and Q → DQ turns that back into `t`, so
 * every reader (and a graph output of that name) sees the dequantized value without rewiring.
 * Graph inputs have no producer: their readers are rewired to `<t>_dq` instead.
 */
function quantizeActivations(out: QdqWriter, plan: QdqPlan, params: ReadonlyMap<string, QuantParams>): Wiring {
  const { names } = out;
  const wiring: Wiring = { renamedOutputs: new Map(), rewiredInputs: new Map() };
  for (const t of plan.activations) {
    const p = params.get(t);
    if (p === undefined) continue;
    const s = out.scalar(`${t}_scale`, TensorDataType.FLOAT, p.scale);
    const z = out.scalar(`${t}_zero_point`, out.qElem, p.zeroPoint);
    const quantized = names.fresh(`${t}_q`);
    const producer = plan.index.producer.get(t);
    const divisor = producer === undefined ? undefined : plan.scaleDivs.get(producer);
    let source = t;
    let target = t;
    let qScale = s;
    if (producer !== undefined && divisor !== undefined) {
      // t = u / c, the Div dropped: u quantized at c·s gives the integers t has at s.
      source = names.fresh(`${t}_fq`);
      wiring.renamedOutputs.set(producer.input[0] ?? '', source);
      qScale = out.scalar(`${t}_folded_scale`, TensorDataType.FLOAT, p.scale * divisor);
    } else if (producer !== undefined) {
      source = names.fresh(`${t}_fq`);
      wiring.renamedOutputs.set(t, source);
    } else {
      target = names.fresh(`${t}_dq`);
      wiring.rewiredInputs.set(t, target);
    }
    out.nodes.push(
      makeNode('QuantizeLinear', [source, qScale, z], [quantized], names.fresh(`${t}_QuantizeLinear`), [], out.domain),
    );
    out.dequantize(t, [quantized, s, z], target);
  }
  return wiring;
}

/** The inputs node `n` reads once its weight, bias and constant operands are stored quantized. */
function quantizedInputs(
  out: QdqWriter,
  n: OnnxNode,
  plan: QdqPlan,
  params: ReadonlyMap<string, QuantParams>,
  perChannel: boolean,
): string[] {
  const { index } = plan;
  const op = n.op_type ?? '';
  const inputs = [...n.input];
  const weight = index.initializers.get(n.input[1] ?? '');
  if (COMPUTE_OPS.has(op) && weight !== undefined) {
    const axis = !perChannel || op === 'MatMul' ? undefined : op === 'Gemm' && attrInt(n, 'transB', 0) === 0 ? 1 : 0;
    const { name, scales } = dequantizedWeight(out, weight, axis);
    inputs[1] = name;
    const b = n.input[2];
    const xParams = params.get(n.input[0] ?? '');
    if (b !== undefined && b !== '' && xParams !== undefined) {
      const bias = floatValues(index.initializers.get(b)!)!;
      inputs[2] = dequantizedBias(out, b, bias, xParams.scale, scales, axis);
    }
  }
  if (op === 'Add' || op === 'Mul') {
    // Constant operands (a scale, an offset) are quantized with their own range.
    for (let k = 0; k < 2; k++) {
      const c = index.initializers.get(n.input[k] ?? '');
      if (c === undefined || activationInputs(n, index).includes(k)) continue;
      inputs[k] = dequantizedConstant(out, c);
    }
  }
  return inputs;
}

/** The weight as int8 (per channel along `axis`, or one scale) behind a DequantizeLinear. */
function dequantizedWeight(
  out: QdqWriter,
  w: OnnxTensor,
  axis: number | undefined,
): { name: string; scales: Float32Array } {
  const { names } = out;
  const { q, scales } = quantizeWeights(floatValues(w)!, w.dims, axis);
  const wq = names.fresh(`${w.name ?? 'W'}_quantized`);
  const ws = names.fresh(`${w.name ?? 'W'}_scale`);
  const wz = names.fresh(`${w.name ?? 'W'}_zero_point`);
  const wd = names.fresh(`${w.name ?? 'W'}_DequantizeLinear_Output`);
  const shape = axis === undefined ? [] : [scales.length];
  out.inits.push(
    makeTensor(wq, TensorDataType.INT8, w.dims, q),
    makeTensor(ws, TensorDataType.FLOAT, shape, scales),
    makeTensor(wz, TensorDataType.INT8, shape, new Int8Array(scales.length)),
  );
  out.dequantize(w.name ?? 'W', [wq, ws, wz], wd, axis);
  return { name: wd, scales };
}

/** The bias as int32 at the scale input_scale × weight_scale onnxruntime's integer kernels expect. */
function dequantizedBias(
  out: QdqWriter,
  b: string,
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
  axis: number | undefined,
): string {
  const { names } = out;
  const bScales = Float32Array.from(
    { length: bias.length },
    (_, c) => inputScale * weightScales[axis === undefined ? 0 : c]!,
  );
  const bq = Int32Array.from(bias, (v, c) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(v / bScales[c]!))));
  const bqName = names.fresh(`${b}_quantized`);
  const bsName = names.fresh(`${b}_scale`);
  const bzName = names.fresh(`${b}_zero_point`);
  const bdName = names.fresh(`${b}_DequantizeLinear_Output`);
  out.inits.push(
    makeTensor(bqName, TensorDataType.INT32, [bias.length], bq),
    makeTensor(bsName, TensorDataType.FLOAT, [bias.length], bScales),
    makeTensor(bzName, TensorDataType.INT32, [bias.length], new Int32Array(bias.length)),
  );
  out.dequantize(b, [bqName, bsName, bzName], bdName, 0);
  return bdName;
}

/** A constant operand quantized like an activation, over its own min/max. */
function dequantizedConstant(out: QdqWriter, c: OnnxTensor): string {
  const v = floatValues(c)!;
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const p = activationParams([lo, hi], out.actType);
  const q =
    out.actType === 'uint8'
      ? Uint8Array.from(v, (x) => clamp(Math.round(x / p.scale) + p.zeroPoint, 0, 255))
      : Int8Array.from(v, (x) => clamp(Math.round(x / p.scale), -127, 127));
  const qName = out.names.fresh(`${c.name ?? 'C'}_quantized`);
  out.inits.push(makeTensor(qName, out.qElem, c.dims, q));
  const s = out.scalar(`${c.name ?? 'C'}_scale`, TensorDataType.FLOAT, p.scale);
  const z = out.scalar(`${c.name ?? 'C'}_zero_point`, out.qElem, p.zeroPoint);
  const d = out.names.fresh(`${c.name ?? 'C'}_DequantizeLinear_Output`);
  out.dequantize(c.name ?? 'C', [qName, s, z], d);
  return d;
}

/** The rewritten model: nodes rewired, Q/DQ nodes and initializers added, unused float weights dropped. */
function assemble(
  model: Model,
  plan: QdqPlan,
  out: QdqWriter,
  nodeInputs: ReadonlyMap<OnnxNode, string[]>,
  { renamedOutputs, rewiredInputs }: Wiring,
): Model {
  const { graph } = model;
  const { index } = plan;
  const quantized = new Set(plan.nodes);
  const fused = [...plan.silu].filter(([mul, sigmoid]) => !quantized.has(mul) && !quantized.has(sigmoid));
  const fusedSigmoids = new Set(fused.map(([, sigmoid]) => sigmoid));
  const fusedMuls = new Set(fused.map(([mul]) => mul));
  const node: OnnxNode[] = [];
  for (const n of graph.node) {
    if (fusedSigmoids.has(n) || plan.scaleDivs.has(n)) continue;
    const input = (nodeInputs.get(n) ?? n.input).map((i) => rewiredInputs.get(i) ?? i);
    const output = n.output.map((o) => renamedOutputs.get(o) ?? o);
    if (fusedMuls.has(n)) node.push(quickGelu(n, plan.silu.get(n)!, input, output));
    else node.push({ ...n, input, output });
  }
  node.push(...out.nodes);
  const opsetImport =
    (out.domain === '' && fused.length === 0) || model.opset_import.some((o) => o.domain === 'com.microsoft')
      ? model.opset_import
      : [...model.opset_import, { domain: 'com.microsoft', version: 1 }];
  // Declared types of renamed values stay with the name readers see; the _fq values are undeclared.
  const used = new Set(node.flatMap((n) => n.input));
  const initializer = [
    ...graph.initializer.filter((t) => used.has(t.name ?? '') || !index.initializers.has(t.name ?? '')),
    ...out.inits,
  ];
  const input = graph.input.filter((v) => !index.initializers.has(v.name ?? '') || used.has(v.name ?? ''));
  // ONNX wants nodes in topological order, and the Q/DQ nodes were appended at the end.
  return {
    ...model,
    opset_import: opsetImport,
    graph: { ...graph, node: topologicalOrder({ ...graph, node }), initializer, input },
  };
}

/** A float SiLU pair (Mul of x and Sigmoid(x)) as one com.microsoft QuickGelu, x·sigmoid(1·x). */
function quickGelu(mul: OnnxNode, sigmoid: OnnxNode, input: readonly string[], output: string[]): OnnxNode {
  const k = mul.input.indexOf(sigmoid.output[0] ?? '');
  const x = input[1 - k] ?? '';
  return makeNode('QuickGelu', [x], output, mul.name ?? '', [floatAttr('alpha', 1)], 'com.microsoft');
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
