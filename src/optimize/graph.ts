/**
 * Small tools for rewriting an ONNX graph as the plain objects decodeModel returns: tensor data in
 * and out, producer/consumer indexes, element types, fresh names.
 *
 * Models are treated as immutable: a transform builds new node and initializer arrays and shares
 * untouched tensors with its input. (structuredClone is not used: it would copy the whole file
 * buffer once for every raw_data view into it.)
 */
import { RtinferError } from '../errors.js';
import { fromFloat16Bits } from '../runtime/float16.js';
import {
  AttributeType,
  TensorDataType,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from '../runtime/onnx-schema.js';

/** The fields a new tensor needs; the rest of OnnxTensor's repeated fields are filled empty. */
export function makeTensor(name: string, dataType: number, dims: readonly number[], raw: ArrayBufferView): OnnxTensor {
  return {
    name,
    data_type: dataType,
    dims: [...dims],
    raw_data: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
    float_data: [],
    int32_data: [],
    string_data: [],
    int64_data: [],
    double_data: [],
    uint64_data: [],
    external_data: [],
  };
}

export function makeNode(
  opType: string,
  input: string[],
  output: string[],
  name: string,
  attribute: OnnxAttribute[] = [],
  domain?: string,
): OnnxNode {
  return {
    op_type: opType,
    input,
    output,
    name,
    attribute,
    ...(domain !== undefined && domain !== '' ? { domain } : {}),
  };
}

/** An attribute of `type` with every list field empty (the protobuf schema wants them all present). */
function attribute(name: string, type: OnnxAttribute['type'], value: Partial<OnnxAttribute>): OnnxAttribute {
  return { name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], ...value };
}

export function intAttr(name: string, i: number): OnnxAttribute {
  return attribute(name, AttributeType.INT, { i });
}

export function floatAttr(name: string, f: number): OnnxAttribute {
  return attribute(name, AttributeType.FLOAT, { f });
}

export function intsAttr(name: string, ints: number[]): OnnxAttribute {
  return attribute(name, AttributeType.INTS, { ints });
}

