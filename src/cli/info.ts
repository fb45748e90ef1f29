/** `rtinfer info`: what a model is, what it takes, and what it costs. */
import { RtinferError, firstLine } from '../errors.js';
import { defaultModel } from '../runtime/default-model.js';
import type { TensorDType } from '../runtime/dtypes.js';
import { estimateFlops, type FlopsEstimate } from '../runtime/flops.js';
import { buildSamples } from '../runtime/inputs.js';
import { imageSizeFromMetadata } from '../runtime/metadata.js';
import { inspectModel, type ModelInfo } from '../runtime/model-info.js';
import { readModel, type TensorSpec } from '../runtime/session.js';
import { describeDefaults, parseShapeArg, resolveShapes } from '../runtime/shapes.js';
import { isTensorDType } from '../runtime/dtypes.js';
import { formatBytes, formatCount, formatShape, formatTable } from '../util/format.js';
import { parseCommand, type CommandSpec } from './args.js';
import { SHAPE_OPTION, shapesFrom } from './session-flags.js';
import { planVision } from '../vision/plan.js';
import { ctcClasses } from '../vision/heads/ctc.js';
import { dictionaryFor, readSidecar } from '../vision/sidecar.js';

export const INFO_SCHEMA = 'rtinfer.info/1';

export const INFO_COMMAND: CommandSpec = {
  name: 'info',
  summary: 'inputs, outputs, opsets, metadata, operators, parameters and FLOPs of an ONNX model',
  usage: 'rtinfer info [model.onnx] [--shape NAME=DIMS] [--skip-flops] [--json]',
  maxPositionals: 1,
  options: [
    SHAPE_OPTION,
    { name: 'skip-flops', type: 'boolean', description: 'do not run the model once to estimate FLOPs' },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.info/1 JSON report' },
  ],
  examples: ['rtinfer info yolox_nano.onnx', 'rtinfer info det.onnx --shape x=1x3x960x960 --json'],
};

export interface InfoReport extends ModelInfo {
  schema: typeof INFO_SCHEMA;
  path: string | null;
  fileBytes: number;
  /** The concrete input shapes FLOPs were estimated at. */
  shapes: Record<string, number[]>;
  defaultedShapes: string[];
  flops: (FlopsEstimate & { error?: undefined }) | { error: string } | null;
  /** What `predict` would do with it: head and preprocessing with the reasons, or why it cannot. */
  vision: { head: string; task: string; plan: string[] } | { error: string };
}

async function visionOf(info: ModelInfo, modelPath: string | undefined): Promise<InfoReport['vision']> {
  try {
    const side = modelPath === undefined ? undefined : await readSidecar(modelPath);
    const plan = planVision({
      inputs: info.inputs,
      outputs: info.outputs,
      metadata: info.metadata,
      ...(side?.head !== undefined ? { task: side.head } : {}),
      ...(side?.preprocess !== undefined ? { preprocess: side.preprocess } : {}),
    });
    const explanation = side === undefined ? plan.explanation : [...plan.explanation, `sidecar ${side.file} applied`];
    const classes = ctcClasses(plan.choice.head, info.outputs);
    if (classes !== undefined) {
      const labels = side?.labels ?? plan.choice.labels;
      const source = side?.labels !== undefined ? "the sidecar's labels" : 'metadata';
      const given = labels === undefined ? undefined : { source, count: labels.length };
      explanation.push((await dictionaryFor(modelPath, classes, given)).note);
    }
    return { head: plan.choice.head.name, task: plan.choice.head.task, plan: explanation };
  } catch (error) {
    return { error: error instanceof RtinferError ? error.message : firstLine(error) };
  }
}

