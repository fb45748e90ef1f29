/** `rtinfer runs`: list, show, export and remove stored runs; --html draws their history. */
import path from 'node:path';
import { RtinferError } from '../errors.js';
import { formatMs, formatTable } from '../util/format.js';
import { renderHistoryHtml } from '../report/runs-html.js';
import { RUN_KINDS, type RunFilter, type RunStore, type RunSummary, type StoredRun } from '../store/run-store.js';
import { openRunStore, parseTag, resolveRun, storePath } from '../store/record.js';
import {
  listValue,
  parseChoice,
  parseCommand,
  parseIntOption,
  stringValue,
  type CommandSpec,
  type ParsedValues,
} from './args.js';
import { writeOutput } from './output.js';

const ACTIONS = ['list', 'show', 'export', 'rm'] as const;

export const RUNS_COMMAND: CommandSpec = {
  name: 'runs',
  summary: 'stored runs: list (filtered), show ID, export as JSON or CSV, rm ID..., --html history page',
  usage:
    'rtinfer runs [list|show ID|export|rm ID...] [--model M] [--label L] [--tag K=V] [--scenario S] ' +
    '[--since DATE] [options]',
  maxPositionals: 256,
  options: [
    {
      name: 'store',
      type: 'string',
      value: 'PATH',
      description: 'run store (default $RTINFER_STORE or .rtinfer/runs.db)',
    },
    {
      name: 'model',
      type: 'string',
      value: 'M',
      description: 'runs whose model label or path contains M, or whose sha256 starts with M',
    },
    { name: 'label', type: 'string', value: 'NAME', description: 'runs with this label' },
    { name: 'tag', type: 'string', multiple: true, value: 'K=V', description: 'runs with this tag' },
    {
      name: 'scenario',
      type: 'string',
      value: 'NAME',
      description: 'runs of this scenario (single-stream, server, ..., sweep-concurrency, tune-server)',
    },
    { name: 'kind', type: 'string', value: 'KIND', description: `${RUN_KINDS.join(' | ')}` },
    {
      name: 'since',
      type: 'string',
      value: 'DATE',
      description: 'runs started at or after DATE (2026-11-30 or an ISO time)',
    },
    { name: 'until', type: 'string', value: 'DATE', description: 'runs started before the end of DATE' },
    {
      name: 'limit',
      type: 'string',
      value: 'N',
      description: 'at most N runs, newest first (default 50; export 10000)',
    },
    {
      name: 'format',
      type: 'string',
      value: 'json|csv',
      description: 'export: the format (default json: the stored runs with their reports)',
    },
    { name: 'out', type: 'string', value: 'FILE', description: 'export: write to FILE instead of stdout' },
    { name: 'json', type: 'boolean', description: 'list and show: print JSON' },
    {
      name: 'html',
      type: 'string',
      value: 'FILE',
      description: 'write a self-contained history page: p50 and p99 over time per model and setting, validity marked',
    },
  ],
  examples: [
    'rtinfer runs --model yolox --since 2026-11-01',
    'rtinfer runs show 12',
    'rtinfer runs export --format csv --out runs.csv',
    'rtinfer runs --html history.html',
    'rtinfer runs rm 3 4',
  ],
};

function dateBound(option: string, text: string, end: boolean): string {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const t = Date.parse(day ? `${text}T00:00:00.000Z` : text);
  // A day that does not exist (2026-13-45, 2026-02-30) is refused, not read as another.
  if (!Number.isFinite(t) || (day && new Date(t).toISOString().slice(0, 10) !== text))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --${option} '${text}' (expected a date such as 2026-11-30 or an ISO time)`,
    );
  if (!day) return new Date(t).toISOString();
  return end ? `${text}T23:59:59.999Z` : `${text}T00:00:00.000Z`;
}

function filterFrom(values: ParsedValues, defaultLimit: number): RunFilter {
  const text = (n: string): string | undefined => stringValue(values, n);
  const f: RunFilter = {
    limit: text('limit') === undefined ? defaultLimit : parseIntOption('limit', text('limit') as string, 1, 1_000_000),
  };
  if (text('model') !== undefined) f.model = text('model') as string;
  if (text('label') !== undefined) f.label = text('label') as string;
  if (text('scenario') !== undefined) f.scenario = text('scenario') as string;
  if (text('kind') !== undefined) f.kind = parseChoice('kind', text('kind') as string, RUN_KINDS);
  if (text('since') !== undefined) f.since = dateBound('since', text('since') as string, false);
  if (text('until') !== undefined) f.until = dateBound('until', text('until') as string, true);
  const tags = listValue(values, 'tag');
  if (tags.length) f.tags = Object.fromEntries(tags.map(parseTag));
  return f;
}

function ids(args: readonly string[], action: string): number[] {
  if (args.length === 0)
    throw new RtinferError('RTI_ERR_ARG_MISSING', `rtinfer runs ${action} needs a run id (see rtinfer runs)`);
  return args.map((a) => {
    if (!/^\d+$/.test(a))
      throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid run id '${a}' (expected a number, see rtinfer runs)`);
    return Number(a);
  });
}

const ms = (v: number | null): string => (v === null ? '-' : formatMs(v));
const validity = (v: boolean | null): string => (v === null ? '-' : v ? 'valid' : 'INVALID');

