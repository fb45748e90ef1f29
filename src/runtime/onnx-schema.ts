/**
 * The ONNX protobuf schema, as the subset rtinfer needs to read and write models, decoded with
 * protobufjs (a maintained protobuf library) rather than a hand-written wire parser.
 *
 * Field numbers were checked one by one against onnx/onnx.proto of the onnx/onnx repository
 * (IR version 10 revision). The schema is written here in proto2 form so that absent optional
 * fields stay absent (proto2 has presence) and `[packed = true]` appears exactly where upstream
 * declares it, which matters when we encode. Messages and fields we do not need are left out:
 * protobuf skips unknown fields on decode, so models that carry them (TrainingInfoProto, type
 * attributes, ...) still decode; they are dropped when a decoded model is encoded again.
 */
import protobuf from 'protobufjs';

const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  message Sequence {
    optional TypeProto elem_type = 1;
  }
  message Map {
    optional int32 key_type = 1;
    optional TypeProto value_type = 2;
  }
  message Optional {
    optional TypeProto elem_type = 1;
  }
  message SparseTensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
    Sequence sequence_type = 4;
    Map map_type = 5;
    SparseTensor sparse_tensor_type = 8;
    Optional optional_type = 9;
  }
  optional string denotation = 6;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
  repeated StringStringEntryProto metadata_props = 4;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0;
    FLOAT = 1;
    UINT8 = 2;
    INT8 = 3;
    UINT16 = 4;
    INT16 = 5;
    INT32 = 6;
    INT64 = 7;
    STRING = 8;
    BOOL = 9;
    FLOAT16 = 10;
    DOUBLE = 11;
    UINT32 = 12;
    UINT64 = 13;
    COMPLEX64 = 14;
    COMPLEX128 = 15;
    BFLOAT16 = 16;
    FLOAT8E4M3FN = 17;
    FLOAT8E4M3FNUZ = 18;
    FLOAT8E5M2 = 19;
    FLOAT8E5M2FNUZ = 20;
    UINT4 = 21;
    INT4 = 22;
    FLOAT4E2M1 = 23;
    FLOAT8E8M0 = 24;
  }
  enum DataLocation {
    DEFAULT = 0;
    EXTERNAL = 1;
  }
  message Segment {
    optional int64 begin = 1;
    optional int64 end = 2;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional Segment segment = 3;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
  optional string doc_string = 12;
  repeated StringStringEntryProto external_data = 13;
  optional DataLocation data_location = 14;
  repeated StringStringEntryProto metadata_props = 16;
}

message SparseTensorProto {
  optional TensorProto values = 1;
  optional TensorProto indices = 2;
  repeated int64 dims = 3;
}

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0;
    FLOAT = 1;
    INT = 2;
    STRING = 3;
    TENSOR = 4;
    GRAPH = 5;
    FLOATS = 6;
    INTS = 7;
    STRINGS = 8;
    TENSORS = 9;
    GRAPHS = 10;
    SPARSE_TENSOR = 11;
    SPARSE_TENSORS = 12;
    TYPE_PROTO = 13;
    TYPE_PROTOS = 14;
  }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional string ref_attr_name = 21;
  optional SparseTensorProto sparse_tensor = 22;
  repeated SparseTensorProto sparse_tensors = 23;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
  optional string overload = 8;
  repeated StringStringEntryProto metadata_props = 9;
}

message TensorAnnotation {
  optional string tensor_name = 1;
  repeated StringStringEntryProto quant_parameter_tensor_names = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
  repeated TensorAnnotation quantization_annotation = 14;
  repeated SparseTensorProto sparse_initializer = 15;
  repeated StringStringEntryProto metadata_props = 16;
}

