/**
 * Command-line parsing driven by data: each command declares its options once, and both the parser
 * (node:util parseArgs, strict) and the help text come from that table.
 */
import { parseArgs } from 'node:util';
import { RtinferError, firstLine } from '../errors.js';

export interface OptionSpec {
  name: string;
  type: 'string' | 'boolean';
  multiple?: boolean;
  /** Placeholder shown in help, e.g. 'N' or 'FILE'. */
  value?: string;
  description: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: readonly OptionSpec[];
  maxPositionals: number;
  examples?: readonly string[];
}

const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: 'verbose', type: 'boolean', description: 'print stack traces with errors' },
  { name: 'help', type: 'boolean', description: 'show this help' },
];

export type ParsedValues = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  values: ParsedValues;
  positionals: string[];
}

export function parseCommand(spec: CommandSpec, argv: readonly string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const o of [...spec.options, ...COMMON_OPTIONS])
    options[o.name] = o.multiple ? { type: o.type, multiple: true } : { type: o.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw translateParseError(spec, error);
  }
  if (parsed.positionals.length > spec.maxPositionals) {
    const extra = parsed.positionals[spec.maxPositionals];
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `unexpected argument '${extra}' for 'rtinfer ${spec.name}' (usage: ${spec.usage})`,
    );
  }
  return { values: parsed.values as ParsedValues, positionals: parsed.positionals };
}

/**
 * `--conf -1` as `--conf=-1`: parseArgs takes a value starting with '-' for an option of its own and
 * says "needs a value", when the user gave a value that deserves its range error. No option is a number.
 */
function joinNegativeValues(argv: readonly string[], options: Readonly<Record<string, { type: string }>>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

function translateParseError(spec: CommandSpec, error: unknown): RtinferError {
  const e = error as { code?: string; message?: string };
  const option = /'(-{1,2}[^' ]+)/.exec(e.message ?? '')?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new RtinferError(
        'RTI_ERR_ARG_UNKNOWN',
        `unknown option ${option} for 'rtinfer ${spec.name}' (see rtinfer ${spec.name} --help)`,
      );
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(e.message ?? ''))
        return new RtinferError('RTI_ERR_ARG_MISSING', `option ${option} needs a value`);
      if (/ambiguous/.test(e.message ?? '')) {
        return new RtinferError(
          'RTI_ERR_ARG_MISSING',
          `option ${option} needs a value (write ${option}=VALUE for a value that starts with '-')`,
        );
      }
      return new RtinferError('RTI_ERR_ARG_INVALID', `option ${option} takes no value`);
    default:
      return new RtinferError('RTI_ERR_ARG_INVALID', firstLine(e.message ?? String(error)) || 'invalid arguments');
  }
}

export function helpText(spec: CommandSpec): string {
  const rows = [...spec.options, ...COMMON_OPTIONS].map((o) => {
    const flag = `--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return [flag, o.description + (o.multiple ? ' (repeatable)' : '')] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  const lines = [`rtinfer ${spec.name}: ${spec.summary}`, '', `usage: ${spec.usage}`, '', 'options:'];
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`);
  if (spec.examples?.length) lines.push('', 'examples:', ...spec.examples.map((x) => `  ${x}`));
  return lines.join('\n');
}

// ---- value converters: each names the option in its error ----

function invalid(option: string, text: string, expected: string): never {
  throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --${option} '${text}' (expected ${expected})`);
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, min: 60_000 };

/** '10s', '500ms', '2m', or a bare number of seconds. */
export function parseDurationMs(option: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|min)?$/.exec(text.trim());
  if (!m) invalid(option, text, 'a duration such as 10s, 500ms or 2m');
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000);
  if (!(ms >= 0) || ms > 86_400_000) invalid(option, text, 'a duration up to 24h');
  return ms;
}

/** '20' is a query count, '2s' a time. */
export function parseWarmup(text: string): { minQueries: number; minDurationMs: number } {
  if (/^\d+$/.test(text.trim())) return { minQueries: parseIntOption('warmup', text, 0), minDurationMs: 0 };
  return { minQueries: 1, minDurationMs: parseDurationMs('warmup', text) };
}

/**
 * A decimal number ('0.25', '.5', '1e-3'), refused when empty: Number('') is 0, which made `--conf=`
 * a threshold of 0. `ok` is the range check; `expected` names it in the error.
 */
export function parseNumberOption(option: string, text: string, expected: string, ok: (n: number) => boolean): number {
  const n = Number(text);
  if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(text) || !Number.isFinite(n) || !ok(n))
    invalid(option, text, expected);
  return n;
}

export function parseIntOption(option: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    invalid(
      option,
      text,
      max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
    );
  }
  return n;
}

/** A latency percentile in (0, 100): '95', '99', '99.9'. */
export function parsePercentile(option: string, text: string): number {
  const n = Number(text);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || !(n > 0 && n < 100))
    invalid(option, text, 'a percentile between 0 and 100, exclusive, such as 95, 99 or 99.9');
  return n;
}

export function parseChoice<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) invalid(option, text, `one of ${allowed.join(', ')}`);
  return text as T;
}

export function parseOnOff(option: string, text: string): boolean {
  if (text === 'on' || text === 'true') return true;
  if (text === 'off' || text === 'false') return false;
  return invalid(option, text, 'on or off');
}

export function stringValue(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listValue(values: ParsedValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
