/** `rtinfer compare A B`: two stored runs or report files, or --run: two models measured in alternating blocks. */
import { renderCompareText } from '../compare/compare-text.js';
import { compareRuns, differentWork, type CompareReport } from '../compare/compare.js';
import { runInterleaved } from '../compare/interleaved.js';
import { resolveSide } from '../compare/sources.js';
import { RtinferError } from '../errors.js';
import { renderCompareHtml } from '../report/runs-html.js';
import { openRunStore, storePath } from '../store/record.js';
import type { RunStore } from '../store/run-store.js';
import { parseCommand, parseDurationMs, parseIntOption, stringValue, type CommandSpec } from './args.js';
import { EXIT } from './exit-codes.js';
import { writeOutput } from './output.js';
import { RUN_OPTIONS, runSettingsFrom } from './session-flags.js';
import { parseThreshold } from './store-flags.js';

export const COMPARE_COMMAND: CommandSpec = {
  name: 'compare',
  summary:
    'compare two runs (ids, last, label:NAME, report files) or, with --run, ' +
    'two models measured in alternating blocks; exit 5 on a regression',
  usage:
    'rtinfer compare A B [--threshold 5%] [--json] [--html FILE]      ' +
    'rtinfer compare --run A.onnx B.onnx [bench options]',
  maxPositionals: 2,
  options: [
    {
      name: 'threshold',
      type: 'string',
      value: 'PCT',
      description: 'a significant change worse than this is a regression: exit 5 (default 5%)',
    },
    {
      name: 'store',
      type: 'string',
      value: 'PATH',
      description: 'run store to read A and B from (default $RTINFER_STORE or .rtinfer/runs.db)',
    },
    {
      name: 'run',
      type: 'boolean',
      description: 'measure the two model files now, in alternating blocks (single-stream)',
    },
    { name: 'blocks', type: 'string', value: 'N', description: '--run: blocks per model (default 10)' },
    {
      name: 'duration',
      type: 'string',
      value: 'TIME',
      description: '--run: measured time per model, split over its blocks (default 10s)',
    },
    { name: 'warmup', type: 'string', value: 'TIME', description: '--run: warm-up per model (default 1s)' },
    ...RUN_OPTIONS,
    {
      name: 'force',
      type: 'boolean',
      description: 'compare runs of different inputs (another model, other shapes) anyway',
    },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.compare/1 JSON report' },
    {
      name: 'html',
      type: 'string',
      value: 'FILE',
      description: 'write a self-contained HTML page with the comparison',
    },
  ],
  examples: [
    'rtinfer compare 12 last',
    'rtinfer compare label:release-1.2 last --threshold 3%',
    'rtinfer compare before.json after.json --json',
    'rtinfer compare --run model.onnx model-int8.onnx --duration 20s',
  ],
};

export async function compareCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(COMPARE_COMMAND, argv);
  const text = (n: string): string | undefined => stringValue(values, n);
  if (positionals.length !== 2)
    throw new RtinferError(
      'RTI_ERR_ARG_MISSING',
      `rtinfer compare needs two runs or files (usage: ${COMPARE_COMMAND.usage})`,
    );
  const [refA, refB] = positionals as [string, string];
  const threshold = text('threshold') === undefined ? 0.05 : parseThreshold(text('threshold') as string);
  const json = values['json'] === true;
  const html = text('html');
  if (html !== undefined) await writeOutput('html', html, '');
  let report: CompareReport;
  if (values['run'] === true) {
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    try {
      report = await runInterleaved({
        models: [refA, refB],
        ...runSettingsFrom(values),
        threshold,
        ...(text('blocks') !== undefined
          ? { blocks: parseIntOption('blocks', text('blocks') as string, 3, 10_000) }
          : {}),
        ...(text('duration') !== undefined
          ? { durationMs: parseDurationMs('duration', text('duration') as string) }
          : {}),
        ...(text('warmup') !== undefined ? { warmupMs: parseDurationMs('warmup', text('warmup') as string) } : {}),
        onBlock: (side, i, f) => {
          if (!json)
            process.stderr.write(`block ${side}${i + 1}: p50 ${f.p50Ms.toFixed(3)} ms, ${f.qps.toFixed(1)} q/s\n`);
        },
        signal: controller.signal,
      });
    } finally {
      process.removeListener('SIGINT', onSignal);
    }
  } else {
    for (const n of ['blocks', 'duration', 'warmup'])
      if (text(n) !== undefined)
        throw new RtinferError(
          'RTI_ERR_ARG_INVALID',
          `--${n} is for --run (measuring now); A and B are already measured`,
        );
    const needsStore = [refA, refB].some((r) => !/\.json$/i.test(r));
    let store: RunStore | null = null;
    if (needsStore) store = openRunStore(storePath({ store: text('store') }) as string, { create: false });
    try {
      const a = await resolveSide(refA, store);
      const b = await resolveSide(refB, store);
      // Refused by default: a CI gate pointed at the wrong run would otherwise report a "regression".
      const work = differentWork(a, b);
      if (work !== null && values['force'] !== true)
        throw new RtinferError(
          'RTI_ERR_ARG_INVALID',
          `${work}: not a regression of one model (--force compares them anyway)`,
        );
      report = compareRuns(a, b, { threshold });
    } finally {
      await store?.close();
    }
  }
  if (html !== undefined) await writeOutput('html', html, renderCompareHtml(report));
  io.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : renderCompareText(report) + '\n');
  return report.regression ? EXIT.regression : EXIT.ok;
}
