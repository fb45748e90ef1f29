/**
 * Options shared by every command that creates a session: the table and its translation into
 * SessionSettings, shapes and input plans.
 */
import { RtinferError } from '../errors.js';
import {
  DEFAULT_INPUT_PLAN,
  parseInputArg,
  type InputConstant,
  type InputFile,
  type InputPlan,
} from '../runtime/inputs.js';
import { EXECUTION_MODES, GRAPH_OPT_LEVELS, LOG_LEVELS, type SessionSettings } from '../runtime/session-options.js';
import { parseShapeArg, type ShapeOverride } from '../runtime/shapes.js';
import type { SyntheticFill } from '../runtime/synthetic.js';
import {
  listValue,
  parseChoice,
  parseIntOption,
  parseOnOff,
  stringValue,
  type OptionSpec,
  type ParsedValues,
} from './args.js';

export const SHAPE_OPTION: OptionSpec = {
  name: 'shape',
  type: 'string',
  multiple: true,
  value: 'NAME=DIMS',
  description: 'concrete shape for an input with dynamic dimensions, e.g. x=1x3x640x640',
};

export const SESSION_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'threads',
    type: 'string',
    value: 'N',
    description: 'intra-op threads (0 = onnxruntime default, one per core)',
  },
  {
    name: 'inter-threads',
    type: 'string',
    value: 'N',
    description: 'inter-op threads, used with --execution-mode parallel',
  },
  {
    name: 'execution-mode',
    type: 'string',
    value: 'MODE',
    description: `${EXECUTION_MODES.join(' | ')} (default sequential)`,
  },
  { name: 'graph-opt', type: 'string', value: 'LEVEL', description: `${GRAPH_OPT_LEVELS.join(' | ')} (default all)` },
  {
    name: 'ep',
    type: 'string',
    value: 'LIST',
    description: 'execution providers in priority order, e.g. cuda,cpu (default cpu)',
  },
  {
    name: 'free-dim',
    type: 'string',
    multiple: true,
    value: 'NAME=N',
    description: 'fix a symbolic dimension at session creation',
  },
  { name: 'mem-arena', type: 'string', value: 'on|off', description: 'CPU memory arena (default on)' },
  { name: 'mem-pattern', type: 'string', value: 'on|off', description: 'memory pattern optimisation (default on)' },
  {
    name: 'spinning',
    type: 'string',
    value: 'on|off',
    description:
      'idle onnxruntime threads busy-wait (default on; off for load scenarios and serve, ' +
      'which keep other threads busy)',
  },
  { name: 'optimized-model', type: 'string', value: 'FILE', description: 'write the graph-optimised model to FILE' },
  {
    name: 'log-level',
    type: 'string',
    value: 'LEVEL',
    description:
      `onnxruntime log level: ${LOG_LEVELS.join(' | ')} ` + '(default fatal: errors are reported by rtinfer itself)',
  },
];

export const INPUT_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'input',
    type: 'string',
    multiple: true,
    value: 'SRC',
    description:
      'random (default) | zeros | FILE | NAME=FILE (.npy or raw little-endian .bin) | NAME=NUMBER (constant)',
  },
  { name: 'samples', type: 'string', value: 'N', description: 'distinct random samples to rotate through (default 8)' },
  { name: 'seed', type: 'string', value: 'N', description: 'seed for random inputs (default 1)' },
];

/** The options of every command that loads a model and feeds it: shapes, session settings, inputs. */
export const RUN_OPTIONS: readonly OptionSpec[] = [SHAPE_OPTION, ...SESSION_OPTIONS, ...INPUT_OPTIONS];

/** What RUN_OPTIONS set, parsed in that order. */
export function runSettingsFrom(values: ParsedValues): {
  session: SessionSettings;
  shapes: ShapeOverride[];
  input: InputPlan;
} {
  return { session: sessionSettingsFrom(values), shapes: shapesFrom(values), input: inputPlanFrom(values) };
}

export function sessionSettingsFrom(values: ParsedValues): SessionSettings {
  const s: SessionSettings = {};
  const text = (name: string): string | undefined => stringValue(values, name);
  const threads = text('threads');
  if (threads !== undefined) s.intraOpThreads = parseIntOption('threads', threads, 0, 1024);
  const inter = text('inter-threads');
  if (inter !== undefined) s.interOpThreads = parseIntOption('inter-threads', inter, 0, 1024);
  const mode = text('execution-mode');
  if (mode !== undefined) s.executionMode = parseChoice('execution-mode', mode, EXECUTION_MODES);
  const opt = text('graph-opt');
  if (opt !== undefined) s.graphOptimizationLevel = parseChoice('graph-opt', opt, GRAPH_OPT_LEVELS);
  const ep = text('ep');
  if (ep !== undefined) {
    const names = ep.split(',').map((x) => x.trim().toLowerCase());
    if (names.some((n) => !/^[a-z0-9_-]+$/.test(n)))
      throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --ep '${ep}' (expected names such as cpu or cuda,cpu)`);
    s.executionProviders = names;
  }
  const dims = listValue(values, 'free-dim');
  if (dims.length > 0) {
    s.freeDimensionOverrides = {};
    for (const d of dims) {
      const eq = d.lastIndexOf('=');
      if (eq <= 0) throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid --free-dim '${d}' (expected NAME=N)`);
      s.freeDimensionOverrides[d.slice(0, eq)] = parseIntOption('free-dim', d.slice(eq + 1), 1);
    }
  }
  const arena = text('mem-arena');
  if (arena !== undefined) s.enableCpuMemArena = parseOnOff('mem-arena', arena);
  const pattern = text('mem-pattern');
  if (pattern !== undefined) s.enableMemPattern = parseOnOff('mem-pattern', pattern);
  const spinning = text('spinning');
  if (spinning !== undefined) s.allowSpinning = parseOnOff('spinning', spinning);
  const optimized = text('optimized-model');
  if (optimized !== undefined) s.optimizedModelPath = optimized;
  const log = text('log-level');
  if (log !== undefined) s.logLevel = parseChoice('log-level', log, LOG_LEVELS);
  return s;
}

export function shapesFrom(values: ParsedValues): ShapeOverride[] {
  return listValue(values, 'shape').map(parseShapeArg);
}

export function inputPlanFrom(values: ParsedValues): InputPlan {
  let fill: SyntheticFill = DEFAULT_INPUT_PLAN.fill;
  const files: InputFile[] = [];
  const constants: InputConstant[] = [];
  for (const text of listValue(values, 'input')) {
    const parsed = parseInputArg(text);
    if ('fill' in parsed) fill = parsed.fill;
    else if ('constant' in parsed) constants.push(parsed.constant);
    else files.push(parsed.file);
  }
  const samples = stringValue(values, 'samples');
  const seed = stringValue(values, 'seed');
  return {
    fill,
    files,
    constants,
    samples: samples === undefined ? DEFAULT_INPUT_PLAN.samples : parseIntOption('samples', samples, 1, 1024),
    seed: seed === undefined ? DEFAULT_INPUT_PLAN.seed : parseIntOption('seed', seed, 0, 2 ** 32 - 1),
  };
}
