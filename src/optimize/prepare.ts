/**
 * Graph clean-ups run before quantization, so that quantize/dequantize pairs land where
 * onnxruntime fuses them: Constant weights become initializers, models below opset 11 are raised
 * to it (opset.ts), and BatchNormalization after a
 * Conv is folded into the Conv's weights (onnxruntime folds it too, but only on a float graph: a
 * QDQ pair between the two would leave BatchNormalization running in float on its own).
 */
import type { OnnxGraph, OnnxModel, OnnxNode, OnnxTensor } from '../runtime/onnx-schema.js';
import { TensorDataType } from '../runtime/onnx-schema.js';
import { attr, constantsToInitializers, floatValues, indexGraph, makeTensor, NameSource } from './graph.js';
import { upgradeOpset } from './opset.js';

type Model = OnnxModel & { graph: OnnxGraph };

export function prepareForQuantization(model: Model): Model {
  return upgradeOpset(foldBatchNorm(weightsOutOfInputs(constantsToInitializers(model))));
}

/**
 * Initializers also listed as graph inputs (the IR < 4 convention, e.g. version-RFB-320) are
 * taken out of the inputs: onnxruntime treats such weights as overridable, so it neither folds
 * them nor fuses what reads them.
 */
export function weightsOutOfInputs(model: Model): Model {
  const inits = new Set(model.graph.initializer.map((t) => t.name ?? ''));
  const input = model.graph.input.filter((v) => !inits.has(v.name ?? ''));
  return input.length === model.graph.input.length ? model : { ...model, graph: { ...model.graph, input } };
}

/** Conv → BatchNormalization (the Conv's only consumer, inference form) folded into one Conv. */
export function foldBatchNorm(model: Model): Model {
  const graph = model.graph;
  const index = indexGraph(graph);
  const names = new NameSource(graph);
  const replaced = new Map<OnnxNode, OnnxNode>();
  const removed = new Set<OnnxNode>();
  const added: OnnxTensor[] = [];
  for (const bn of graph.node) {
    if (bn.op_type !== 'BatchNormalization' || bn.output.length !== 1 || (bn.domain ?? '') !== '') continue;
    const convOut = bn.input[0] ?? '';
    const conv = index.producer.get(convOut);
    if (conv === undefined || conv.op_type !== 'Conv' || replaced.has(conv) || index.graphOutputs.has(convOut))
      continue;
    if ((index.consumers.get(convOut) ?? []).length !== 1) continue;
    const w = index.initializers.get(conv.input[1] ?? '');
    const values = bn.input.slice(1, 5).map((n) => index.initializers.get(n));
    if (w === undefined || values.some((v) => v === undefined)) continue;
    const [gamma, beta, mean, variance] = values.map((v) => floatValues(v!));
    const weights = floatValues(w);
    if (
      weights === undefined ||
      gamma === undefined ||
      beta === undefined ||
      mean === undefined ||
      variance === undefined
    )
      continue;
    const m = w.dims[0] ?? 0;
    if (gamma.length !== m || beta.length !== m || mean.length !== m || variance.length !== m) continue;
    const biasInit = conv.input[2] ? index.initializers.get(conv.input[2]) : undefined;
    if (conv.input[2] && biasInit === undefined) continue;
    const bias = biasInit === undefined ? new Float32Array(m) : floatValues(biasInit);
    if (bias === undefined) continue;
    const epsilon = attr(bn, 'epsilon')?.f ?? 1e-5;
    const per = weights.length / m;
    const newW = new Float32Array(weights.length);
    const newB = new Float32Array(m);
    for (let c = 0; c < m; c++) {
      const k = gamma[c]! / Math.sqrt(variance[c]! + epsilon);
      for (let j = 0; j < per; j++) newW[c * per + j] = weights[c * per + j]! * k;
      newB[c] = (bias[c]! - mean[c]!) * k + beta[c]!;
    }
    const wName = names.fresh(`${w.name ?? 'W'}_bnfold`);
    const bName = names.fresh(`${conv.name || 'conv'}_bias_bnfold`);
    added.push(
      makeTensor(wName, TensorDataType.FLOAT, w.dims, newW),
      makeTensor(bName, TensorDataType.FLOAT, [m], newB),
    );
    replaced.set(conv, { ...conv, input: [conv.input[0] ?? '', wName, bName], output: [bn.output[0] ?? ''] });
    removed.add(bn);
  }
  if (removed.size === 0) return model;
  const node = graph.node.filter((n) => !removed.has(n)).map((n) => replaced.get(n) ?? n);
  // Weights that no node reads any more are dropped, so the file does not keep both versions.
  const read = new Set(node.flatMap((n) => n.input));
  const initializer = [...graph.initializer, ...added].filter(
    (t) => read.has(t.name ?? '') || graph.output.some((o) => o.name === t.name),
  );
  const input = graph.input.filter((v) => !index.initializers.has(v.name ?? '') || read.has(v.name ?? ''));
  return { ...model, graph: { ...graph, node, initializer, input } };
}
