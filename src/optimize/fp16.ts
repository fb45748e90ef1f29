/**
 * float16: weights stored and ops computed in half precision, with the model's float32 inputs and
 * outputs kept as its interface (Cast nodes at the edges).
 *
 * Which ops have float16 kernels depends on onnxruntime's build and CPU (onnxruntime-node 1.30 on
 * an AVX-512 EPYC ran all of yolox_nano's), so it is found out rather than listed: the converted model is
 * loaded, and an op onnxruntime has no float16 kernel for ("Could not find an implementation for
 * Conv(11) node ...") is kept in float32, with Casts around it, until the model loads.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { RtinferError, firstLine } from '../errors.js';
import { toFloat16Bits } from '../runtime/float16.js';
import { openSession } from '../runtime/session.js';
import {
  TensorDataType,
  encodeModel,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from '../runtime/onnx-schema.js';
import {
  constantsToInitializers,
  elementTypes,
  floatValues,
  indexGraph,
  type GraphIndex,
  intAttr,
  makeNode,
  makeTensor,
  NameSource,
  topologicalOrder,
} from './graph.js';

type Model = OnnxModel & { graph: OnnxGraph };

/** Ops whose output type comes from an attribute, or that only read shapes: never converted. */
const NEVER_CONVERTED = new Set([
  'Cast',
  'Constant',
  'ConstantOfShape',
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'EyeLike',
  'Shape',
  'Size',
]);
/** Inputs that the ONNX spec types as float32 whatever the data's type: Resize's roi and scales, Upsample's scales. */
const FLOAT32_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2], Upsample: [1] };
const MAX_PROBES = 24;

export interface Fp16Result {
  model: Model;
  /** Op types kept in float32 because onnxruntime has no float16 kernel for them here. */
  keptFloat: string[];
}

export async function convertToFloat16(model: Model, keep: readonly string[] = []): Promise<Fp16Result> {
  const base = constantsToInitializers(model);
  const kept = new Set(keep);
  for (let probe = 0; probe < MAX_PROBES; probe++) {
    const converted = toFloat16(base, kept);
    let session: InferenceSession | undefined;
    try {
      session = await openSession(encodeModel(converted), { logLevel: 'fatal', graphOptimizationLevel: 'disabled' });
      return { model: converted, keptFloat: [...kept].sort() };
    } catch (error) {
      const op = /Could not find an implementation for (\w+)\(\d+\)/.exec(firstLine(error))?.[1];
      if (op === undefined || kept.has(op))
        throw new RtinferError(
          'RTI_ERR_SESSION_CREATE',
          `the float16 model does not load in onnxruntime: ${firstLine(error)}`,
          { cause: error },
        );
      kept.add(op);
    } finally {
      await session?.release();
    }
  }
  throw new RtinferError(
    'RTI_ERR_SESSION_CREATE',
    `the float16 model still does not load after keeping ${MAX_PROBES} op types in float32`,
  );
}

/** The conversion itself, keeping the ops in `keep` (and NEVER_CONVERTED) in float32. */
export function toFloat16(model: Model, keep: ReadonlySet<string>): Model {
  const graph = model.graph;
  const index = indexGraph(graph);
  const names = new NameSource(graph);
  const rules = precisionRules(graph, keep);
  const { isFloat, half, wantsHalf } = rules;

  // Precision of every float value: graph inputs float32, node outputs that of their node.
  const isHalf = new Map<string, boolean>();
  for (const n of graph.node) for (const o of n.output) if (isFloat(o)) isHalf.set(o, half(n));

  const { initializer, newInits, halfInit } = convertInitializers(graph, index, names, rules);
  const casts = new Casts(names);

  // Graph outputs computed in float16 are renamed, and a Cast writes the float32 value under the
  // output's name.
  const outputs = new Set(graph.output.map((v) => v.name ?? ''));
  const renamed = new Map<string, string>();
  for (const o of outputs) if (isHalf.get(o) === true) renamed.set(o, names.fresh(`${o}_fp16`));
  for (const [o, r] of renamed) casts.castOutput(r, o);

  const node = graph.node.map((n) => {
    const input = n.input.map((i, k) => {
      if (!isFloat(i)) return i;
      const want = wantsHalf(n, k);
      if (index.initializers.has(i)) return want ? (halfInit.get(i) ?? i) : i;
      const name = renamed.get(i) ?? i;
      const have = isHalf.get(i) ?? false;
      return have === want ? name : casts.cast(name, want);
    });
    const output = n.output.map((o) => renamed.get(o) ?? o);
    return { ...n, input, output };
  });
  // Declared shapes stay useful, declared float types do not: float values lose their declarations.
  const valueInfo = graph.value_info.filter((v) => !isFloat(v.name ?? ''));
  return {
    ...model,
    graph: {
      ...graph,
      node: topologicalOrder({ ...graph, node: [...node, ...casts.nodes] }),
      initializer: [...initializer, ...newInits],
      value_info: valueInfo,
    },
  };
}

