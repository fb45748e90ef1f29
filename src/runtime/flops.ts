/**
 * FLOPs per inference for the operators that dominate most vision and language models (Conv,
 * ConvTranspose, MatMul, Gemm), at the concrete input shapes the caller feeds.
 *
 * Shapes come from onnxruntime itself rather than from our own shape inference, so they are exact
 * for any model ORT can run: the tensors we need are added as extra graph outputs, the model runs
 * once without graph optimisations (which would fuse or rename those nodes), and we read the dims
 * of what comes back. Weights are initializers (or Constant-node values), whose dims are in the
 * file, so only activations are fetched.
 *
 * Convention: 1 multiply-accumulate = 2 FLOPs. Bias additions (Conv B, Gemm C) are ignored: they
 * are one add per output element, negligible next to the products.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { RtinferError, firstLine } from '../errors.js';
import { encodeModel, type OnnxNode } from './onnx-schema.js';
import { parseOnnxModel } from './model-info.js';
import { openSession } from './session.js';

export interface FlopsEstimate {
  /** Sum of byOp, in FLOPs (2 per multiply-accumulate). */
  total: number;
  /** FLOPs per operator type ('Conv', 'ConvTranspose', 'MatMul', 'Gemm'; only those present). */
  byOp: Record<string, number>;
  /** Counted nodes. */
  nodes: number;
  /** Conv/ConvTranspose/MatMul/Gemm nodes whose shapes could not be read. */
  skipped: number;
  /** How the numbers were obtained, for reports. */
  method: string;
}

const METHOD =
  'shapes from one onnxruntime run at the fed input shapes (optimisations disabled); main graph ' +
  'Conv/ConvTranspose/MatMul/Gemm only; FLOPs = 2 x multiply-accumulates; bias adds ignored';

const COUNTED_OPS = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);

type Dims = readonly number[];

// Only standard ONNX operators: a custom-domain 'Conv' may mean anything.
function isDefaultDomain(node: OnnxNode): boolean {
  return node.domain === undefined || node.domain === '' || node.domain === 'ai.onnx';
}

// For each counted op, the tensors its FLOP formula needs: which inputs and whether output 0.
// Conv uses its output (whose spatial size already reflects pads, strides and dilations) and its
// weight; ConvTranspose its input and weight; MatMul and Gemm their two operands.
function neededTensors(node: OnnxNode): string[] {
  const [a = '', b = ''] = node.input;
  return node.op_type === 'Conv' ? [node.output[0] ?? '', b] : [a, b];
}

/**
 * Runs the model once with `feeds` and returns its estimated FLOPs per inference. Throws
 * RTI_ERR_MODEL_NOT_ONNX for bytes that are not a model and RTI_ERR_INFERENCE_FAILED when a model
 * input has no feed or onnxruntime fails. Fetches every needed activation at once, so peak memory
 * is that of one run that keeps those activations alive. When every needed shape is already in the
 * file (no counted ops, or ops on inputs and weights only) the model is not run at all.
 * Nodes inside If/Loop/Scan bodies are not counted: their tensors cannot be graph outputs.
 */
export async function estimateFlops(modelBytes: Uint8Array, feeds: Record<string, Tensor>): Promise<FlopsEstimate> {
  const model = parseOnnxModel(modelBytes, 'model');
  const graph = model.graph;

  // Dims we already know without running anything: initializers, Constant values, and feeds.
  const known = new Map<string, Dims>();
  for (const tensor of graph.initializer) known.set(tensor.name ?? '', tensor.dims);
  const initializerNames = new Set(known.keys());
  for (const node of graph.node) {
    if (!isDefaultDomain(node) || node.op_type !== 'Constant') continue;
    const value = node.attribute.find((a) => a.name === 'value')?.t;
    if (value !== undefined && node.output[0] !== undefined) known.set(node.output[0], value.dims);
  }
  for (const input of graph.input) {
    const name = input.name ?? '';
    const feed = feeds[name];
    // A feed wins over an initializer of the same name (IR<4 weights-as-inputs can be overridden).
    if (feed !== undefined) known.set(name, feed.dims);
    else if (!initializerNames.has(name)) {
      throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `FLOPs estimate: no feed for model input '${name}'`);
    }
  }

  const counted = graph.node.filter((n) => isDefaultDomain(n) && COUNTED_OPS.has(n.op_type ?? ''));
  const existingOutputs = new Set(graph.output.map((o) => o.name ?? ''));
  const fetch = new Set<string>();
  for (const node of counted) {
    for (const name of neededTensors(node)) {
      if (name !== '' && !known.has(name)) fetch.add(name);
    }
  }
  // A ValueInfoProto with only a name is enough: ORT infers the type of an extra output.
  const extraOutputs = [...fetch].filter((name) => !existingOutputs.has(name)).map((name) => ({ name }));
  const probeBytes =
    extraOutputs.length === 0
      ? modelBytes
      : encodeModel({ ...model, graph: { ...graph, output: [...graph.output, ...extraOutputs] } });

  if (fetch.size > 0) {
    for (const [name, dims] of await runForDims(probeBytes, feeds, [...fetch])) known.set(name, dims);
  }

  const byOp: Record<string, number> = {};
  let nodes = 0;
  let skipped = 0;
  for (const node of counted) {
    const opType = node.op_type ?? '';
    const flops = nodeFlops(node, known);
    if (flops === undefined) {
      skipped += 1;
      continue;
    }
    nodes += 1;
    byOp[opType] = (byOp[opType] ?? 0) + flops;
  }
  const total = Object.values(byOp).reduce((sum, f) => sum + f, 0);
  return { total, byOp, nodes, skipped, method: METHOD };
}

