/** `rtinfer plan`: thin over replicaFrom (measure or read one replica) and runPlan (simulate N replicas). */
import { RtinferError } from '../errors.js';
import { runPlan } from '../plan/plan.js';
import { renderPlanHtml, renderPlanText } from '../plan/plan-text.js';
import { BALANCERS } from '../plan/simulate.js';
import { parseSlo } from '../tune/slo.js';
import { parseChoice, parseCommand, parseDurationMs, parseIntOption, stringValue, type CommandSpec } from './args.js';
import { checkWritable, writeOutput } from './output.js';
import { SHAPE_OPTION, shapesFrom } from './session-flags.js';

export const PLAN_COMMAND: CommandSpec = {
  name: 'plan',
  summary:
    'how many replicas for this rate at this latency SLO: ' +
    "a simulation of N replicas from one replica's measured service time",
  usage:
    'rtinfer plan [model.onnx | --config FILE | --from-run ID|report.json] --rate R --slo "p99<=X" ' +
    '[--headroom 20%] [--json] [--html FILE]',
  maxPositionals: 1,
  options: [
    { name: 'rate', type: 'string', value: 'QPS', description: 'expected arrival rate, queries per second (required)' },
    {
      name: 'slo',
      type: 'string',
      value: 'SLO',
      description: 'latency objective, e.g. "p99<=50ms" (required); refused requests count as late',
    },
    {
      name: 'headroom',
      type: 'string',
      value: 'PCT',
      description: 'extra load the answer must absorb (default 20%: checked at 1.2 x rate)',
    },
    {
      name: 'config',
      type: 'string',
      value: 'FILE',
      description: "a serve config: its first model's layout, queue limit and deadline (measured briefly)",
    },
    {
      name: 'from-run',
      type: 'string',
      value: 'ID|FILE',
      description:
        'a bench (single-stream: its histogram), sweep or tune result: ' +
        'a stored run (id, last, label:NAME) or a saved --json report',
    },
    {
      name: 'store',
      type: 'string',
      value: 'PATH',
      description: 'run store for --from-run (default $RTINFER_STORE or .rtinfer/runs.db)',
    },
    {
      name: 'instances',
      type: 'string',
      value: 'N',
      description: "engine instances per replica (default: the source's, else 1)",
    },
    {
      name: 'threads',
      type: 'string',
      value: 'N',
      description: "intra-op threads per instance (default: the source's, else 1)",
    },
    {
      name: 'max-queue',
      type: 'string',
      value: 'N',
      description: "the engine's queue limit per replica (default 256)",
    },
    { name: 'deadline', type: 'string', value: 'MS', description: "the engine's default deadline (default none)" },
    {
      name: 'balancer',
      type: 'string',
      value: 'NAME',
      description: `${BALANCERS.join(' | ')} (default least-outstanding)`,
    },
    {
      name: 'measure',
      type: 'string',
      value: 'TIME',
      description: 'how long to measure one replica when given a model or config (default 3s)',
    },
    { name: 'requests', type: 'string', value: 'N', description: 'simulated requests per point (default 200000)' },
    {
      name: 'seed',
      type: 'string',
      value: 'N',
      description: "the simulation's seed (default 1): same seed, same answer",
    },
    SHAPE_OPTION,
    { name: 'json', type: 'boolean', description: 'print the rtinfer.plan/1 JSON report' },
    { name: 'html', type: 'string', value: 'FILE', description: 'write a self-contained HTML page with the curve' },
  ],
  examples: [
    'rtinfer plan yolox_nano.onnx --rate 40 --slo "p99<=100ms"',
    'rtinfer bench cls.onnx --json > cls.json && ' +
      'rtinfer plan --from-run cls.json --rate 500 --slo "p99<=20ms" --html plan.html',
    'rtinfer plan --from-run last --rate 200 --slo "p95<=30ms" --headroom 50% --json',
  ],
};

function parseFraction(option: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const v = m ? Number(m[1]) / 100 : NaN;
  if (!(v >= 0 && v <= 10))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --${option} '${text}' (expected a percentage such as 20%)`);
  return v;
}

export async function planCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(PLAN_COMMAND, argv);
  const text = (name: string): string | undefined => stringValue(values, name);
  const rateText = text('rate');
  const sloText = text('slo');
  if (rateText === undefined)
    throw new RtinferError('RTI_ERR_ARG_MISSING', '--rate is required: queries per second, e.g. --rate 100');
  if (sloText === undefined)
    throw new RtinferError('RTI_ERR_ARG_MISSING', '--slo is required: expected like "p99<=50ms"');
  const rate = Number(rateText);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(rateText) || !(rate > 0))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --rate '${rateText}' (expected queries per second > 0)`);
  const slo = parseSlo(sloText);
  const int = (name: string, min: number, max?: number): number | undefined =>
    text(name) === undefined ? undefined : parseIntOption(name, text(name) ?? '', min, max);
  const headroom = text('headroom') === undefined ? undefined : parseFraction('headroom', text('headroom') ?? '');
  const balancer =
    text('balancer') === undefined ? undefined : parseChoice('balancer', text('balancer') ?? '', BALANCERS);
  const deadline = text('deadline');
  const html = text('html');
  if (html !== undefined) await checkWritable('html', html);
  const json = values['json'] === true;
  const instances = int('instances', 1, 256);
  const threads = int('threads', 1, 1024);
  const maxQueue = int('max-queue', 1);
  const requests = int('requests', 1000, 10_000_000);
  const seed = int('seed', 0, 2 ** 32 - 1);
  const measure = text('measure');
  // plan-input loads the bench and the run store: only when plan runs.
  const { replicaFrom } = await import('../plan/plan-input.js');
  const replica = await replicaFrom({
    ...(positionals[0] !== undefined ? { model: positionals[0] } : {}),
    ...(text('config') !== undefined ? { config: text('config') as string } : {}),
    ...(text('from-run') !== undefined ? { fromRun: text('from-run') as string } : {}),
    ...(text('store') !== undefined ? { store: text('store') as string } : {}),
    ...(instances !== undefined ? { instances } : {}),
    ...(threads !== undefined ? { threads } : {}),
    shapes: shapesFrom(values),
    ...(measure !== undefined ? { measureMs: Math.max(500, parseDurationMs('measure', measure)) } : {}),
    onPhase: (line) => {
      if (!json) process.stderr.write(line + '\n');
    },
  });
  const report = runPlan({
    service: replica.service,
    rateQps: rate,
    slo,
    instances: replica.instances,
    threads: replica.threads,
    ...(headroom !== undefined ? { headroom } : {}),
    ...(balancer !== undefined ? { balancer } : {}),
    ...((maxQueue ?? replica.maxQueueSize) !== undefined
      ? { maxQueueSize: (maxQueue ?? replica.maxQueueSize) as number }
      : {}),
    ...(deadline !== undefined
      ? { deadlineMs: parseDurationMs('deadline', /\d$/.test(deadline) ? `${deadline}ms` : deadline) }
      : replica.deadlineMs !== undefined
        ? { deadlineMs: replica.deadlineMs }
        : {}),
    ...(requests !== undefined ? { requests } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  report.notes.unshift(...replica.notes);
  if (html !== undefined) await writeOutput('html', html, renderPlanHtml(report));
  io.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : renderPlanText(report) + '\n');
  // Like tune: no N that meets the SLO exits 4 (the bound is not met), with the report.
  return report.chosen === null ? 4 : 0;
}