message FunctionProto {
  optional string name = 1;
  repeated string input = 4;
  repeated string output = 5;
  repeated string attribute = 6;
  repeated NodeProto node = 7;
  optional string doc_string = 8;
  repeated OperatorSetIdProto opset_import = 9;
  optional string domain = 10;
  repeated AttributeProto attribute_proto = 11;
  repeated ValueInfoProto value_info = 12;
  optional string overload = 13;
  repeated StringStringEntryProto metadata_props = 14;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
  repeated FunctionProto functions = 25;
}
`;

/** TensorProto.DataType codes, as numbers, for code that builds or reads `data_type`/`elem_type`. */
export const TensorDataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
} as const;

/** AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** TensorProto.DataLocation codes. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

// Plain-object views of the messages, as `toObject` returns them: snake_case field names (the
// schema is parsed with keepCase), int64 as number, bytes as Uint8Array views into the input.
// Optional fields are absent when the file does not set them; repeated fields are always arrays.

export interface StringStringEntry {
  key?: string;
  value?: string;
}

export interface OperatorSetId {
  domain?: string;
  version?: number;
}

export interface TensorShapeDimension {
  dim_value?: number;
  dim_param?: string;
  denotation?: string;
}

export interface TensorShape {
  dim: TensorShapeDimension[];
}

export interface TypeProtoTensor {
  elem_type?: number;
  shape?: TensorShape;
}

export interface OnnxType {
  tensor_type?: TypeProtoTensor;
  sequence_type?: { elem_type?: OnnxType };
  map_type?: { key_type?: number; value_type?: OnnxType };
  sparse_tensor_type?: TypeProtoTensor;
  optional_type?: { elem_type?: OnnxType };
  denotation?: string;
}

export interface OnnxValueInfo {
  name?: string;
  type?: OnnxType;
  doc_string?: string;
  metadata_props?: StringStringEntry[];
}

export interface OnnxTensor {
  dims: number[];
  data_type?: number;
  segment?: { begin?: number; end?: number };
  float_data: number[];
  int32_data: number[];
  string_data: Uint8Array[];
  int64_data: number[];
  name?: string;
  raw_data?: Uint8Array;
  double_data: number[];
  uint64_data: number[];
  doc_string?: string;
  external_data: StringStringEntry[];
  data_location?: number;
  metadata_props?: StringStringEntry[];
}

export interface OnnxSparseTensor {
  values?: OnnxTensor;
  indices?: OnnxTensor;
  dims: number[];
}

export interface OnnxAttribute {
  name?: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
  tensors: OnnxTensor[];
  graphs: OnnxGraph[];
  doc_string?: string;
  type?: number;
  ref_attr_name?: string;
  sparse_tensor?: OnnxSparseTensor;
  sparse_tensors: OnnxSparseTensor[];
}

export interface OnnxNode {
  input: string[];
  output: string[];
  name?: string;
  op_type?: string;
  attribute: OnnxAttribute[];
  doc_string?: string;
  domain?: string;
  overload?: string;
  metadata_props?: StringStringEntry[];
}

export interface OnnxGraph {
  node: OnnxNode[];
  name?: string;
  initializer: OnnxTensor[];
  doc_string?: string;
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  value_info: OnnxValueInfo[];
  sparse_initializer: OnnxSparseTensor[];
  metadata_props?: StringStringEntry[];
}

export interface OnnxFunction {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  node: OnnxNode[];
  doc_string?: string;
  opset_import: OperatorSetId[];
  domain?: string;
  overload?: string;
}

export interface OnnxModel {
  ir_version?: number;
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: number;
  doc_string?: string;
  graph?: OnnxGraph;
  opset_import: OperatorSetId[];
  metadata_props: StringStringEntry[];
  functions: OnnxFunction[];
}

// Deep-partial input type for encodeModel: builders need not spell out empty repeated fields.
type DeepPartial<T> = T extends Uint8Array
  ? T
  : T extends Array<infer E>
    ? Array<DeepPartial<E>>
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** What encodeModel accepts: any subset of an OnnxModel, e.g. one written by a test builder. */
export type OnnxModelInput = DeepPartial<OnnxModel>;

// Parsed once, lazily, so importing this module stays cheap for commands that never read a model.
let modelType: protobuf.Type | undefined;

function getModelType(): protobuf.Type {
  if (modelType === undefined) {
    const { root } = protobuf.parse(ONNX_PROTO, { keepCase: true });
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  // Numbers, not Long objects: ONNX int64 values (dims, versions) stay far below 2^53.
  longs: Number,
  // Repeated fields always present, so callers never test for undefined arrays.
  arrays: true,
  // No defaults: an absent optional field (e.g. ir_version, graph) must stay detectable. Bytes are
  // left as they are, i.e. subarray views into the input, so weights are never copied.
};

/**
 * Decodes an ONNX model. Throws protobufjs' error when the bytes are not a valid protobuf message;
 * it does not check that the message is a sensible model (see parseOnnxModel in model-info.ts).
 *
 * Memory: bytes fields (raw_data, ...) come back as views into `bytes`, not copies, so a large
 * model costs little more than the file itself; unknown fields are discarded rather than kept.
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const type = getModelType();
  const reader = protobuf.Reader.create(bytes);
  // Unknown fields (training_info, ...) would otherwise be kept on every message as $unknowns;
  // set per reader so a global change elsewhere in the process cannot switch it back on.
  reader.discardUnknown = true;
  const message = type.decode(reader);
  return type.toObject(message, TO_OBJECT_OPTIONS) as OnnxModel;
}

/** Encodes a (possibly partial) model. Bytes fields are copied once, into the output buffer. */
export function encodeModel(model: OnnxModelInput): Uint8Array {
  const type = getModelType();
  const problem = type.verify(model);
  if (problem !== null) {
    throw new Error(`invalid ONNX model object: ${problem}`);
  }
  return type.encode(type.fromObject(model)).finish();
}
