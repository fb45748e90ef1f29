/** `rtinfer sweep`: thin over runSweep. */
import { runSweep } from '../loadgen/sweep.js';
import { renderSweepHtml } from '../report/html-report.js';
import { renderSweepCsv, renderSweepText } from '../report/sweep-report.js';
import { parseTargetUrl } from '../loadgen/remote-target.js';
import {
  parseCommand,
  parseDurationMs,
  parseIntOption,
  parseNumberOption,
  parsePercentile,
  stringValue,
  type CommandSpec,
} from './args.js';
import { writeOutput } from './output.js';
import { compareSweeps } from '../compare/report-gates.js';
import type { SweepReport } from '../loadgen/sweep.js';
import { exitCodeOf } from './exit-codes.js';
import { GATE_OPTIONS, openStoreAndGate, recordAndGate, reportJudge, STORE_OPTIONS, type Gate } from './store-flags.js';
import { RUN_OPTIONS, runSettingsFrom } from './session-flags.js';

export const SWEEP_COMMAND: CommandSpec = {
  name: 'sweep',
  summary: 'latency–throughput grid: batch × concurrency (or rate) × instances × threads, Pareto frontier',
  usage:
    'rtinfer sweep [model.onnx] [--batch 1,4,8] [--concurrency 1,2,4 | --qps 10,50] ' +
    '[--instances 1,2] [--threads 1,2] [options]',
  maxPositionals: 1,
  options: [
    // --threads is a grid axis here (below), not one session setting.
    ...RUN_OPTIONS.filter((o) => o.name !== 'threads'),
    {
      name: 'batch',
      type: 'string',
      value: 'LIST',
      description: 'engine max batch sizes, e.g. 1,4,8 (1 = no batching; default 1)',
    },
    { name: 'concurrency', type: 'string', value: 'LIST', description: 'closed-loop load points (default 1,2,4)' },
    { name: 'qps', type: 'string', value: 'LIST', description: 'open-loop Poisson rates instead of concurrency' },
    {
      name: 'target',
      type: 'string',
      value: 'URL',
      description:
        'sweep a served model instead (load axis only): http://HOST:PORT/v2/models/NAME or grpc://HOST:PORT/NAME',
    },
    {
      name: 'target-json',
      type: 'boolean',
      description: 'with an http --target: JSON tensors instead of the binary extension',
    },
    { name: 'instances', type: 'string', value: 'LIST', description: 'engine instances (default 1)' },
    { name: 'threads', type: 'string', value: 'LIST', description: 'intra-op threads per instance (default 1)' },
    { name: 'duration', type: 'string', value: 'TIME', description: 'per point (default 3s)' },
    { name: 'min-queries', type: 'string', value: 'N', description: 'per point (default 50)' },
    {
      name: 'percentile',
      type: 'string',
      value: 'P',
      description:
        'the latency percentile of the headline column, the Pareto frontier and the HTML curve, ' +
        'e.g. 95 or 99.9 (default 99)',
    },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.sweep/1 JSON report' },
    { name: 'csv', type: 'string', value: 'FILE', description: 'write one row per point' },
    {
      name: 'html',
      type: 'string',
      value: 'FILE',
      description:
        'write a self-contained HTML report: latency–throughput curve with the Pareto frontier, ' +
        'percentiles, queue/inference split, settings',
    },
    ...STORE_OPTIONS,
    ...GATE_OPTIONS,
  ],
  examples: ['rtinfer sweep cls.onnx --shape x=1x3x48x192 --batch 1,8 --concurrency 1,4,16 --html sweep.html'],
};

function numbers(option: string, text: string | undefined, integer = true): number[] | undefined {
  if (text === undefined) return undefined;
  return text.split(',').map((t) => (integer ? parseIntOption(option, t.trim(), 1) : positive(option, t.trim())));
}

function positive(option: string, text: string): number {
  return parseNumberOption(option, text, 'positive numbers', (n) => n > 0);
}

export async function sweepCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(SWEEP_COMMAND, argv);
  const text = (name: string): string | undefined => stringValue(values, name);
  const {
    session: { intraOpThreads: _ignored, ...session },
    shapes,
    input,
  } = runSettingsFrom(values);
  const csv = text('csv');
  const html = text('html');
  // Fail on unwritable outputs before a long run.
  for (const [opt, file] of [
    ['csv', csv],
    ['html', html],
  ] as const)
    if (file !== undefined) await writeOutput(opt, file, '');
  const json = values['json'] === true;
  const { settings: storeSettings, store, gate } = await openStoreAndGate(values, 'sweep');
  try {
    return await measureAndReport(gate);
  } finally {
    await store?.close();
  }

  async function measureAndReport(gate: Gate | null): Promise<number> {
    const duration = text('duration');
    const minQ = text('min-queries');
    const percentile = text('percentile');
    const report = await runSweep({
      ...(positionals[0] !== undefined ? { model: positionals[0] } : {}),
      ...(text('target') !== undefined ? { target: parseTargetUrl(text('target') ?? '') } : {}),
      ...(values['target-json'] === true ? { targetJson: true } : {}),
      shapes,
      input,
      session,
      ...(text('batch') !== undefined ? { batch: numbers('batch', text('batch')) as number[] } : {}),
      ...(text('concurrency') !== undefined
        ? { concurrency: numbers('concurrency', text('concurrency')) as number[] }
        : {}),
      ...(text('qps') !== undefined ? { qps: numbers('qps', text('qps'), false) as number[] } : {}),
      ...(text('instances') !== undefined ? { instances: numbers('instances', text('instances')) as number[] } : {}),
      ...(text('threads') !== undefined ? { threads: numbers('threads', text('threads')) as number[] } : {}),
      ...(duration !== undefined ? { durationMs: parseDurationMs('duration', duration) } : {}),
      ...(minQ !== undefined ? { minQueries: parseIntOption('min-queries', minQ, 1) } : {}),
      ...(percentile !== undefined ? { percentile: parsePercentile('percentile', percentile) } : {}),
      onPoint: (p, i, total) => {
        if (json) return;
        const layout = p.instances ? `${p.instances}×${p.threads} batch ${p.batch} ` : '';
        const pctl = percentile === undefined ? 99 : Number(percentile);
        process.stderr.write(
          `point ${i}/${total}: ${layout}${p.load.kind} ${p.load.value} → ${p.throughput} q/s, ` +
            `p${pctl} ${p.headlineMs} ms\n`,
        );
      },
    });
    if (csv !== undefined) await writeOutput('csv', csv, renderSweepCsv(report));
    if (html !== undefined) await writeOutput('html', html, renderSweepHtml(report));
    io.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : renderSweepText(report) + '\n');
    const judge = reportJudge<SweepReport>(gate, report, compareSweeps);
    const recorded = await recordAndGate(store, storeSettings, { kind: 'sweep', report }, gate, judge, (line) => {
      if (!json || line.startsWith('warning')) process.stderr.write(`rtinfer sweep: ${line}\n`);
    });
    if (recorded.verdict) (json ? process.stderr : io.stdout).write(recorded.verdict.text + '\n');
    return exitCodeOf({ regression: recorded.verdict?.regression === true });
  }
}