function listText(rows: readonly RunSummary[], location: string): string {
  if (rows.length === 0) return `no stored runs match in ${location}`;
  const table = [
    ['id', 'started', 'kind', 'scenario', 'model', 'p50 ms', 'p99 ms', 'q/s', 'validity', 'label', 'tags'],
  ];
  for (const r of rows) {
    table.push([
      String(r.id),
      r.startedAt.replace('T', ' ').slice(0, 19),
      r.kind,
      r.scenario,
      path.basename(r.model.label),
      ms(r.figures.p50Ms),
      ms(r.figures.p99Ms),
      r.figures.qps === null ? '-' : r.figures.qps.toFixed(1),
      validity(r.valid),
      r.label ?? '',
      Object.entries(r.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]);
  }
  return formatTable(table);
}

const CSV_COLUMNS = [
  'id',
  'started_at',
  'kind',
  'scenario',
  'model',
  'model_path',
  'model_sha256',
  'setting',
  'label',
  'tags',
  'git_commit',
  'valid',
  'p50_ms',
  'p90_ms',
  'p99_ms',
  'qps',
  'cold_start_ms',
];

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(rows: readonly RunSummary[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [
        r.id,
        r.startedAt,
        r.kind,
        r.scenario,
        r.model.label,
        r.model.path,
        r.model.sha256,
        r.setting.text,
        r.label,
        Object.entries(r.tags)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
        r.gitCommit,
        r.valid === null ? '' : r.valid,
        r.figures.p50Ms,
        r.figures.p90Ms,
        r.figures.p99Ms,
        r.figures.qps,
        r.figures.coldStartMs,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/** `rtinfer runs show ID`: one run's fields as a two-column table. */
function showText(run: StoredRun): string {
  const { figures, histogram } = run;
  const rows: Array<[string, string]> = [
    ['run', `${run.id} (${run.kind}, ${run.scenario})`],
    ['started', run.startedAt],
    ['model', `${run.model.label}${run.model.path ? ` (${run.model.path})` : ''}`],
    ['sha256', run.model.sha256 ?? '-'],
    ['setting', `${run.setting.text} [${run.setting.key}]`],
    ['label', run.label ?? '-'],
    [
      'tags',
      Object.entries(run.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '-',
    ],
    ['git commit', run.gitCommit ?? '-'],
    ['validity', validity(run.valid)],
    ['p50 / p90 / p99', `${ms(figures.p50Ms)} / ${ms(figures.p90Ms)} / ${ms(figures.p99Ms)} ms`],
    ['throughput', figures.qps === null ? '-' : `${figures.qps} q/s`],
    ['cold start', `${ms(figures.coldStartMs)} ms`],
    ['histogram', histogram ? `HDR, ${histogram.length} base64 characters` : '-'],
    ['rtinfer', run.rtinfer],
  ];
  return formatTable(rows);
}

export async function runsCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const { values, positionals } = parseCommand(RUNS_COMMAND, argv);
  const [first, ...rest] = positionals;
  if (first !== undefined && !(ACTIONS as readonly string[]).includes(first))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `unknown runs action '${first}' (expected ${ACTIONS.join(', ')}; see rtinfer runs --help)`,
    );
  const action = (first ?? 'list') as (typeof ACTIONS)[number];
  if (action === 'list' && rest.length > 0)
    throw new RtinferError('RTI_ERR_ARG_INVALID', `unexpected argument '${rest[0]}' for 'rtinfer runs list'`);
  const location = storePath({ store: stringValue(values, 'store') }) as string;
  const json = values['json'] === true;
  const html = stringValue(values, 'html');
  if (html !== undefined) await writeOutput('html', html, '');
  // Reading never creates a store; rm needs one.
  const store: RunStore = openRunStore(location, { create: false });
  try {
    switch (action) {
      case 'list': {
        const rows = await store.list(filterFrom(values, html !== undefined ? 10_000 : 50));
        if (html !== undefined) {
          await writeOutput('html', html, renderHistoryHtml(rows, location));
          process.stderr.write(`rtinfer runs: wrote ${html} (${rows.length} runs)\n`);
        }
        io.stdout.write(json ? JSON.stringify(rows, null, 2) + '\n' : listText(rows, location) + '\n');
        return 0;
      }
      case 'show': {
        if (rest.length !== 1)
          throw new RtinferError(
            rest.length === 0 ? 'RTI_ERR_ARG_MISSING' : 'RTI_ERR_ARG_INVALID',
            `rtinfer runs show takes one run: an id, last or label:NAME (got ${rest.length})`,
          );
        const run = await resolveRun(store, rest[0] as string);
        io.stdout.write(json ? JSON.stringify(run, null, 2) + '\n' : showText(run) + '\n');
        return 0;
      }
      case 'export': {
        const format = parseChoice('format', stringValue(values, 'format') ?? 'json', ['json', 'csv'] as const);
        const rows = await store.list(filterFrom(values, 10_000));
        let text: string;
        if (format === 'csv') text = csv(rows);
        else {
          const full = [];
          for (const r of rows) full.push(await store.get(r.id));
          text = JSON.stringify({ schema: 'rtinfer.runs/1', store: location, runs: full }, null, 2) + '\n';
        }
        const out = stringValue(values, 'out');
        if (out !== undefined) {
          await writeOutput('out', out, text);
          process.stderr.write(`rtinfer runs: exported ${rows.length} runs to ${out}\n`);
        } else io.stdout.write(text);
        return 0;
      }
      case 'rm': {
        const list = ids(rest, 'rm');
        const removed = await store.remove(list);
        io.stdout.write(`removed ${removed} of ${list.length} runs from ${location}\n`);
        return removed === list.length ? 0 : 1;
      }
    }
  } finally {
    await store.close();
  }
}
