/**
 * What `rtinfer info` reports about an ONNX model, read from the file alone (no session): producer,
 * opsets, metadata, the real model inputs and outputs with onnxruntime-node dtype names, operator
 * counts and parameter totals.
 */
import { RtinferError, firstLine } from '../errors.js';
import {
  DataLocation,
  TensorDataType,
  decodeModel,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxModel,
  type OnnxSparseTensor,
  type OnnxTensor,
  type OnnxType,
  type OnnxValueInfo,
} from './onnx-schema.js';

export interface TensorInfo {
  name: string;
  /** onnxruntime-node type name ('float32', 'int64', ...); 'bfloat16', 'unknown' etc. otherwise. */
  dtype: string;
  /**
   * Numbers for fixed dims, the dim_param string for symbolic ones, '' for dims that have neither.
   * Also [] when the file gives no shape at all (unknown rank), which looks like a scalar.
   */
  shape: Array<number | string>;
}

export interface OperatorCount {
  /** op_type, prefixed with its domain when that is not the default ONNX domain. */
  opType: string;
  count: number;
}

export interface ParameterSummary {
  /** Elements over all initializers and Constant-node values (main graph and subgraphs). */
  count: number;
  /** Bytes those elements take at their dtype (string tensors: their UTF-8 bytes). */
  bytes: number;
  /** Number of tensors counted. */
  tensors: number;
}

export interface ModelInfo {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  /** Operator sets imported by the model; the default domain '' is shown as 'ai.onnx'. */
  opsetImports: Array<{ domain: string; version: number }>;
  /** metadata_props (Ultralytics exports put names, imgsz, stride, task here). */
  metadata: Record<string, string>;
  graphName: string;
  /** Graph inputs a caller must feed: graph inputs that are not also initializers. */
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Graph inputs that are initializers (old IR<4 exports list every weight as an input). */
  weightInputs: number;
  /** Nodes in the main graph plus those in If/Loop/Scan subgraphs (the sum of `operators`). */
  nodeCount: number;
  /** Operator histogram over the same nodes, most frequent first. */
  operators: OperatorCount[];
  parameters: ParameterSummary;
  /** Whether any tensor keeps its data in an external file (data_location EXTERNAL). */
  externalData: boolean;
}

// Upper bound for a plausible ir_version: the current one is 11/12 and it grows by about one a
// year; random bytes that decode as a protobuf almost never land in 1..20 and also carry a graph.
const MAX_IR_VERSION = 20;

const ORT_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [TensorDataType.FLOAT, 'float32'],
  [TensorDataType.UINT8, 'uint8'],
  [TensorDataType.INT8, 'int8'],
  [TensorDataType.UINT16, 'uint16'],
  [TensorDataType.INT16, 'int16'],
  [TensorDataType.INT32, 'int32'],
  [TensorDataType.INT64, 'int64'],
  [TensorDataType.STRING, 'string'],
  [TensorDataType.BOOL, 'bool'],
  [TensorDataType.FLOAT16, 'float16'],
  [TensorDataType.DOUBLE, 'float64'],
  [TensorDataType.UINT32, 'uint32'],
  [TensorDataType.UINT64, 'uint64'],
  [TensorDataType.COMPLEX64, 'complex64'],
  [TensorDataType.COMPLEX128, 'complex128'],
  [TensorDataType.BFLOAT16, 'bfloat16'],
  [TensorDataType.FLOAT8E4M3FN, 'float8e4m3fn'],
  [TensorDataType.FLOAT8E4M3FNUZ, 'float8e4m3fnuz'],
  [TensorDataType.FLOAT8E5M2, 'float8e5m2'],
  [TensorDataType.FLOAT8E5M2FNUZ, 'float8e5m2fnuz'],
  [TensorDataType.UINT4, 'uint4'],
  [TensorDataType.INT4, 'int4'],
  [TensorDataType.FLOAT4E2M1, 'float4e2m1'],
  [TensorDataType.FLOAT8E8M0, 'float8e8m0'],
]);

const ONNX_TYPE_CODES: ReadonlyMap<string, number> = new Map([...ORT_TYPE_NAMES].map(([code, name]) => [name, code]));

// Bits per element, so the packed 4-bit types come out right; STRING has no fixed size.
const BITS_PER_ELEMENT: ReadonlyMap<number, number> = new Map([
  [TensorDataType.FLOAT, 32],
  [TensorDataType.UINT8, 8],
  [TensorDataType.INT8, 8],
  [TensorDataType.UINT16, 16],
  [TensorDataType.INT16, 16],
  [TensorDataType.INT32, 32],
  [TensorDataType.INT64, 64],
  [TensorDataType.BOOL, 8],
  [TensorDataType.FLOAT16, 16],
  [TensorDataType.DOUBLE, 64],
  [TensorDataType.UINT32, 32],
  [TensorDataType.UINT64, 64],
  [TensorDataType.COMPLEX64, 64],
  [TensorDataType.COMPLEX128, 128],
  [TensorDataType.BFLOAT16, 16],
  [TensorDataType.FLOAT8E4M3FN, 8],
  [TensorDataType.FLOAT8E4M3FNUZ, 8],
  [TensorDataType.FLOAT8E5M2, 8],
  [TensorDataType.FLOAT8E5M2FNUZ, 8],
  [TensorDataType.UINT4, 4],
  [TensorDataType.INT4, 4],
  [TensorDataType.FLOAT4E2M1, 4],
  [TensorDataType.FLOAT8E8M0, 8],
]);

