/**
 * Fixed shapes: symbolic input dimensions bound to concrete ones in the file, so onnxruntime plans
 * memory once and folds shape arithmetic (Shape → Gather → Concat → Reshape) into constants at
 * load. Declared shapes of outputs and intermediate values that name a bound symbol get its value.
 */
import { RtinferError } from '../errors.js';
import type { OnnxGraph, OnnxModel, OnnxValueInfo } from '../runtime/onnx-schema.js';
import type { ShapeOverride } from '../runtime/shapes.js';

type Model = OnnxModel & { graph: OnnxGraph };

export interface FixedShapesResult {
  model: Model;
  /** Symbol → value, for the symbols the inputs named. */
  bound: Record<string, number>;
}

export function fixShapes(model: Model, overrides: readonly ShapeOverride[]): FixedShapesResult {
  const graph = model.graph;
  const initializers = new Set(graph.initializer.map((t) => t.name ?? ''));
  const inputs = graph.input.filter((v) => !initializers.has(v.name ?? ''));
  const bound: Record<string, number> = {};
  const input = graph.input.map((v): OnnxValueInfo => {
    if (initializers.has(v.name ?? '')) return v;
    const o =
      overrides.find((s) => s.name === v.name) ??
      (overrides.length === 1 && overrides[0]!.name === undefined && inputs.length === 1 ? overrides[0] : undefined);
    const tensor = v.type?.tensor_type;
    const dims = tensor?.shape?.dim ?? [];
    if (o === undefined) {
      const open = dims.filter((d) => d.dim_value === undefined);
      if (open.length > 0)
        throw new RtinferError(
          'RTI_ERR_SHAPE_MISMATCH',
          `input '${v.name ?? ''}' has dynamic dimensions ` +
            `[${dims.map((d) => d.dim_value ?? d.dim_param ?? '?').join(',')}]: give --shape ${v.name ?? ''}=...`,
        );
      return v;
    }
    if (o.dims.length !== dims.length)
      throw new RtinferError(
        'RTI_ERR_SHAPE_MISMATCH',
        `--shape for '${v.name ?? ''}' has ${o.dims.length} dims, the input has ${dims.length}`,
      );
    const dim = dims.map((d, i) => {
      const want = o.dims[i]!;
      if (d.dim_value !== undefined && d.dim_value > 0 && d.dim_value !== want) {
        throw new RtinferError(
          'RTI_ERR_SHAPE_MISMATCH',
          `--shape ${o.dims.join('x')} does not fit input '${v.name ?? ''}' ` +
            `[${dims.map((x) => x.dim_value ?? x.dim_param ?? '?').join(',')}] at dim ${i}`,
        );
      }
      if (d.dim_param !== undefined && d.dim_param !== '') bound[d.dim_param] = want;
      return { dim_value: want };
    });
    return { ...v, type: { ...v.type, tensor_type: { ...tensor, shape: { dim } } } };
  });
  for (const name of overrides.map((o) => o.name).filter((n): n is string => n !== undefined)) {
    if (!inputs.some((v) => v.name === name))
      throw new RtinferError(
        'RTI_ERR_MODEL_INPUT_UNKNOWN',
        `--shape names '${name}', which is not an input (inputs: ${inputs.map((v) => v.name ?? '').join(', ')})`,
      );
  }
  // Other values whose declared shapes name a bound symbol get its value: onnxruntime checks them
  // against what it infers, and the vision heads read the output shapes.
  const bind = (v: OnnxValueInfo): OnnxValueInfo => {
    const t = v.type?.tensor_type;
    const dims = t?.shape?.dim;
    if (t === undefined || dims === undefined || !dims.some((d) => d.dim_param !== undefined && d.dim_param in bound))
      return v;
    const dim = dims.map((d) =>
      d.dim_param !== undefined && d.dim_param in bound ? { dim_value: bound[d.dim_param]! } : d,
    );
    return { ...v, type: { ...v.type, tensor_type: { ...t, shape: { dim } } } };
  };
  const valueInfo = graph.value_info.map(bind);
  const output = graph.output.map(bind);
  return { model: { ...model, graph: { ...graph, input, value_info: valueInfo, output } }, bound };
}