export function attr(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInt(node: OnnxNode, name: string, fallback: number): number {
  return attr(node, name)?.i ?? fallback;
}

/**
 * The first `bytes` bytes of `raw` in an ArrayBuffer of their own. Decoded bytes fields may be
 * Node Buffers, whose slice() is a view (not a copy) into the whole file's buffer.
 */
function ownBuffer(raw: Uint8Array, bytes: number): ArrayBuffer {
  const copy = new Uint8Array(bytes);
  copy.set(raw.subarray(0, bytes));
  return copy.buffer;
}

function elementCount(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

function externalError(tensor: OnnxTensor): RtinferError {
  return new RtinferError(
    'RTI_ERR_ARG_INVALID',
    `tensor '${tensor.name ?? ''}' keeps its data in an external file, which rtinfer optimize does not read`,
  );
}

/** A float32 / float16 / float64 tensor's values as float32 (a copy); undefined for other types. */
export function floatValues(tensor: OnnxTensor): Float32Array | undefined {
  if (tensor.data_location === 1) throw externalError(tensor);
  const n = elementCount(tensor.dims);
  const raw = tensor.raw_data;
  switch (tensor.data_type) {
    case TensorDataType.FLOAT: {
      if (raw !== undefined && raw.length > 0) return new Float32Array(ownBuffer(raw, n * 4));
      return Float32Array.from(tensor.float_data);
    }
    case TensorDataType.FLOAT16: {
      const bits =
        raw !== undefined && raw.length > 0
          ? new Uint16Array(ownBuffer(raw, n * 2))
          : Uint16Array.from(tensor.int32_data);
      return Float32Array.from(bits, fromFloat16Bits);
    }
    case TensorDataType.DOUBLE: {
      if (raw !== undefined && raw.length > 0) return Float32Array.from(new Float64Array(ownBuffer(raw, n * 8)));
      return Float32Array.from(tensor.double_data);
    }
    default:
      return undefined;
  }
}

/** An int64/int32 tensor's values as numbers (shape constants, axes); undefined for other types. */
export function intValues(tensor: OnnxTensor): number[] | undefined {
  const raw = tensor.raw_data;
  if (tensor.data_type === TensorDataType.INT64) {
    if (raw !== undefined && raw.length > 0)
      return Array.from(new BigInt64Array(ownBuffer(raw, raw.length - (raw.length % 8))), Number);
    return [...tensor.int64_data];
  }
  if (tensor.data_type === TensorDataType.INT32) {
    if (raw !== undefined && raw.length > 0)
      return Array.from(new Int32Array(ownBuffer(raw, raw.length - (raw.length % 4))));
    return [...tensor.int32_data];
  }
  return undefined;
}

/** Producer and consumers of every value, by name. */
export interface GraphIndex {
  producer: Map<string, OnnxNode>;
  consumers: Map<string, OnnxNode[]>;
  initializers: Map<string, OnnxTensor>;
  graphOutputs: Set<string>;
  graphInputs: Set<string>;
}

export function indexGraph(graph: OnnxGraph): GraphIndex {
  const producer = new Map<string, OnnxNode>();
  const consumers = new Map<string, OnnxNode[]>();
  for (const node of graph.node) {
    for (const o of node.output) if (o !== '') producer.set(o, node);
    for (const i of node.input) {
      if (i === '') continue;
      const list = consumers.get(i);
      if (list === undefined) consumers.set(i, [node]);
      else if (!list.includes(node)) list.push(node);
    }
  }
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const graphInputs = new Set(graph.input.map((v) => v.name ?? '').filter((n) => !initializers.has(n)));
  return {
    producer,
    consumers,
    initializers,
    graphOutputs: new Set(graph.output.map((v) => v.name ?? '')),
    graphInputs,
  };
}

/** Names not yet used in the graph, with a readable stem. */
export class NameSource {
  #used = new Set<string>();

  constructor(graph: OnnxGraph) {
    for (const n of graph.node) {
      if (n.name) this.#used.add(n.name);
      for (const o of n.output) this.#used.add(o);
    }
    for (const t of graph.initializer) this.#used.add(t.name ?? '');
    for (const v of graph.input) this.#used.add(v.name ?? '');
  }

  fresh(stem: string): string {
    let name = stem;
    for (let k = 1; this.#used.has(name); k++) name = `${stem}_${k}`;
    this.#used.add(name);
    return name;
  }
}

/**
 * A copy of the model whose Constant nodes holding a tensor are initializers instead: PaddlePaddle
 * exports keep every weight in a Constant node, and the quantizer and fp16 pass look for weights
 * among the initializers. onnxruntime folds both the same way, so the model's meaning is unchanged.
 */
export function constantsToInitializers(model: OnnxModel & { graph: OnnxGraph }): OnnxModel & { graph: OnnxGraph } {
  const graph = model.graph;
  const initializer = [...graph.initializer];
  const node: OnnxNode[] = [];
  for (const n of graph.node) {
    const value =
      n.op_type === 'Constant' && (n.domain ?? '') === '' && n.attribute.length === 1 ? attr(n, 'value')?.t : undefined;
    const out = n.output[0];
    if (value !== undefined && out !== undefined && value.data_location !== 1) {
      initializer.push({ ...value, name: out });
    } else {
      node.push(n);
    }
  }
  return { ...model, graph: { ...graph, node, initializer } };
}

/** The default-domain opset the model imports (1 when it imports none, as ONNX specifies). */
export function defaultOpset(model: OnnxModel): number {
  const entry = model.opset_import.find((o) => o.domain === undefined || o.domain === '' || o.domain === 'ai.onnx');
  return entry?.version ?? 1;
}

// Ops whose output takes input 0's element type (pass-through and elementwise arithmetic).
const SAME_TYPE_OPS = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Min',
  'Max',
  'Neg',
  'Abs',
  'Identity',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Transpose',
  'Concat',
  'Slice',
  'Gather',
  'GatherElements',
  'Split',
  'Tile',
  'Expand',
  'Pad',
  'Resize',
  'Upsample',
  'MaxPool',
  'Relu',
  'Clip',
  'Where',
  'ReduceMax',
  'ReduceMin',
  'ReduceSum',
  'ReduceMean',
  'ReduceProd',
  'Range',
  'Mod',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
]);
const INT64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);
const BOOL_OPS = new Set([
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);

/**
 * Element type of every value in the main graph, from declarations where the file has them and
 * from simple per-op rules otherwise (Shape gives int64, Cast its `to`, arithmetic its input's
 * type, everything else float). Good enough to tell float activations from shape arithmetic.
 */
export function elementTypes(graph: OnnxGraph): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...graph.input, ...graph.output, ...graph.value_info]) {
    const t = v.type?.tensor_type?.elem_type;
    if (v.name && t !== undefined && t !== 0) types.set(v.name, t);
  }
  for (const t of graph.initializer) if (t.name) types.set(t.name, t.data_type ?? 0);
  for (const n of graph.node) {
    const op = n.op_type ?? '';
    let t: number | undefined;
    if ((n.domain ?? '') !== '') t = types.get(n.input[0] ?? '') ?? TensorDataType.FLOAT;
    else if (INT64_OPS.has(op)) t = TensorDataType.INT64;
    else if (BOOL_OPS.has(op)) t = TensorDataType.BOOL;
    else if (op === 'Cast') t = attrInt(n, 'to', TensorDataType.FLOAT);
    else if (op === 'Constant')
      t =
        attr(n, 'value')?.t?.data_type ??
        (attr(n, 'value_int') || attr(n, 'value_ints') ? TensorDataType.INT64 : TensorDataType.FLOAT);
    else if (op === 'ConstantOfShape') t = attr(n, 'value')?.t?.data_type ?? TensorDataType.FLOAT;
    else if (op === 'Where') t = types.get(n.input[1] ?? '') ?? TensorDataType.FLOAT;
    else if (SAME_TYPE_OPS.has(op)) t = types.get(n.input[0] ?? '') ?? TensorDataType.FLOAT;
    else t = TensorDataType.FLOAT;
    n.output.forEach((o, k) => {
      if (o === '' || types.has(o)) return;
      // TopK's and MaxPool's second outputs are indices.
      types.set(o, k > 0 && (op === 'TopK' || op === 'MaxPool') ? TensorDataType.INT64 : t);
    });
  }
  return types;
}

