/** `rtinfer tune`: thin over runTune; writes the chosen configuration as a serve config. */
import { RtinferError } from '../errors.js';
import { renderConfigFile } from '../tune/config-out.js';
import { parseAccuracyDrop, parseBudgetMs, parseResolutions, parseSlo } from '../tune/slo.js';
import { TUNE_SCENARIOS, type TuneScenario } from '../tune/space.js';
import { OBJECTIVES, judged, type Objective } from '../tune/strategy.js';
import { renderTuneHtml } from '../report/tune-html.js';
import { renderTuneText } from '../tune/tune-text.js';
import { runTune, type TuneOptions } from '../tune/tune.js';
import {
  listValue,
  parseChoice,
  parseCommand,
  parseIntOption,
  stringValue,
  type CommandSpec,
  type ParsedValues,
} from './args.js';
import { checkWritable, writeOutput } from './output.js';
import { compareTunes } from '../compare/report-gates.js';
import type { TuneReport } from '../tune/tune.js';
import { exitCodeOf } from './exit-codes.js';
import { GATE_OPTIONS, openStoreAndGate, recordAndGate, reportJudge, STORE_OPTIONS } from './store-flags.js';
import { SHAPE_OPTION, shapesFrom } from './session-flags.js';
import { parseTargetUrl } from '../loadgen/remote-target.js';
import { targetExitCode, tuneTarget } from './tune-target.js';
import {
  AUTO_VARIANT_KINDS,
  DEFAULT_AUTO_METHOD,
  parseVariantsOption,
  type AutoVariantKind,
} from '../tune/auto-variants.js';
import { CALIBRATION_METHODS, type CalibrationMethod } from '../optimize/ranges.js';
import path from 'node:path';

