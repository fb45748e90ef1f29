/** `rtinfer bench`: thin over runBench. */
import { PERFORMANCE_HINTS } from '../engine/engine.js';
import { RtinferError } from '../errors.js';
import {
  DEFAULT_MAX_WINDOWS,
  runBench,
  SCENARIOS,
  type BenchOptions,
  type BenchOutcome,
  type EngineSettings,
} from '../loadgen/bench.js';
import { parseTargetUrl } from '../loadgen/remote-target.js';
import { joinTargets, TARGET_BALANCERS } from '../loadgen/multi-target.js';
import { renderBenchText } from '../report/bench-text.js';
import { renderBenchHtml } from '../report/html-report.js';
import { perQueryCsv } from '../report/csv.js';
import {
  parseChoice,
  parseCommand,
  parseDurationMs,
  parseIntOption,
  parsePercentile,
  parseWarmup,
  listValue,
  stringValue,
  type CommandSpec,
  type ParsedValues,
} from './args.js';
import { inputFromReport } from '../compare/sources.js';
import { sortSamples } from '../stats/sorted.js';
import { exitCodeOf } from './exit-codes.js';
import { writeOutput } from './output.js';
import { benchJudge, GATE_OPTIONS, openStoreAndGate, recordAndGate, STORE_OPTIONS } from './store-flags.js';
import { createProgressBar } from './progress.js';
import { renderVideoBench } from '../video/video-bench.js';
import { videoOptionsFrom } from './predict-video.js';
import { RUN_OPTIONS, runSettingsFrom } from './session-flags.js';