/** Nodes in an order where every input is produced before it is read (Kahn's algorithm, stable). */
export function topologicalOrder(graph: OnnxGraph): OnnxNode[] {
  const index = indexGraph(graph);
  const pending = new Map<OnnxNode, number>();
  const ready: OnnxNode[] = [];
  for (const n of graph.node) {
    const deps = new Set(n.input.filter((i) => i !== '' && index.producer.has(i)).map((i) => index.producer.get(i)!));
    pending.set(n, deps.size);
    if (deps.size === 0) ready.push(n);
  }
  const out: OnnxNode[] = [];
  const done = new Set<OnnxNode>();
  while (ready.length > 0) {
    const n = ready.shift()!;
    out.push(n);
    done.add(n);
    const next = new Set(n.output.flatMap((o) => index.consumers.get(o) ?? []));
    for (const c of next) {
      const left = (pending.get(c) ?? 1) - 1;
      pending.set(c, left);
      if (left === 0 && !done.has(c)) ready.push(c);
    }
  }
  // A graph with a cycle (invalid ONNX) keeps its remaining nodes in file order.
  if (out.length < graph.node.length) for (const n of graph.node) if (!done.has(n)) out.push(n);
  return out;
}

export function opName(node: OnnxNode): string {
  return node.op_type ?? '';
}