export const TUNE_COMMAND: CommandSpec = {
  name: 'tune',
  summary:
    'find the configuration (and model variant) that meets a latency SLO with the most throughput, ' +
    'least latency or best accuracy',
  usage:
    'rtinfer tune <model.onnx...> --slo "p99<=50ms" [--scenario server|single-stream|multi-stream] ' +
    '[--objective throughput|latency|accuracy] [--budget 10m] [--out FILE] [options]',
  maxPositionals: 64,
  options: [
    { name: 'slo', type: 'string', value: 'SLO', description: 'latency objective, e.g. "p99<=50ms" (required)' },
    {
      name: 'target',
      type: 'string',
      value: 'URL',
      description:
        'a served model instead (http://HOST:PORT/v2/models/NAME or grpc://HOST:PORT/NAME): ' +
        "its layout is the server's, so tune finds its highest rate within a p99 SLO",
    },
    {
      name: 'scenario',
      type: 'string',
      value: 'NAME',
      description: `${TUNE_SCENARIOS.join(' | ')} (default server: highest Poisson rate within the SLO)`,
    },
    { name: 'objective', type: 'string', value: 'NAME', description: `${OBJECTIVES.join(' | ')} (default throughput)` },
    {
      name: 'max-accuracy-drop',
      type: 'string',
      value: 'PCT',
      description: 'exclude variants that lose more than this against the reference, e.g. 1%',
    },
    {
      name: 'budget',
      type: 'string',
      value: 'TIME',
      description: 'time for the whole run, verification included (default 10m)',
    },
    {
      name: 'out',
      type: 'string',
      value: 'FILE',
      description: 'write the chosen configuration for rtinfer serve --config (.yaml, .yml or .json)',
    },
    {
      name: 'reference',
      type: 'string',
      value: 'MODEL',
      description: 'accuracy reference (default: the highest-resolution, then largest, variant)',
    },
    {
      name: 'images',
      type: 'string',
      multiple: true,
      value: 'DIR',
      description: 'images for the accuracy check (a folder or files)',
    },
    {
      name: 'labels',
      type: 'string',
      value: 'FILE',
      description: 'labelled set for real mAP / top-1 instead of agreement',
    },
    {
      name: 'resolutions',
      type: 'string',
      value: 'LIST',
      description:
        'for models with dynamic height and width: sizes to try, e.g. 640,480,320 or 640x480, ' +
        'or "auto" (the base size, 3/4 and 1/2 of it, multiples of 32)',
    },
    SHAPE_OPTION,
    {
      name: 'variants',
      type: 'string',
      value: 'auto|LIST',
      description:
        `make the model variants and search them with the first model: ` +
        `auto = ${AUTO_VARIANT_KINDS.join(', ')} (int8 only with --calibrate), or a list of them`,
    },
    {
      name: 'calibrate',
      type: 'string',
      multiple: true,
      value: 'DIR|GLOB',
      description:
        'with --variants: calibration data for the int8 variant (images or .npy); ' +
        'every third file is held out for its accuracy check',
    },
    {
      name: 'calibration-method',
      type: 'string',
      value: 'NAME',
      description: `with --variants: ${CALIBRATION_METHODS.join(' | ')} (default ${DEFAULT_AUTO_METHOD})`,
    },
    {
      name: 'variants-dir',
      type: 'string',
      value: 'DIR',
      description:
        'with --variants: where the variants are written (default <out>.variants/ next to --out, ' +
        'else a new folder in the temp dir)',
    },
    { name: 'ep', type: 'string', value: 'LIST', description: 'execution providers in priority order (default cpu)' },
    {
      name: 'samples-per-query',
      type: 'string',
      value: 'N',
      description: 'multi-stream: samples per query (default 8)',
    },
    { name: 'oversubscribe', type: 'boolean', description: 'also try instances × threads above the core count' },
    {
      name: 'hint',
      type: 'string',
      value: 'HINT',
      description:
        'the layout the search starts from: latency (1 instance, every core; default) ' +
        'or throughput (one 1-thread instance per core)',
    },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.tune/1 JSON report' },
    { name: 'html', type: 'string', value: 'FILE', description: 'write a self-contained HTML page with the report' },
    ...STORE_OPTIONS,
    ...GATE_OPTIONS,
  ],
  examples: [
    'rtinfer tune yolox_nano.onnx --slo "p99<=50ms" --budget 5m --out serve.yaml',
    'rtinfer tune det.onnx --resolutions 640,480,320 --images photos/ --max-accuracy-drop 2% --slo "p99<=80ms"',
    'rtinfer tune model-fp32.onnx model-int8.onnx --objective accuracy --slo "p90<=20ms" --scenario single-stream',
    'rtinfer tune --target grpc://127.0.0.1:8001/yolox_nano --slo "p99<=100ms"',
    'rtinfer tune yolox_nano.onnx --variants auto --calibrate calib/ --max-accuracy-drop 5% ' +
      '--slo "p99<=50ms" --out serve.yaml',
  ],
};

/**
 * `rtinfer tune`: flags checked and outputs made sure of before a long search, the search (Ctrl-C keeps the best
 * so far), then the serve config, the report, the record and the baseline gate.
 */