export const BENCH_COMMAND: CommandSpec = {
  name: 'bench',
  summary: 'latency benchmark: single-stream, multi-stream, server (Poisson), offline, concurrency',
  usage: 'rtinfer bench [model.onnx] [--scenario NAME] [options]',
  maxPositionals: 1,
  options: [
    ...RUN_OPTIONS,
    {
      name: 'scenario',
      type: 'string',
      value: 'NAME',
      description: `${SCENARIOS.join(' | ')} (default single-stream)`,
    },
    {
      name: 'images',
      type: 'string',
      value: 'DIR',
      description: 'run the whole vision pipeline (decode → postprocess) over the images in DIR, per-stage times',
    },
    { name: 'task', type: 'string', value: 'T', description: 'with --images: the vision head (default: detected)' },
    {
      name: 'video',
      type: 'string',
      value: 'FILE',
      description:
        "camera-rate scenario: single-stream over the clip's first frames, " +
        'then the clip replayed at --fps (latest frame wins): dropped and late frames, ' +
        'capture-to-result, a verdict, and the largest fps with no drop (a search of short paced runs)',
    },
    {
      name: 'fps',
      type: 'string',
      value: 'F',
      description: "with --video: the rate frames arrive at (default: the clip's)",
    },
    {
      name: 'deadline',
      type: 'string',
      value: 'MS',
      description: "with --video: a frame is late after this (default: the next frame's arrival, 1000/fps)",
    },
    {
      name: 'target',
      type: 'string',
      multiple: true,
      value: 'URL',
      description:
        'benchmark a served model instead: http://HOST:PORT/v2/models/NAME (KServe v2 REST) ' +
        'or grpc://HOST:PORT/NAME (its gRPC); repeat it for replicas of one model behind the load ' +
        "generator's balancer",
    },
    {
      name: 'balance',
      type: 'string',
      value: 'NAME',
      description:
        `with several --target: ${TARGET_BALANCERS.join(' | ')} (default ` +
        `least-outstanding: the replica with the fewest requests in flight from this client)`,
    },
    {
      name: 'target-json',
      type: 'boolean',
      description: 'with --target: JSON tensors instead of the binary extension',
    },
    { name: 'qps', type: 'string', value: 'N', description: 'server: Poisson arrival rate, queries per second' },
    {
      name: 'latency-bound',
      type: 'string',
      value: 'MS',
      description: 'server: pass/fail bound for p99 (early stopping at 99% confidence)',
    },
    {
      name: 'find-peak',
      type: 'boolean',
      description: 'server: search the highest rate whose p99 stays within --p99, then confirm it',
    },
    { name: 'p99', type: 'string', value: 'MS', description: 'server --find-peak: the p99 bound' },
    {
      name: 'probe-duration',
      type: 'string',
      value: 'TIME',
      description: 'server --find-peak: length of each probe (default 3s)',
    },
    {
      name: 'samples-per-query',
      type: 'string',
      value: 'N',
      description: 'multi-stream: samples issued together per query (default 8)',
    },
    {
      name: 'concurrency',
      type: 'string',
      value: 'N',
      description: 'concurrency: queries kept outstanding (default 4)',
    },
    {
      name: 'instances',
      type: 'string',
      value: 'N',
      description: 'engine instances (worker threads, one session each; default: the --hint layout)',
    },
    {
      name: 'hint',
      type: 'string',
      value: 'HINT',
      description:
        'engine layout when --instances/--threads are not given: latency, throughput or auto (default auto, measured at start, as rtinfer serve)',
    },
    {
      name: 'batch',
      type: 'string',
      value: 'N',
      description: 'engine: max batch size for dynamic batching (default 8; 1 = off)',
    },
    {
      name: 'batch-delay',
      type: 'string',
      value: 'TIME',
      description: 'engine: how long a batch may wait to fill, e.g. 2ms (default 0, adaptive)',
    },
    {
      name: 'batching',
      type: 'string',
      value: 'MODE',
      description: 'engine: adaptive | static | off (default adaptive)',
    },
    {
      name: 'stability-percentage',
      type: 'string',
      value: 'PCT',
      description:
        'max spread of throughput and mean latency over 3 windows (default 10); with --until-stable, ' +
        'the bound its windows must agree within',
    },
    {
      name: 'percentile',
      type: 'string',
      value: 'P',
      description:
        "the headline latency percentile, e.g. 95, 99 or 99.9 (default: the scenario's, " +
        'p90 single-stream, p99 others); the run is INVALID when too short to claim it at 99% confidence',
    },
    {
      name: 'until-stable',
      type: 'boolean',
      description:
        `repeat measurement windows (each one --duration and --min-queries) ` +
        `until the last three agree within --stability-percentage in throughput and headline latency; ` +
        `the report is those three. Worst case: --max-windows windows after the warm-up ` +
        `(${DEFAULT_MAX_WINDOWS} × 10 s by default), longer only where --min-queries outlasts --duration`,
    },
    {
      name: 'max-windows',
      type: 'string',
      value: 'N',
      description:
        `with --until-stable: at most N windows (default ${DEFAULT_MAX_WINDOWS}, ` +
        `at least 3); reaching it without agreement makes the run NOT STABLE (INVALID)`,
    },
    {
      name: 'warmup',
      type: 'string',
      value: 'N|TIME',
      description: 'warm-up: a query count (20) or a time (2s); default 1s',
    },
    { name: 'duration', type: 'string', value: 'TIME', description: 'measure at least this long (default 10s)' },
    {
      name: 'min-queries',
      type: 'string',
      value: 'N',
      description: 'measure at least this many queries (default 100; 500 for the p99 scenarios)',
    },
    {
      name: 'max-queries',
      type: 'string',
      value: 'N',
      description: 'stop after this many queries even if --duration is not reached',
    },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.bench/1 JSON report instead of the table' },
    {
      name: 'csv',
      type: 'string',
      value: 'FILE',
      description: 'write one row per measured query (query, start_ms, latency_us)',
    },
    {
      name: 'html',
      type: 'string',
      value: 'FILE',
      description: 'write a self-contained HTML report: histogram, CDF, per-stage split, verdict, settings',
    },
    ...STORE_OPTIONS,
    ...GATE_OPTIONS,
  ],
  examples: [
    'rtinfer bench                                    # the bundled PP-OCRv4 detector at 1x3x640x640',
    'rtinfer bench yolox_nano.onnx --threads 2 --duration 20s',
    'rtinfer bench model.onnx --shape images=1x3x640x640 --warmup 50 --json > result.json',
    'rtinfer bench yolox_nano.onnx --scenario server --qps 50 --latency-bound 100',
    'rtinfer bench yolox_nano.onnx --scenario server --find-peak --p99 50',
    'rtinfer bench yolox_nano.onnx --scenario concurrency --percentile 99.9 --until-stable ' +
      '--duration 5s   # p99.9 headline, windows until stable',
    'rtinfer bench yolox_nano.onnx --video clip.mp4 --fps 30   # does it keep up with a 30 fps camera?',
    'rtinfer bench --target http://127.0.0.1:8000/v2/models/yolox_nano --scenario concurrency --concurrency 8',
    'rtinfer bench model.onnx --label release-1.2 --tag branch=main --baseline last ' +
      '--threshold 5%   # exit 5 on a regression',
  ],
};

