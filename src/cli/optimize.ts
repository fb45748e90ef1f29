/** `rtinfer optimize`: thin over optimizeModel; prints the rtinfer.optimize/1 report. */
import path from 'node:path';
import { RtinferError } from '../errors.js';
import { optimizeModel, type Int8Options, type OptimizeReport } from '../optimize/optimize.js';
import { optimizeWarnings, renderOptimizeHtml, renderOptimizeText } from '../optimize/optimize-text.js';
import { ACTIVATION_TYPES, type ActivationType } from '../optimize/qdq-rewrite.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../optimize/ranges.js';
import { parseAccuracyDrop } from '../tune/slo.js';
import {
  listValue,
  parseChoice,
  parseCommand,
  parseIntOption,
  parseNumberOption,
  stringValue,
  type CommandSpec,
  type ParsedValues,
} from './args.js';
import { checkWritable, writeOutput } from './output.js';
import { SHAPE_OPTION, shapesFrom } from './session-flags.js';
import { openStoreFor, recordAndGate, STORE_OPTIONS, storeSettingsFrom } from './store-flags.js';
import { captureEnvironment } from '../loadgen/environment.js';
import type { OptimizeRecord } from '../store/record.js';

export const OPTIMIZE_COMMAND: CommandSpec = {
  name: 'optimize',
  summary:
    'make a faster variant of a model (static int8, fp16, fixed shapes, pre-optimized graph) ' +
    'and report its speed and accuracy cost',
  usage:
    'rtinfer optimize <model.onnx> [--int8 --calibrate DIR|GLOB] [--fp16] [--shape NAME=DIMS] ' +
    '[--graph-opt] --out FILE [options]',
  maxPositionals: 1,
  options: [
    {
      name: 'out',
      type: 'string',
      value: 'FILE',
      description: 'the optimized model to write (required; never the input)',
    },
    { name: 'int8', type: 'boolean', description: 'static int8 quantization (QDQ), calibrated on --calibrate' },
    {
      name: 'calibrate',
      type: 'string',
      multiple: true,
      value: 'DIR|GLOB',
      description:
        "calibration data: images (through the model's own preprocessing) or .npy tensors; " +
        'every third file is held out for the accuracy check',
    },
    {
      name: 'method',
      type: 'string',
      value: 'NAME',
      description: `calibration method: ${CALIBRATION_METHODS.join(' | ')} (default minmax)`,
    },
    {
      name: 'percentile',
      type: 'string',
      value: 'P',
      description: 'for --method percentile: the share of values kept, e.g. 99.99 (default 99.999)',
    },
    {
      name: 'exclude',
      type: 'string',
      multiple: true,
      value: 'LIST',
      description: 'node names or op types to keep in float, comma-separated',
    },
    {
      name: 'quantize-head',
      type: 'boolean',
      description: "quantize the detection head's final decode too (kept in float by default)",
    },
    {
      name: 'quantize-stem',
      type: 'boolean',
      description: 'quantize the stem (nodes up to the first depthwise Conv) too (kept in float by default)',
    },
    {
      name: 'quantize-silu',
      type: 'boolean',
      description: 'quantize SiLU as QLinearSigmoid + QLinearMul (default: one float QuickGelu, faster on onnxruntime)',
    },
    {
      name: 'activations',
      type: 'string',
      value: 'TYPE',
      description: `${ACTIVATION_TYPES.join(' | ')} (default uint8, asymmetric)`,
    },
    { name: 'per-tensor', type: 'boolean', description: 'one weight scale per tensor instead of per output channel' },
    {
      name: 'sensitivity',
      type: 'boolean',
      description:
        'rank the quantized Conv/Gemm/MatMul nodes by the output error they add (each kept in float in turn)',
    },
    {
      name: 'auto-exclude',
      type: 'boolean',
      description: 'keep the costliest nodes in float until --max-accuracy-drop holds on the calibration images',
    },
    {
      name: 'max-accuracy-drop',
      type: 'string',
      value: 'PCT',
      description: 'the bound for --auto-exclude, e.g. 5% (default 10%)',
    },
    {
      name: 'no-hold-out',
      type: 'boolean',
      description: 'calibrate on every file (the accuracy check then needs --images)',
    },
    { name: 'fp16', type: 'boolean', description: 'float16 weights and compute, float32 inputs and outputs kept' },
    SHAPE_OPTION,
    {
      name: 'graph-opt',
      type: 'boolean',
      description: "save onnxruntime's optimized graph, so a cold start skips the optimization",
    },
    {
      name: 'images',
      type: 'string',
      multiple: true,
      value: 'DIR',
      description: 'images for the accuracy check (default: the held-out calibration images)',
    },
    {
      name: 'threads',
      type: 'string',
      value: 'N',
      description: "intra-op threads for calibration and the latency comparison (default: onnxruntime's)",
    },
    {
      name: 'blocks',
      type: 'string',
      value: 'N',
      description: 'alternating A/B blocks for the latency comparison (default 10, 10 runs each)',
    },
    { name: 'no-measure', type: 'boolean', description: 'write the model without measuring latency and accuracy' },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.optimize/1 JSON report' },
    ...STORE_OPTIONS,
    { name: 'html', type: 'string', value: 'FILE', description: 'write a self-contained HTML page with the report' },
  ],
  examples: [
    'rtinfer optimize yolox_nano.onnx --int8 --calibrate images/calib/ --method entropy --out yolox_nano.int8.onnx',
    'rtinfer optimize det.onnx --shape x=1x3x640x640 --graph-opt --out det.fixed.onnx',
    'rtinfer optimize model.onnx --int8 --calibrate "data/*.npy" --exclude Sigmoid,Conv_12 ' +
      '--out model.int8.onnx --json',
  ],
};