export async function tuneCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(TUNE_COMMAND, argv);
  const text = (name: string): string | undefined => stringValue(values, name);
  const variantsText = text('variants');
  checkVariantFlags(values, variantsText !== undefined);
  const kinds = variantsText !== undefined ? parseVariantsOption(variantsText) : undefined;
  const target = text('target');
  if (target !== undefined) return tuneTargetCommand(values, positionals, target, kinds !== undefined, io);
  if (positionals.length === 0)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      `rtinfer tune needs at least one model file (usage: ${TUNE_COMMAND.usage})`,
    );
  const slo = parseSlo(requiredSlo(values));
  const scenario = parseChoice('scenario', text('scenario') ?? 'server', TUNE_SCENARIOS) as TuneScenario;
  const objective = parseChoice('objective', text('objective') ?? 'throughput', OBJECTIVES) as Objective;
  const out = text('out');
  const html = text('html');
  if (out !== undefined && !/\.(ya?ml|json)$/i.test(out))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --out '${out}' (expected a .yaml, .yml or .json file)`);
  // Fail on unwritable outputs before a long run.
  for (const [opt, file] of [
    ['out', out],
    ['html', html],
  ] as const)
    if (file !== undefined) await checkWritable(opt, file);
  const json = values['json'] === true;
  const autoVariants = kinds !== undefined ? autoVariantsFrom(values, kinds, out) : undefined;
  const opened = await openStoreAndGate(values, 'tune');
  const progress = (line: string): void => {
    if (!json) process.stderr.write(line + '\n');
  };
  // Ctrl-C stops the search with the best so far (reported, not verified); exit code 130 as bench.
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  let report;
  try {
    report = await runTune({
      ...tuneOptionsFrom(values, positionals, autoVariants),
      signal: controller.signal,
      slo,
      scenario,
      objective,
      onPhase: (p) => progress(`tune: ${p}`),
      onTrial: (t) => {
        const m = judged(t);
        if (!m) return;
        const latency = Number.isFinite(m.latencyMs) ? m.latencyMs.toFixed(2) : '-';
        const figures =
          m.status === 'ok'
            ? `${m.meetsSlo ? 'meets' : 'misses'}: ${m.throughput} q/s, ${slo.label} ${latency} ms`
            : m.status;
        progress(`  ${t.key} [${t.full ? 'full' : 'quick'}] ${figures}`);
      },
    });
  } catch (error) {
    await opened.store?.close();
    throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  return await tuneOutputs(report, { out, html, json, stdout: io.stdout }, opened, controller.signal, progress);
}

/** A finished search's outputs (the serve config under --out, --html, the report), its record and the gate. */
async function tuneOutputs(
  report: TuneReport,
  o: { out: string | undefined; html: string | undefined; json: boolean; stdout: NodeJS.WritableStream },
  opened: Awaited<ReturnType<typeof openStoreAndGate>>,
  signal: AbortSignal,
  progress: (line: string) => void,
): Promise<number> {
  const { out, html, json, stdout } = o;
  const { settings: storeSettings, store, gate } = opened;
  if (out !== undefined) {
    if (report.chosen && !signal.aborted) {
      await writeOutput('out', out, renderConfigFile(report.chosen.config, out, configHeader(report, report.chosen)));
      progress(`tune: wrote ${out} (rtinfer serve --config ${out})`);
    } else {
      progress(`tune: ${signal.aborted ? 'interrupted' : 'nothing met the SLO'}: ${out} not written`);
    }
  }
  if (html !== undefined) await writeOutput('html', html, renderTuneHtml(report));
  stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : renderTuneText(report) + '\n');
  const judge = reportJudge<TuneReport>(gate, report, compareTunes);
  const recorded = await recordAndGate(store, storeSettings, { kind: 'tune', report }, gate, judge, progress);
  await store?.close();
  if (recorded.verdict) (json ? process.stderr : stdout).write(recorded.verdict.text + '\n');
  // Like a failed check: a tune that finds nothing within the SLO exits 4 (the SLO is not met), with its report.
  return exitCodeOf({
    interrupted: signal.aborted,
    boundFailed: !report.verdict.met,
    regression: recorded.verdict?.regression === true,
  });
}

function requiredSlo(values: ParsedValues): string {
  const sloText = stringValue(values, 'slo');
  if (sloText === undefined)
    throw new RtinferError('RTI_ERR_ARG_MISSING', '--slo is required: expected like "p99<=50ms"');
  return sloText;
}

/** --calibrate, --calibration-method and --variants-dir describe the variants: without --variants, a mistake. */
function checkVariantFlags(values: ParsedValues, withVariants: boolean): void {
  if (withVariants) return;
  const stray =
    listValue(values, 'calibrate').length > 0
      ? 'calibrate'
      : stringValue(values, 'calibration-method') !== undefined
        ? 'calibration-method'
        : stringValue(values, 'variants-dir') !== undefined
          ? 'variants-dir'
          : undefined;
  if (stray !== undefined)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `--${stray} only applies with --variants auto (tune makes the variants from it)`,
    );
}

/** tune --target: the highest rate a served model holds within the SLO (its layout is the server's). */
async function tuneTargetCommand(
  values: ParsedValues,
  positionals: readonly string[],
  target: string,
  withVariants: boolean,
  io: { stdout: NodeJS.WritableStream },
): Promise<number> {
  if (withVariants)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      "--variants cannot be used with --target: a served model's file is the server's",
    );
  if (positionals.length > 0)
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `give either model files or --target, not both ('${positionals[0]}' and ${target})`,
    );
  const sloText = requiredSlo(values);
  const json = values['json'] === true;
  const r = await tuneTarget(parseTargetUrl(target), parseSlo(sloText), shapesFrom(values), (line) => {
    if (!json) process.stderr.write(line + '\n');
  });
  io.stdout.write(json ? JSON.stringify(r.report, null, 2) + '\n' : r.text + '\n');
  return targetExitCode(r);
}

/** The search's options from the flags, less the SLO, scenario, objective and callbacks the command adds. */
function tuneOptionsFrom(
  values: ParsedValues,
  models: string[],
  autoVariants: TuneOptions['autoVariants'],
): Omit<TuneOptions, 'slo' | 'scenario' | 'objective'> {
  const text = (name: string): string | undefined => stringValue(values, name);
  const budget = text('budget');
  const drop = text('max-accuracy-drop');
  const res = text('resolutions');
  const spq = text('samples-per-query');
  const ep = text('ep');
  const images = listValue(values, 'images');
  return {
    models,
    ...(budget !== undefined ? { budgetMs: parseBudgetMs(budget) } : {}),
    ...(drop !== undefined ? { maxAccuracyDrop: parseAccuracyDrop(drop) } : {}),
    ...(text('reference') !== undefined ? { reference: text('reference') as string } : {}),
    ...(images.length ? { images } : {}),
    ...(text('labels') !== undefined ? { labels: text('labels') as string } : {}),
    ...(res !== undefined ? { resolutions: res.trim() === 'auto' ? ('auto' as const) : parseResolutions(res) } : {}),
    shapes: shapesFrom(values),
    ...(ep !== undefined ? { session: { executionProviders: ep.split(',').map((x) => x.trim().toLowerCase()) } } : {}),
    ...(spq !== undefined ? { samplesPerQuery: parseIntOption('samples-per-query', spq, 1, 1024) } : {}),
    oversubscribe: values['oversubscribe'] === true,
    ...(autoVariants ? { autoVariants } : {}),
    ...(typeof values['hint'] === 'string'
      ? { hint: parseChoice('hint', values['hint'], ['latency', 'throughput'] as const) }
      : {}),
  };
}

function autoVariantsFrom(
  values: ParsedValues,
  kinds: AutoVariantKind[],
  out: string | undefined,
): NonNullable<TuneOptions['autoVariants']> {
  const calibrate = listValue(values, 'calibrate');
  const method = stringValue(values, 'calibration-method');
  const variantsDir = stringValue(values, 'variants-dir');
  return {
    kinds,
    ...(calibrate.length > 0 ? { calibrate } : {}),
    ...(method !== undefined
      ? { method: parseChoice('calibration-method', method, CALIBRATION_METHODS) as CalibrationMethod }
      : {}),
    // Kept next to the serve config that points at one of them.
    ...(variantsDir !== undefined
      ? { dir: variantsDir }
      : out !== undefined
        ? { dir: out.replace(/\.(ya?ml|json)$/i, '') + '.variants' }
        : {}),
  };
}

/** The comment lines at the head of the serve config tune writes: when, what was asked, what was chosen. */
function configHeader(report: TuneReport, chosen: NonNullable<TuneReport['chosen']>): string[] {
  const made = report.autoVariants?.made.find((m) => m.status?.chosen);
  return [
    `rtinfer tune ${new Date().toISOString()}: ` +
      `SLO ${report.slo.text}, ${report.scenario}, objective ${report.objective}`,
    `chosen ${chosen.key}`,
    ...(report.autoVariants
      ? [
          `model ${path.resolve(chosen.variant.model)}` +
            (made
              ? ` (the ${made.kind} variant made by --variants auto from ${report.autoVariants.source})`
              : ' (as given)'),
        ]
      : []),
    `verdict: ${report.verdict.met ? 'met' : 'NOT met'}: ${report.verdict.text}`,
  ];
}