interface PrecisionRules {
  /** A float32 value (input, output or initializer). */
  isFloat: (t: string) => boolean;
  /** Whether node `n` runs in float16. */
  half: (n: OnnxNode) => boolean;
  /** Whether node `n` reads its input `k` in float16 (some inputs stay float32 even then). */
  wantsHalf: (n: OnnxNode, k: number) => boolean;
}

function precisionRules(graph: OnnxGraph, keep: ReadonlySet<string>): PrecisionRules {
  const types = elementTypes(graph);
  const isFloat = (t: string): boolean => t !== '' && types.get(t) === TensorDataType.FLOAT;
  const half = (n: OnnxNode): boolean =>
    (n.domain ?? '') === '' && !keep.has(n.op_type ?? '') && !NEVER_CONVERTED.has(n.op_type ?? '');
  const wantsHalf = (n: OnnxNode, k: number): boolean =>
    half(n) && !(FLOAT32_INPUTS[n.op_type ?? ''] ?? []).includes(k);
  return { isFloat, half, wantsHalf };
}

/**
 * Initializers: converted when every reader wants float16, else a float16 copy for those that do.
 * `halfInit` maps each converted initializer to the name its float16 readers read.
 */
function convertInitializers(
  graph: OnnxGraph,
  index: GraphIndex,
  names: NameSource,
  { isFloat, wantsHalf }: PrecisionRules,
): { initializer: OnnxTensor[]; newInits: OnnxTensor[]; halfInit: Map<string, string> } {
  const initReaders = new Map<string, boolean[]>();
  for (const n of graph.node)
    n.input.forEach((i, k) => {
      if (index.initializers.has(i) && isFloat(i)) initReaders.set(i, [...(initReaders.get(i) ?? []), wantsHalf(n, k)]);
    });
  const newInits: OnnxTensor[] = [];
  const halfInit = new Map<string, string>();
  const initializer = graph.initializer.map((t) => {
    const readers = initReaders.get(t.name ?? '');
    if (readers === undefined || !readers.some(Boolean)) return t;
    const converted = makeTensor(
      t.name ?? '',
      TensorDataType.FLOAT16,
      t.dims,
      Uint16Array.from(floatValues(t)!, toFloat16Bits),
    );
    if (readers.every(Boolean)) {
      halfInit.set(t.name ?? '', t.name ?? '');
      return converted;
    }
    const copy = names.fresh(`${t.name ?? ''}_fp16`);
    newInits.push({ ...converted, name: copy });
    halfInit.set(t.name ?? '', copy);
    return t;
  });
  return { initializer, newInits, halfInit };
}

/** The Cast nodes the conversion adds, one per value and direction. */
class Casts {
  readonly nodes: OnnxNode[] = [];
  readonly #cache = new Map<string, string>();

  readonly #names: NameSource;

  constructor(names: NameSource) {
    this.#names = names;
  }

  /** `t` in the other precision, through a Cast made on first use. */
  cast(t: string, toHalf: boolean): string {
    const key = `${t}|${toHalf}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached;
    const suffix = toHalf ? 'fp16' : 'fp32';
    const out = this.#names.fresh(`${t}_${suffix}`);
    const to = toHalf ? TensorDataType.FLOAT16 : TensorDataType.FLOAT;
    this.nodes.push(makeNode('Cast', [t], [out], this.#names.fresh(`${t}_Cast_${suffix}`), [intAttr('to', to)]));
    this.#cache.set(key, out);
    return out;
  }

  /** Writes the float16 value `from` as float32 under the graph output's name `output`. */
  castOutput(from: string, output: string): void {
    const name = this.#names.fresh(`${output}_Cast_fp32`);
    this.nodes.push(makeNode('Cast', [from], [output], name, [intAttr('to', TensorDataType.FLOAT)]));
  }
}