/** The scenario, inputs, video and target flags of `rtinfer bench`, checked in order. */
function benchScenarioFrom(values: ParsedValues, model: string | undefined): Partial<BenchOptions> {
  const text = (name: string): string | undefined => stringValue(values, name);
  const scenarioOptions = scenarioOptionsFrom(text, values['find-peak'] === true);
  const percentile = text('percentile');
  if (percentile !== undefined) scenarioOptions.percentile = parsePercentile('percentile', percentile);
  const maxWindows = text('max-windows');
  if (values['until-stable'] === true)
    scenarioOptions.untilStable =
      maxWindows === undefined ? {} : { maxWindows: parseIntOption('max-windows', maxWindows, 3, 1000) };
  else if (maxWindows !== undefined)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--max-windows goes with --until-stable');
  const images = text('images');
  if (images !== undefined) scenarioOptions.images = images;
  const task = text('task');
  if (task !== undefined) scenarioOptions.task = task;
  const video = text('video');
  if (video !== undefined) scenarioOptions.video = videoOptionsFrom(video, text('fps'), text('deadline'));
  else if (text('fps') !== undefined || text('deadline') !== undefined)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--fps and --deadline go with --video');
  const targets = listValue(values, 'target');
  const target = targets.join(' ');
  if (targets.length > 0) {
    if (model !== undefined)
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `give either a model file or --target, not both ('${model}' and ${target})`,
      );
    const balance =
      text('balance') === undefined ? undefined : parseChoice('balance', text('balance') ?? '', TARGET_BALANCERS);
    scenarioOptions.target = joinTargets(targets.map(parseTargetUrl), balance);
    if (values['target-json'] === true) scenarioOptions.targetJson = true;
  } else if (text('balance') !== undefined)
    throw new RtinferError('RTI_ERR_ARG_INVALID', '--balance needs --target (twice or more)');
  return scenarioOptions;
}

/** --warmup, --duration, --min-queries and --max-queries, parsed when the run starts. */
function runLengthFrom(values: ParsedValues): Partial<BenchOptions> {
  const text = (name: string): string | undefined => stringValue(values, name);
  const warmupText = text('warmup');
  const durationText = text('duration');
  const minText = text('min-queries');
  const maxText = text('max-queries');
  return {
    ...(warmupText !== undefined ? { warmup: parseWarmup(warmupText) } : {}),
    ...(durationText !== undefined ? { durationMs: parseDurationMs('duration', durationText) } : {}),
    ...(minText !== undefined ? { minQueries: parseIntOption('min-queries', minText, 1) } : {}),
    ...(maxText !== undefined ? { maxQueries: parseIntOption('max-queries', maxText, 1) } : {}),
  };
}

/** A finished run's outputs (--csv, --html, the text or JSON report), its record and the baseline gate. */
async function benchOutputs(
  outcome: BenchOutcome,
  o: { json: boolean; csv: string | undefined; html: string | undefined; stdout: NodeJS.WritableStream },
  opened: Awaited<ReturnType<typeof openStoreAndGate>>,
  signal: AbortSignal,
): Promise<number> {
  const { json, csv, html, stdout } = o;
  const { settings: storeSettings, store, gate } = opened;
  if (csv !== undefined) await writeOutput('csv', csv, perQueryCsv(outcome.latenciesUs, outcome.startsMs));
  if (html !== undefined) await writeOutput('html', html, renderBenchHtml(outcome.report));
  stdout.write(
    json
      ? JSON.stringify(outcome.report, null, 2) + '\n'
      : renderBenchText(outcome.report) + (outcome.report.video ? renderVideoBench(outcome.report.video) : '') + '\n',
  );
  const current = inputFromReport(outcome.report, 'this run');
  current.latenciesUs = sortSamples(outcome.latenciesUs);
  const judge = gate ? benchJudge(current, gate.threshold, gate.ref) : null;
  const recorded = await recordAndGate(
    store,
    storeSettings,
    { kind: 'bench', report: outcome.report },
    gate,
    judge,
    (line) => {
      // Problems go to stderr; where the run went is part of the text report (--json prints the report alone).
      if (line.startsWith('warning')) process.stderr.write(`rtinfer bench: ${line}\n`);
      else if (!json) stdout.write(`${line}\n`);
    },
  );
  if (recorded.verdict) (json ? process.stderr : stdout).write(recorded.verdict.text + '\n');
  // The partial report is printed; the exit code still says the run was interrupted (128 + SIGINT).
  return exitCodeOf({
    interrupted: signal.aborted,
    invalid: !outcome.report.validity.valid,
    boundFailed: outcome.report.server?.pass === false,
    regression: recorded.verdict?.regression === true,
  });
}

/**
 * `rtinfer bench`: flags to scenario options, outputs and the store checked before the run, the run, then its
 * outputs, record and baseline gate.
 */