/** The model, the outputs (each checked writable) and the int8 flags that must agree, checked before any work. */
async function optimizeArgs(
  values: ParsedValues,
  positionals: readonly string[],
): Promise<{ model: string; out: string; html: string | undefined; calibrate: string[]; percentile?: number }> {
  const text = (name: string): string | undefined => stringValue(values, name);
  const model = positionals[0];
  if (model === undefined)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      `rtinfer optimize needs a model file (usage: ${OPTIMIZE_COMMAND.usage})`,
    );
  const out = text('out');
  if (out === undefined)
    throw new RtinferError('RTI_ERR_ARG_MISSING', '--out is required: the file to write the optimized model to');
  const html = text('html');
  for (const [opt, file] of [
    ['out', out],
    ['html', html],
  ] as const)
    if (file !== undefined) await checkWritable(opt, file);
  const calibrate = listValue(values, 'calibrate');
  const int8 = values['int8'] === true;
  if (int8 && calibrate.length === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      '--int8 needs --calibrate DIR|GLOB (images or .npy files from your own data)',
    );
  if (!int8 && calibrate.length > 0)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--calibrate is only used with --int8');
  if (text('max-accuracy-drop') !== undefined && values['auto-exclude'] !== true)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--max-accuracy-drop is the bound for --auto-exclude: give both');
  const percentile = text('percentile');
  const p =
    percentile === undefined
      ? undefined
      : parseNumberOption('percentile', percentile, 'a number in (50, 100]', (n) => n > 50 && n <= 100);
  return { model, out, html, calibrate, ...(p !== undefined ? { percentile: p } : {}) };
}

