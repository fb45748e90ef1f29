/** `rtinfer bench`: thin over runBench. */
import { writeFile } from 'node:fs/promises';
import { RtinferError } from '../errors.js';
import { runBench } from '../loadgen/bench.js';
import { renderBenchText } from '../report/bench-text.js';
import { perQueryCsv } from '../report/csv.js';
import { parseCommand, parseDurationMs, parseIntOption, parseWarmup, stringValue, type CommandSpec } from './args.js';
import { createProgressBar } from './progress.js';
import { INPUT_OPTIONS, inputPlanFrom, SESSION_OPTIONS, sessionSettingsFrom, SHAPE_OPTION, shapesFrom } from './session-flags.js';

export const BENCH_COMMAND: CommandSpec = {
  name: 'bench',
  summary: 'single-stream latency benchmark (one query at a time, as MLPerf SingleStream)',
  usage: 'rtinfer bench [model.onnx] [options]',
  maxPositionals: 1,
  options: [
    SHAPE_OPTION,
    ...SESSION_OPTIONS,
    ...INPUT_OPTIONS,
    { name: 'warmup', type: 'string', value: 'N|TIME', description: 'warm-up: a query count (20) or a time (2s); default 1s' },
    { name: 'duration', type: 'string', value: 'TIME', description: 'measure at least this long (default 10s)' },
    { name: 'min-queries', type: 'string', value: 'N', description: 'measure at least this many queries (default 100)' },
    { name: 'max-queries', type: 'string', value: 'N', description: 'stop after this many queries even if --duration is not reached' },
    { name: 'json', type: 'boolean', description: 'print the rtinfer.bench/1 JSON report instead of the table' },
    { name: 'csv', type: 'string', value: 'FILE', description: 'write one row per measured query (query, start_ms, latency_us)' },
  ],
  examples: [
    'rtinfer bench                                    # the bundled PP-OCRv4 detector at 1x3x640x640',
    'rtinfer bench yolox_nano.onnx --threads 2 --duration 20s',
    'rtinfer bench model.onnx --shape images=1x3x640x640 --warmup 50 --json > result.json',
  ],
};

export async function benchCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(BENCH_COMMAND, argv);
  const session = sessionSettingsFrom(values);
  const shapes = shapesFrom(values);
  const input = inputPlanFrom(values);
  const text = (name: string): string | undefined => stringValue(values, name);
  const warmupText = text('warmup');
  const durationText = text('duration');
  const minText = text('min-queries');
  const maxText = text('max-queries');
  const json = values['json'] === true;
  const csv = text('csv');

  // Fail on an unwritable --csv path now, not after a long run.
  if (csv !== undefined) await writeCsv(csv, '');

  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  const bar = createProgressBar('measuring', !json && process.stdout.isTTY === true);
  try {
    const outcome = await runBench({
      ...(positionals[0] !== undefined ? { model: positionals[0] } : {}),
      session,
      ...(shapes.length > 0 ? { shapes } : {}),
      input,
      ...(warmupText !== undefined ? { warmup: parseWarmup(warmupText) } : {}),
      ...(durationText !== undefined ? { durationMs: parseDurationMs('duration', durationText) } : {}),
      ...(minText !== undefined ? { minQueries: parseIntOption('min-queries', minText, 1) } : {}),
      ...(maxText !== undefined ? { maxQueries: parseIntOption('max-queries', maxText, 1) } : {}),
      onPhase: (phase, detail) => {
        if (!json && phase === 'load' && detail !== undefined) process.stderr.write(`no model given: using the bundled ${detail}\n`);
      },
      onProgress: (p) => bar.update(p),
      signal: controller.signal,
    });
    bar.done();
    if (csv !== undefined) await writeCsv(csv, perQueryCsv(outcome.latenciesUs, outcome.startsMs));
    io.stdout.write(json ? JSON.stringify(outcome.report, null, 2) + '\n' : renderBenchText(outcome.report) + '\n');
    // The partial report is printed; the exit code still says the run was interrupted (128 + SIGINT).
    return controller.signal.aborted ? 130 : 0;
  } finally {
    bar.done();
    process.removeListener('SIGINT', onSignal);
  }
}

async function writeCsv(file: string, content: string): Promise<void> {
  try {
    await writeFile(file, content);
  } catch (error) {
    throw new RtinferError('RTI_ERR_IO_WRITE', `cannot write --csv ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