/** onnxruntime-node's name for a TensorProto.DataType code ('unknown' when it has none). */
export function dtypeName(code: number | undefined): string {
  return ORT_TYPE_NAMES.get(code ?? 0) ?? 'unknown';
}

/** The TensorProto.DataType code for an onnxruntime-node type name, or undefined. */
export function dtypeCode(name: string): number | undefined {
  return ONNX_TYPE_CODES.get(name);
}

/** A decoded model that passed parseOnnxModel's checks. */
export type CheckedOnnxModel = OnnxModel & { ir_version: number; graph: OnnxGraph };

/**
 * Decodes `bytes` and checks that they are plausibly an ONNX model. protobufjs happily decodes many
 * non-protobuf files into an almost empty message, so a successful decode proves little: we also
 * require an ir_version in 1..20 and a graph. Throws RTI_ERR_MODEL_NOT_ONNX (one line) otherwise.
 */
export function parseOnnxModel(bytes: Uint8Array, label: string): CheckedOnnxModel {
  const notOnnx = (reason: string, cause?: unknown): RtinferError =>
    new RtinferError('RTI_ERR_MODEL_NOT_ONNX', `${label} is not an ONNX model (${reason})`, { cause });
  if (bytes.length === 0) throw notOnnx('empty file');
  let model: OnnxModel;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw notOnnx(`not a protobuf ModelProto: ${firstLine(error)}`, error);
  }
  const ir = model.ir_version;
  if (ir === undefined) throw notOnnx('no ir_version');
  if (!Number.isInteger(ir) || ir < 1 || ir > MAX_IR_VERSION) throw notOnnx(`implausible ir_version ${ir}`);
  const graph = model.graph;
  if (graph === undefined) throw notOnnx('no graph');
  return { ...model, ir_version: ir, graph };
}

/** Reads what `rtinfer info` shows. `label` names the file in error messages. */
export function inspectModel(bytes: Uint8Array, label: string): ModelInfo {
  const model = parseOnnxModel(bytes, label);
  const graph = model.graph;

  const initializerNames = new Set(graph.initializer.map((t) => t.name ?? ''));
  for (const sparse of graph.sparse_initializer) initializerNames.add(sparse.values?.name ?? '');
  const inputs: TensorInfo[] = [];
  let weightInputs = 0;
  for (const input of graph.input) {
    if (initializerNames.has(input.name ?? '')) weightInputs += 1;
    else inputs.push(tensorInfo(input));
  }

  const walk = walkGraphs(graph);
  const operators = [...walk.operators]
    .map(([opType, count]) => ({ opType, count }))
    // Ties by name, so the order is stable from run to run.
    .sort((a, b) => b.count - a.count || a.opType.localeCompare(b.opType));

  return {
    irVersion: model.ir_version,
    producerName: model.producer_name ?? '',
    producerVersion: model.producer_version ?? '',
    domain: model.domain ?? '',
    modelVersion: model.model_version ?? 0,
    docString: model.doc_string ?? '',
    opsetImports: model.opset_import.map((o) => ({
      domain: o.domain === undefined || o.domain === '' ? 'ai.onnx' : o.domain,
      version: o.version ?? 0,
    })),
    // fromEntries defines own properties, so a key like "__proto__" cannot touch the prototype.
    metadata: Object.fromEntries(model.metadata_props.map((p) => [p.key ?? '', p.value ?? ''])),
    graphName: graph.name ?? '',
    inputs,
    outputs: graph.output.map(tensorInfo),
    weightInputs,
    nodeCount: walk.nodeCount,
    operators,
    parameters: walk.parameters,
    externalData: walk.externalData,
  };
}

function tensorInfo(value: OnnxValueInfo): TensorInfo {
  const { dtype, shape } = describeType(value.type);
  return { name: value.name ?? '', dtype, shape };
}

