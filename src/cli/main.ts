#!/usr/bin/env node
/**
 * The `rtinfer` command: dispatch to one file per command, and the one place that turns errors
 * into a one-line message and an exit code (2 usage, 1 runtime; the gates' 3, 4, 5 are in exit-codes.ts).
 */
import { isRtinferError, firstLine } from '../errors.js';
import { RTINFER_VERSION } from '../version.js';
import { helpText, type CommandSpec } from './args.js';
import { relaunch, relaunchFlags } from './relaunch.js';

type Handler = (argv: readonly string[], io: { stdout: NodeJS.WritableStream }) => Promise<number>;

interface Command {
  spec: CommandSpec;
  run: Handler;
}

/**
 * Each command's module is loaded when that command runs, not all of them at every start: loading
 * every command took ~0.55 s and left `rtinfer serve` holding the optimizer's, the video pipeline's
 * and the deployer's code (its heap 27 MB after start against 16 MB with serve's alone).
 */
const COMMANDS: ReadonlyArray<{ name: string; load: () => Promise<Command> }> = [
  { name: 'info', load: async () => import('./info.js').then((m) => ({ spec: m.INFO_COMMAND, run: m.infoCommand })) },
  {
    name: 'predict',
    load: async () => import('./predict.js').then((m) => ({ spec: m.PREDICT_COMMAND, run: m.predictCommand })),
  },
  {
    name: 'bench',
    load: async () => import('./bench.js').then((m) => ({ spec: m.BENCH_COMMAND, run: m.benchCommand })),
  },
  {
    name: 'sweep',
    load: async () => import('./sweep.js').then((m) => ({ spec: m.SWEEP_COMMAND, run: m.sweepCommand })),
  },
  { name: 'tune', load: async () => import('./tune.js').then((m) => ({ spec: m.TUNE_COMMAND, run: m.tuneCommand })) },
  {
    name: 'optimize',
    load: async () => import('./optimize.js').then((m) => ({ spec: m.OPTIMIZE_COMMAND, run: m.optimizeCommand })),
  },
  {
    name: 'serve',
    load: async () => import('./serve.js').then((m) => ({ spec: m.SERVE_COMMAND, run: m.serveCommand })),
  },
  { name: 'runs', load: async () => import('./runs.js').then((m) => ({ spec: m.RUNS_COMMAND, run: m.runsCommand })) },
  {
    name: 'compare',
    load: async () => import('./compare.js').then((m) => ({ spec: m.COMPARE_COMMAND, run: m.compareCommand })),
  },
  {
    name: 'deploy',
    load: async () => import('./deploy.js').then((m) => ({ spec: m.DEPLOY_COMMAND, run: m.deployCommand })),
  },
  { name: 'plan', load: async () => import('./plan.js').then((m) => ({ spec: m.PLAN_COMMAND, run: m.planCommand })) },
];

async function usage(): Promise<string> {
  const commands = await Promise.all(COMMANDS.map((c) => c.load()));
  const lines = [
    `rtinfer ${RTINFER_VERSION}: fast, predictable ML inference on Node.js, with the numbers to prove it`,
    '',
    'usage: rtinfer <command> [options]      rtinfer <command> --help',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(9)}${c.spec.summary}`),
    '',
    'With no model, info, bench and serve use the bundled PP-OCRv4 text detector.',
  ];
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write((await usage()) + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(RTINFER_VERSION + '\n');
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    process.stderr.write(`rtinfer: unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})\n`);
    return 2;
  }
  // The server runs in a node with heap flags of its own (relaunch.ts), started before its code loads.
  if (name === 'serve' && !rest.includes('--help') && !rest.includes('-h')) {
    const flags = relaunchFlags(process.execArgv, process.env);
    if (flags.length > 0) return relaunch(flags);
  }
  const command = await entry.load();
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
