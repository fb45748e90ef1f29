#!/usr/bin/env node
/**
 * The `rtinfer` command: dispatch to one file per command, and the one place that turns errors
 * into a one-line message and an exit code (2 usage, 1 runtime; the gates' 3, 4, 5 are in exit-codes.ts).
 */
import { isRtinferError, firstLine } from '../errors.js';
import { RTINFER_VERSION } from '../version.js';
import { helpText, type CommandSpec } from './args.js';
import { BENCH_COMMAND, benchCommand } from './bench.js';
import { COMPARE_COMMAND, compareCommand } from './compare.js';
import { DEPLOY_COMMAND, deployCommand } from './deploy.js';
import { INFO_COMMAND, infoCommand } from './info.js';
import { OPTIMIZE_COMMAND, optimizeCommand } from './optimize.js';
import { PLAN_COMMAND, planCommand } from './plan.js';
import { PREDICT_COMMAND, predictCommand } from './predict.js';
import { RUNS_COMMAND, runsCommand } from './runs.js';
import { SERVE_COMMAND, serveCommand } from './serve.js';
import { SWEEP_COMMAND, sweepCommand } from './sweep.js';
import { TUNE_COMMAND, tuneCommand } from './tune.js';

type Handler = (argv: readonly string[], io: { stdout: NodeJS.WritableStream }) => Promise<number>;

const COMMANDS: ReadonlyArray<{ spec: CommandSpec; run: Handler }> = [
  { spec: INFO_COMMAND, run: infoCommand },
  { spec: PREDICT_COMMAND, run: predictCommand },
  { spec: BENCH_COMMAND, run: benchCommand },
  { spec: SWEEP_COMMAND, run: sweepCommand },
  { spec: TUNE_COMMAND, run: tuneCommand },
  { spec: OPTIMIZE_COMMAND, run: optimizeCommand },
  { spec: SERVE_COMMAND, run: serveCommand },
  { spec: RUNS_COMMAND, run: runsCommand },
  { spec: COMPARE_COMMAND, run: compareCommand },
  { spec: DEPLOY_COMMAND, run: deployCommand },
  { spec: PLAN_COMMAND, run: planCommand },
];

function usage(): string {
  const lines = [
    `rtinfer ${RTINFER_VERSION}: fast, predictable ML inference on Node.js, with the numbers to prove it`,
    '',
    'usage: rtinfer <command> [options]      rtinfer <command> --help',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(9)}${c.spec.summary}`),
    '',
    'With no model, info, bench and serve use the bundled PP-OCRv4 text detector.',
  ];
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(RTINFER_VERSION + '\n');
    return 0;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (command === undefined) {
    process.stderr.write(
      `rtinfer: unknown command '${name}' (commands: ${COMMANDS.map((c) => c.spec.name).join(', ')})\n`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(helpText(command.spec) + '\n');
    return 0;
  }
  const verbose = rest.includes('--verbose');
  try {
    return await command.run(rest, { stdout: process.stdout });
  } catch (error) {
    if (isRtinferError(error)) {
      process.stderr.write(`rtinfer ${name}: ${error.message}\n`);
      if (verbose) process.stderr.write(`${error.code}\n${error.stack ?? ''}\n`);
      return error.kind === 'usage' ? 2 : 1;
    }
    process.stderr.write(`rtinfer ${name}: ${firstLine(error)}\n`);
    if (verbose && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rtinfer: ${firstLine(error)}\n`);
    process.exitCode = 1;
  },
);