// Non-tensor values (sequences, maps, optionals: rare as model inputs) get a descriptive dtype such
// as 'sequence<float32>' and no shape, since onnxruntime-node has no single type name for them.
function describeType(type: OnnxType | undefined): { dtype: string; shape: Array<number | string> } {
  const tensor = type?.tensor_type ?? type?.sparse_tensor_type;
  if (tensor !== undefined) {
    const shape = (tensor.shape?.dim ?? []).map((d) => d.dim_value ?? d.dim_param ?? '');
    return { dtype: dtypeName(tensor.elem_type), shape };
  }
  if (type?.sequence_type !== undefined) {
    return { dtype: `sequence<${describeType(type.sequence_type.elem_type).dtype}>`, shape: [] };
  }
  if (type?.map_type !== undefined) {
    const value = describeType(type.map_type.value_type).dtype;
    return { dtype: `map<${dtypeName(type.map_type.key_type)},${value}>`, shape: [] };
  }
  if (type?.optional_type !== undefined) {
    return { dtype: `optional<${describeType(type.optional_type.elem_type).dtype}>`, shape: [] };
  }
  return { dtype: 'unknown', shape: [] };
}

interface GraphWalk {
  nodeCount: number;
  operators: Map<string, number>;
  parameters: ParameterSummary;
  externalData: boolean;
}

// One pass over the main graph and, through graph-valued attributes, every nested subgraph (If
// branches, Loop/Scan bodies). Local functions are not expanded: a call counts as one node whose
// op_type is the function name, like any other custom-domain operator.
function walkGraphs(root: OnnxGraph): GraphWalk {
  const walk: GraphWalk = {
    nodeCount: 0,
    operators: new Map(),
    parameters: { count: 0, bytes: 0, tensors: 0 },
    externalData: false,
  };
  const addTensor = (tensor: OnnxTensor): void => {
    const size = tensorSize(tensor);
    walk.parameters.count += size.elements;
    walk.parameters.bytes += size.bytes;
    walk.parameters.tensors += 1;
    if (tensor.data_location === DataLocation.EXTERNAL) walk.externalData = true;
  };
  // A sparse tensor counts its stored (non-default) values; its bytes include the indices.
  const addSparse = (sparse: OnnxSparseTensor): void => {
    if (sparse.values === undefined) return;
    addTensor(sparse.values);
    if (sparse.indices !== undefined) walk.parameters.bytes += tensorSize(sparse.indices).bytes;
  };

  // An explicit stack, not recursion: deeply nested control flow cannot overflow the JS stack.
  const pending: OnnxGraph[] = [root];
  for (let graph = pending.pop(); graph !== undefined; graph = pending.pop()) {
    graph.initializer.forEach(addTensor);
    graph.sparse_initializer.forEach(addSparse);
    for (const node of graph.node) {
      walk.nodeCount += 1;
      const domain = node.domain ?? '';
      const opType = domain === '' || domain === 'ai.onnx' ? (node.op_type ?? '') : `${domain}.${node.op_type ?? ''}`;
      walk.operators.set(opType, (walk.operators.get(opType) ?? 0) + 1);
      if (opType === 'Constant') addConstant(node.attribute, addTensor, addSparse, walk.parameters);
      for (const attribute of node.attribute) {
        if (attribute.g !== undefined) pending.push(attribute.g);
        pending.push(...attribute.graphs);
      }
    }
  }
  return walk;
}

// Constant nodes hold weights too (PaddlePaddle exports such as PP-OCR keep every weight in one),
// so their values count as parameters. The value_* shorthands are float32/int64/UTF-8 strings.
function addConstant(
  attributes: OnnxAttribute[],
  addTensor: (tensor: OnnxTensor) => void,
  addSparse: (sparse: OnnxSparseTensor) => void,
  parameters: ParameterSummary,
): void {
  for (const attribute of attributes) {
    const add = (elements: number, bytes: number): void => {
      parameters.count += elements;
      parameters.bytes += bytes;
      parameters.tensors += 1;
    };
    switch (attribute.name) {
      case 'value':
        if (attribute.t !== undefined) addTensor(attribute.t);
        break;
      case 'sparse_value':
        if (attribute.sparse_tensor !== undefined) addSparse(attribute.sparse_tensor);
        break;
      case 'value_float':
        add(1, 4);
        break;
      case 'value_floats':
        add(attribute.floats.length, 4 * attribute.floats.length);
        break;
      case 'value_int':
        add(1, 8);
        break;
      case 'value_ints':
        add(attribute.ints.length, 8 * attribute.ints.length);
        break;
      case 'value_string':
        add(1, attribute.s?.length ?? 0);
        break;
      case 'value_strings':
        add(
          attribute.strings.length,
          attribute.strings.reduce((sum, s) => sum + s.length, 0),
        );
        break;
      default:
        break;
    }
  }
}

/**
 * Elements from dims (not from the data, so external-data tensors, which have dims but no bytes in
 * the file, count correctly) and bytes from the dtype's element size.
 */
function tensorSize(tensor: OnnxTensor): { elements: number; bytes: number } {
  const elements = tensor.dims.reduce((product, d) => product * d, 1);
  if (tensor.data_type === TensorDataType.STRING) {
    return { elements, bytes: tensor.string_data.reduce((sum, s) => sum + s.length, 0) };
  }
  const bits = BITS_PER_ELEMENT.get(tensor.data_type ?? 0) ?? 0;
  return { elements, bytes: Math.ceil((elements * bits) / 8) };
}