/** The int8 options from --calibrate and its companions (--method, --activations, --exclude, ...). */
function int8OptionsFrom(values: ParsedValues, calibrate: string[], p: number | undefined): Int8Options {
  const text = (name: string): string | undefined => stringValue(values, name);
  const exclude = listValue(values, 'exclude')
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter((x) => x !== '');
  return {
    calibrate,
    method: parseChoice('method', text('method') ?? 'minmax', CALIBRATION_METHODS) as CalibrationMethod,
    ...(p !== undefined ? { percentile: p } : {}),
    exclude,
    quantizeHead: values['quantize-head'] === true,
    quantizeStem: values['quantize-stem'] === true,
    quantizeSilu: values['quantize-silu'] === true,
    activationType: parseChoice('activations', text('activations') ?? 'uint8', ACTIVATION_TYPES) as ActivationType,
    perChannel: values['per-tensor'] !== true,
    holdOut: values['no-hold-out'] !== true,
    sensitivity: values['sensitivity'] === true,
    ...(values['auto-exclude'] === true
      ? { maxAccuracyDrop: parseAccuracyDrop(text('max-accuracy-drop') ?? '10%') }
      : {}),
  };
}

/**
 * `rtinfer optimize`: flags checked (every output writable, int8 with its calibration) before the work, the
 * optimisation, then its outputs and record.
 */
export async function optimizeCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(OPTIMIZE_COMMAND, argv);
  const { model, out, html, calibrate, percentile } = await optimizeArgs(values, positionals);
  const threads = stringValue(values, 'threads');
  const blocks = stringValue(values, 'blocks');
  const json = values['json'] === true;
  const images = listValue(values, 'images');
  const storeSettings = storeSettingsFrom(values);
  // Opened before the work: a store that cannot be used fails now, not after the calibration.
  const store = openStoreFor(storeSettings);
  const startedAt = new Date().toISOString();
  let report: OptimizeReport;
  try {
    report = await optimizeModel({
      model,
      out,
      ...(values['int8'] === true ? { int8: int8OptionsFrom(values, calibrate, percentile) } : {}),
      fp16: values['fp16'] === true,
      shapes: shapesFrom(values),
      graphOpt: values['graph-opt'] === true,
      measure: values['no-measure'] !== true,
      ...(images.length > 0 ? { images } : {}),
      ...(threads !== undefined ? { session: { intraOpThreads: parseIntOption('threads', threads, 0, 1024) } } : {}),
      ...(blocks !== undefined ? { blocks: parseIntOption('blocks', blocks, 1, 1000) } : {}),
      onPhase: (line) => {
        if (!json) process.stderr.write(`optimize: ${line}\n`);
      },
    });
  } catch (error) {
    await store?.close();
    throw error;
  }
  if (html !== undefined) await writeOutput('html', html, renderOptimizeHtml(report));
  io.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : renderOptimizeText(report) + '\n');
  // The text report ends with the warnings; with --json they go to stderr, where a script's log keeps them.
  if (json) for (const w of optimizeWarnings(report)) process.stderr.write(`rtinfer optimize: warning: ${w}\n`);
  try {
    await recordAndGate(
      store,
      storeSettings,
      { kind: 'optimize', report: optimizeRecord(report, startedAt) },
      null,
      null,
      (line) => {
        if (!json || line.startsWith('warning')) process.stderr.write(`rtinfer optimize: ${line}\n`);
      },
    );
  } finally {
    await store?.close();
  }
  return 0;
}

/** What the run store keeps of an optimize run: the written model, its transforms, its figures. */
function optimizeRecord(report: OptimizeReport, startedAt: string): OptimizeRecord {
  const latency = report.latency && !('error' in report.latency) ? report.latency : undefined;
  const cold = report.coldStart && !('error' in report.coldStart) ? report.coldStart : undefined;
  const q = report.quantization;
  return {
    ...report,
    model: { label: path.basename(report.out), path: report.out },
    settings: {
      source: path.basename(report.model),
      transforms: report.transforms,
      ...(q ? { method: q.method, activations: q.activationType, perChannel: q.perChannel } : {}),
    },
    startedAt,
    valid: null,
    figures: {
      p50Ms: latency?.optimized.p50 ?? null,
      p99Ms: latency?.optimized.p99 ?? null,
      coldStartMs: cold?.optimizedMs ?? null,
    },
    env: captureEnvironment(),
    histogram: null,
  };
}