async function runForDims(
  bytes: Uint8Array,
  feeds: Record<string, Tensor>,
  names: string[],
): Promise<Map<string, Dims>> {
  let session: InferenceSession | undefined;
  try {
    // 'error' silences the per-weight warnings old exports cause; 'disabled' keeps every node, and
    // its tensor names, as they are in the file.
    session = await openSession(bytes, { graphOptimizationLevel: 'disabled', logLevel: 'error' });
    // Feed only the inputs the session has: extra feeds are an error in ORT and cost nothing here.
    const sessionFeeds: Record<string, Tensor> = {};
    for (const name of session.inputNames) {
      const feed = feeds[name];
      if (feed !== undefined) sessionFeeds[name] = feed;
    }
    const results = await session.run(sessionFeeds, names);
    const dims = new Map<string, Dims>();
    for (const [name, tensor] of Object.entries(results)) {
      dims.set(name, tensor.dims);
      tensor.dispose();
    }
    return dims;
  } catch (error) {
    throw new RtinferError('RTI_ERR_INFERENCE_FAILED', `FLOPs estimate: onnxruntime failed (${firstLine(error)})`, {
      cause: error,
    });
  } finally {
    await session?.release();
  }
}

function product(dims: Dims): number {
  return dims.reduce((p, d) => p * d, 1);
}

function intAttribute(node: OnnxNode, name: string, fallback: number): number {
  return node.attribute.find((a) => a.name === name)?.i ?? fallback;
}

/** FLOPs of one node from known dims, or undefined when a needed shape is missing or malformed. */
function nodeFlops(node: OnnxNode, known: ReadonlyMap<string, Dims>): number | undefined {
  const [first, second] = neededTensors(node).map((name) => known.get(name));
  if (first === undefined || second === undefined) return undefined;
  switch (node.op_type) {
    case 'Conv': {
      // Y [N, Cout, *spatialOut], W [Cout, Cin/group, *kernel]:
      // 2·N·Cout·prod(spatialOut)·(Cin/group)·prod(kernel), any number of spatial dims.
      const [y, w] = [first, second];
      if (y.length < 3 || w.length !== y.length) return undefined;
      return 2 * product(y) * product(w.slice(1));
    }
    case 'ConvTranspose': {
      // X [N, Cin, *spatialIn], W [Cin, Cout/group, *kernel]: every input element is multiplied
      // into a (Cout/group)·prod(kernel) patch.
      const [x, w] = [first, second];
      if (x.length < 3 || w.length !== x.length) return undefined;
      return 2 * product(x) * product(w.slice(1));
    }
    case 'MatMul':
      return matMulFlops(first, second);
    case 'Gemm': {
      // A is [M, K] (or [K, M] with transA), B is [K, N] (or [N, K] with transB).
      const [a, b] = [first, second];
      if (a.length !== 2 || b.length !== 2) return undefined;
      const transA = intAttribute(node, 'transA', 0) !== 0;
      const transB = intAttribute(node, 'transB', 0) !== 0;
      const m = (transA ? a[1] : a[0]) ?? 0;
      const k = (transA ? a[0] : a[1]) ?? 0;
      const n = (transB ? b[0] : b[1]) ?? 0;
      return 2 * m * n * k;
    }
    default:
      return undefined;
  }
}

// numpy.matmul semantics: a 1-D A is [1, K], a 1-D B is [K, 1]; leading dims broadcast.
function matMulFlops(aDims: Dims, bDims: Dims): number | undefined {
  if (aDims.length === 0 || bDims.length === 0) return undefined;
  const a = aDims.length === 1 ? [1, ...aDims] : aDims;
  const b = bDims.length === 1 ? [...bDims, 1] : bDims;
  const m = a[a.length - 2] ?? 0;
  const k = a[a.length - 1] ?? 0;
  const n = b[b.length - 1] ?? 0;
  const batchA = a.slice(0, -2);
  const batchB = b.slice(0, -2);
  let batch = 1;
  for (let i = 1; i <= Math.max(batchA.length, batchB.length); i++) {
    const da = batchA[batchA.length - i] ?? 1;
    const db = batchB[batchB.length - i] ?? 1;
    batch *= da === 1 ? db : da;
  }
  return 2 * batch * m * k * n;
}
