/**
 * Raising a model's default-domain opset to 11, the least a QDQ model needs: onnxruntime fuses
 * quantized groups into standard-domain QLinearConv/QLinearMatMul (opset 10+), which an opset 9
 * model cannot hold. Ops whose signature changed on the way are rewritten: Slice (starts, ends,
 * axes became inputs at 10), Clip (min, max became inputs at 11), Resize (roi added at 11). Any
 * other op known to have changed, and not rewritten here, is refused with a message naming it.
 */
import { RtinferError } from '../errors.js';
import {
  TensorDataType,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from '../runtime/onnx-schema.js';
import { attr, defaultOpset, makeTensor, NameSource } from './graph.js';

type Model = OnnxModel & { graph: OnnxGraph };

export const QDQ_MIN_OPSET = 11;

/** Ops whose inputs changed below opset 11 and which this upgrade does not rewrite. */
const UNSUPPORTED = new Set(['Pad', 'Upsample', 'TopK', 'Scatter']);

export function upgradeOpset(model: Model, target = QDQ_MIN_OPSET): Model {
  const from = defaultOpset(model);
  if (from >= target) return model;
  const graph = model.graph;
  const names = new NameSource(graph);
  const inits: OnnxTensor[] = [];
  const int64s = (stem: string, values: number[]): string => {
    const name = names.fresh(stem);
    // Exporters write INT64_MAX for "to the end", which decodes to 2^63 as a double: clamp, or it wraps negative.
    inits.push(
      makeTensor(
        name,
        TensorDataType.INT64,
        [values.length],
        BigInt64Array.from(values, (v) => BigInt(Math.max(-(2 ** 62), Math.min(2 ** 62, v)))),
      ),
    );
    return name;
  };
  const float = (stem: string, value: number): string => {
    const name = names.fresh(stem);
    inits.push(makeTensor(name, TensorDataType.FLOAT, [], Float32Array.of(value)));
    return name;
  };
  const node = graph.node.map((n): OnnxNode => {
    if ((n.domain ?? '') !== '') return n;
    const op = n.op_type ?? '';
    if (UNSUPPORTED.has(op)) {
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `the model imports opset ${from}, and int8 needs opset ${target}: its ${op} node '${n.name ?? ''}' ` +
          `would have to be rewritten for that, which rtinfer does not do yet (re-export the model at ` +
          `opset ${target} or later)`,
      );
    }
    const stem = n.name || op;
    if (op === 'Slice' && from < 10) {
      const starts = attr(n, 'starts')?.ints ?? [];
      const ends = attr(n, 'ends')?.ints ?? [];
      const axes = attr(n, 'axes')?.ints;
      const input = [n.input[0] ?? '', int64s(`${stem}_starts`, starts), int64s(`${stem}_ends`, ends)];
      if (axes !== undefined && axes.length > 0) input.push(int64s(`${stem}_axes`, axes));
      return { ...n, input, attribute: [] };
    }
    if (op === 'Clip' && from < 11) {
      const min = attr(n, 'min')?.f;
      const max = attr(n, 'max')?.f;
      const input = [
        n.input[0] ?? '',
        min === undefined ? '' : float(`${stem}_min`, min),
        max === undefined ? '' : float(`${stem}_max`, max),
      ];
      while (input.length > 1 && input[input.length - 1] === '') input.pop();
      return { ...n, input, attribute: [] };
    }
    if (op === 'Resize' && from === 10) {
      return { ...n, input: [n.input[0] ?? '', '', n.input[1] ?? ''] };
    }
    return n;
  });
  const opsetImport = model.opset_import.map((o) =>
    o.domain === undefined || o.domain === '' || o.domain === 'ai.onnx' ? { ...o, version: target } : o,
  );
  // IR 6 is the first IR version whose opsets reach 11.
  return {
    ...model,
    ir_version: Math.max(model.ir_version ?? 0, 6),
    opset_import: opsetImport,
    graph: { ...graph, node, initializer: [...graph.initializer, ...inits] },
  };
}