export async function infoCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(INFO_COMMAND, argv);
  const overrides = shapesFrom(values);
  const fallback = positionals[0] === undefined ? defaultModel() : undefined;
  const model = await readModel(positionals[0] ?? fallback?.path ?? '');
  const info = inspectModel(model.bytes, model.label);
  const specs: TensorSpec[] = info.inputs.map((i) => ({
    name: i.name,
    dtype: (isTensorDType(i.dtype) ? i.dtype : 'float32') as TensorDType,
    shape: i.shape,
  }));
  const imageSize = imageSizeFromMetadata(info.metadata);
  const { shapes, defaulted } = resolveShapes(
    specs,
    overrides.length > 0 || !fallback ? overrides : [parseShapeArg(fallback.shape)],
    imageSize ? { imageSize } : {},
  );

  let flops: InfoReport['flops'] = null;
  if (values['skip-flops'] !== true) {
    const unsupported = info.inputs.find((i) => !isTensorDType(i.dtype));
    if (unsupported) {
      flops = { error: `input '${unsupported.name}' has type ${unsupported.dtype}, which cannot be fed` };
    } else {
      const { samples } = await buildSamples(specs, shapes, { fill: 'zeros', files: [], samples: 1, seed: 1 });
      try {
        flops = await estimateFlops(model.bytes, samples[0] ?? {});
      } catch (error) {
        // FLOPs are an estimate on top of the report; a model that will not run at this shape still gets its info.
        flops = { error: error instanceof RtinferError ? error.message : firstLine(error) };
      }
    }
  }
  const report: InfoReport = {
    schema: INFO_SCHEMA,
    path: model.path ?? null,
    fileBytes: model.bytes.length,
    ...info,
    shapes,
    defaultedShapes: describeDefaults(defaulted),
    flops,
    vision: await visionOf(info, model.path),
  };
  io.stdout.write(values['json'] === true ? JSON.stringify(report, null, 2) + '\n' : renderInfo(report) + '\n');
  return 0;
}

function renderInfo(r: InfoReport): string {
  const out: string[] = [];
  out.push(`model       ${r.path ?? '<bytes>'} (${formatBytes(r.fileBytes)})`);
  out.push(
    `producer    ${r.producerName || '?'} ${r.producerVersion} · IR ${r.irVersion} · ` +
      `opsets ${r.opsetImports.map((o) => `${o.domain} ${o.version}`).join(', ')}`,
  );
  if (r.graphName) out.push(`graph       ${r.graphName}${r.externalData ? ' (weights in external data)' : ''}`);
  out.push('inputs');
  out.push(
    formatTable(
      r.inputs.map((i) => [
        i.name,
        i.dtype,
        formatShape(i.shape),
        `run at ${(r.shapes[i.name] ?? []).join('x') || 'scalar'}`,
      ]),
      '  ',
    ),
  );
  if (r.weightInputs > 0) out.push(`  (+ ${r.weightInputs} weights listed as graph inputs, an old-exporter habit)`);
  out.push('outputs');
  out.push(
    formatTable(
      r.outputs.map((o) => [o.name, o.dtype, formatShape(o.shape)]),
      '  ',
    ),
  );
  const meta = Object.entries(r.metadata);
  if (meta.length > 0) {
    out.push('metadata');
    for (const [k, v] of meta) out.push(`  ${k} = ${v.length > 120 ? v.slice(0, 117) + '...' : v}`);
  }
  out.push(
    `parameters  ${formatCount(r.parameters.count)} in ${r.parameters.tensors} tensors ` +
      `(${formatBytes(r.parameters.bytes)})`,
  );
  const control = r.operators.filter((o) => CONTROL_FLOW.has(o.opType)).map((o) => o.opType);
  if (r.flops === null) out.push('FLOPs       skipped');
  else if (r.flops.error !== undefined) out.push(`FLOPs       not estimated: ${r.flops.error}`);
  else if (r.flops.total === 0 && control.length > 0)
    out.push(
      `FLOPs       not estimated: the model's work is inside ${control.join('/')} subgraphs, which the count does not enter`,
    );
  else {
    const by = Object.entries(r.flops.byOp)
      .map(([op, f]) => `${op} ${formatCount(f)}`)
      .join(', ');
    out.push(
      `FLOPs       ${formatCount(r.flops.total)} per inference at ${Object.entries(r.shapes)
        .map(([n, d]) => `${n}=${d.length === 0 ? 'scalar' : d.join('x')}`)
        .join(' ')} (${by || 'no Conv/MatMul/Gemm'}; 2 per multiply-add)`,
    );
  }
  out.push(`operators   ${r.nodeCount} nodes: ${r.operators.map((o) => `${o.opType} ${o.count}`).join(', ')}`);
  if ('error' in r.vision) out.push(`vision      no head: ${r.vision.error}`);
  else {
    out.push(`vision      predict would use the ${r.vision.head} head (${r.vision.task}), and why:`);
    for (const line of r.vision.plan) out.push(`  ${line}`);
  }
  for (const line of r.defaultedShapes) out.push(`note        default shape: ${line}`);
  return out.join('\n');
}

/** Operators whose subgraphs hold work that the FLOPs count (graph-level nodes only) does not see. */
const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);