export async function benchCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(BENCH_COMMAND, argv);
  const { session, shapes, input } = runSettingsFrom(values);
  const json = values['json'] === true;
  const csv = stringValue(values, 'csv');
  const html = stringValue(values, 'html');
  const scenarioOptions = benchScenarioFrom(values, positionals[0]);

  // Fail on an unwritable --csv or --html path now, not after a long run.
  if (csv !== undefined) await writeOutput('csv', csv, '');
  if (html !== undefined) await writeOutput('html', html, '');
  // The store and the baseline are checked before the run too: a store that cannot be used fails now.
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  let opened;
  try {
    opened = await openStoreAndGate(values, 'bench');
  } catch (error) {
    process.removeListener('SIGINT', onSignal);
    throw error;
  }
  const bar = createProgressBar('measuring', !json && process.stdout.isTTY === true);
  try {
    const outcome = await runBench({
      ...(positionals[0] !== undefined ? { model: positionals[0] } : {}),
      session,
      ...(shapes.length > 0 ? { shapes } : {}),
      input,
      ...runLengthFrom(values),
      ...scenarioOptions,
      onPhase: (phase, detail) => {
        if (!json && phase === 'load' && detail !== undefined)
          process.stderr.write(`no model given: using the bundled ${detail}\n`);
      },
      onProgress: (p) => bar.update(p),
      signal: controller.signal,
    });
    bar.done();
    return await benchOutputs(outcome, { json, csv, html, stdout: io.stdout }, opened, controller.signal);
  } finally {
    bar.done();
    process.removeListener('SIGINT', onSignal);
    await opened.store?.close();
  }
}

function scenarioOptionsFrom(text: (name: string) => string | undefined, findPeak: boolean): Partial<BenchOptions> {
  const o: Partial<BenchOptions> = {};
  const p99 = text('p99');
  if (findPeak) {
    if (p99 === undefined)
      throw new RtinferError('RTI_ERR_ARG_MISSING', '--find-peak needs --p99 MS, the bound to search under');
    const probe = text('probe-duration');
    o.findPeak = {
      p99Ms: parseDurationMs('p99', /\d$/.test(p99) ? `${p99}ms` : p99),
      ...(probe !== undefined ? { probeDurationMs: parseDurationMs('probe-duration', probe) } : {}),
    };
  } else if (p99 !== undefined) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      '--p99 is the bound of --find-peak; for a fixed rate use --latency-bound',
    );
  }
  const scenario = text('scenario');
  if (scenario !== undefined) o.scenario = parseChoice('scenario', scenario, SCENARIOS);
  const qps = text('qps');
  if (qps !== undefined) o.qps = parsePositive('qps', qps);
  const bound = text('latency-bound');
  if (bound !== undefined)
    o.latencyBoundMs = parseDurationMs('latency-bound', /\d$/.test(bound) ? `${bound}ms` : bound);
  const spq = text('samples-per-query');
  if (spq !== undefined) o.samplesPerQuery = parseIntOption('samples-per-query', spq, 1, 4096);
  const conc = text('concurrency');
  if (conc !== undefined) o.concurrency = parseIntOption('concurrency', conc, 1, 4096);
  const stab = text('stability-percentage');
  if (stab !== undefined) o.stabilityPct = parsePositive('stability-percentage', stab);
  const engine: EngineSettings = {};
  const instances = text('instances');
  if (instances !== undefined) engine.instances = parseIntOption('instances', instances, 1, 256);
  const hint = text('hint');
  if (hint !== undefined) engine.hint = parseChoice('hint', hint, PERFORMANCE_HINTS);
  const mode = text('batching');
  const batch = text('batch');
  const delay = text('batch-delay');
  const maxBatch = batch === undefined ? undefined : parseIntOption('batch', batch, 1, 4096);
  if (
    (mode !== undefined && parseChoice('batching', mode, ['adaptive', 'static', 'off'] as const) === 'off') ||
    maxBatch === 1
  ) {
    engine.batching = false;
  } else if (mode !== undefined || maxBatch !== undefined || delay !== undefined) {
    engine.batching = {
      ...(mode !== undefined ? { mode: mode as 'adaptive' | 'static' } : {}),
      ...(maxBatch !== undefined ? { maxBatchSize: maxBatch } : {}),
      ...(delay !== undefined ? { maxQueueDelayUs: parseDurationMs('batch-delay', delay) * 1000 } : {}),
    };
  }
  if (Object.keys(engine).length > 0) o.engine = engine;
  return o;
}

function parsePositive(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || !(n > 0))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --${option} '${text}' (expected a positive number)`);
  return n;
}
