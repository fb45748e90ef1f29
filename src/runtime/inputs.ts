/**
 * The sample set a benchmark rotates through: synthetic (seeded random or zeros) or loaded from
 * .npy / raw .bin files. Several distinct samples (default 8) so that no figure rests on one
 * reused tensor that may sit warm in cache.
 */
import { readFile } from 'node:fs/promises';
import { Tensor } from 'onnxruntime-node';
import { RtinferError } from '../errors.js';
import { DTYPES, elementCount, type TensorData, type TensorDType } from './dtypes.js';
import { toFloat16Bits } from './float16.js';
import { parseNpy, parseRawBin } from './npy.js';
import type { TensorSpec } from './session.js';
import { checkFits } from './shapes.js';
import { createRng, syntheticData, type SyntheticFill } from './synthetic.js';

export type Feeds = Record<string, Tensor>;

export interface InputFile {
  /** Input name; undefined means "the model's only input". */
  name?: string;
  path: string;
}

export interface InputConstant {
  name?: string;
  value: number;
}

export interface InputPlan {
  fill: SyntheticFill;
  files: readonly InputFile[];
  /** Inputs filled with one value, e.g. a sample rate `sr=16000` that a model checks. */
  constants?: readonly InputConstant[];
  /** Distinct samples to rotate through (random fill); default 8. */
  samples: number;
  seed: number;
}

export const DEFAULT_INPUT_PLAN: InputPlan = { fill: 'random', files: [], samples: 8, seed: 1 };

export interface SampleSet {
  samples: Feeds[];
  /** Final shapes (a .npy file's own shape wins over the default). */
  shapes: Record<string, number[]>;
  description: string;
}

/** `zeros`, `random`, `name=NUMBER`, `name=FILE` or `FILE` (for a model with one input). */
export function parseInputArg(
  text: string,
): { fill: SyntheticFill } | { file: InputFile } | { constant: InputConstant } {
  if (text === 'zeros' || text === 'random') return { fill: text };
  const eq = text.indexOf('=');
  if (eq > 0 && !text.slice(0, eq).includes('/')) {
    const name = text.slice(0, eq);
    const rest = text.slice(eq + 1);
    if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(rest)) return { constant: { name, value: Number(rest) } };
    return { file: { name, path: rest } };
  }
  return { file: { path: text } };
}

function constantData(dtype: TensorDType, dims: readonly number[], value: number): TensorData {
  const n = elementCount(dims);
  if (dtype === 'string') return new Array<string>(n).fill(String(value));
  const data = DTYPES[dtype].create(n);
  if (dtype === 'int64' || dtype === 'uint64') (data as BigInt64Array).fill(BigInt(Math.trunc(value)));
  else if (dtype === 'float16') (data as Uint16Array).fill(toFloat16Bits(value));
  else (data as Float32Array).fill(value);
  return data;
}

async function loadFile(
  spec: TensorSpec,
  shape: number[],
  file: InputFile,
): Promise<{ dims: number[]; data: TensorData }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file.path);
  } catch {
    throw new RtinferError('RTI_ERR_INPUT_DATA', `input file not found or unreadable: ${file.path}`);
  }
  if (file.path.toLowerCase().endsWith('.npy')) {
    const arr = parseNpy(bytes, file.path);
    if (arr.dtype !== spec.dtype) {
      throw new RtinferError(
        'RTI_ERR_INPUT_DATA',
        `${file.path} holds ${arr.dtype}, but input '${spec.name}' takes ${spec.dtype}`,
      );
    }
    checkFits(spec, arr.dims, file.path);
    return { dims: arr.dims, data: arr.data };
  }
  return { dims: shape, data: parseRawBin(bytes, spec.dtype, shape, file.path) };
}

export async function buildSamples(
  specs: readonly TensorSpec[],
  shapes: Record<string, number[]>,
  plan: InputPlan,
): Promise<SampleSet> {
  if (!Number.isInteger(plan.samples) || plan.samples < 1) {
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid samples: ${plan.samples} (expected a positive integer)`);
  }
  const inputName = (name: string | undefined, what: string): string => {
    if (name === undefined) {
      if (specs.length !== 1) {
        throw new RtinferError(
          'RTI_ERR_ARG_INVALID',
          `--input ${what} needs an input name (NAME=${what}): the model has ${specs.length} inputs`,
        );
      }
      return specs[0]?.name ?? '';
    }
    if (!specs.some((s) => s.name === name)) {
      throw new RtinferError(
        'RTI_ERR_MODEL_INPUT_UNKNOWN',
        `--input names input '${name}', but the model's inputs are: ${specs.map((s) => s.name).join(', ')}`,
      );
    }
    return name;
  };
  const filesByInput = new Map<string, InputFile[]>();
  for (const f of plan.files) {
    const name = inputName(f.name, f.path);
    filesByInput.set(name, [...(filesByInput.get(name) ?? []), f]);
  }
  const constants = new Map<string, number>();
  for (const c of plan.constants ?? []) constants.set(inputName(c.name, String(c.value)), c.value);

  const loaded = new Map<string, Array<{ dims: number[]; data: TensorData }>>();
  const finalShapes: Record<string, number[]> = { ...shapes };
  for (const spec of specs) {
    const files = filesByInput.get(spec.name);
    if (!files) continue;
    const arrays = [];
    for (const f of files) arrays.push(await loadFile(spec, finalShapes[spec.name] ?? [], f));
    finalShapes[spec.name] = arrays[0]?.dims ?? [];
    loaded.set(spec.name, arrays);
  }

  const synthetic = specs.filter((s) => !loaded.has(s.name) && !constants.has(s.name));
  const fileCount = Math.max(0, ...[...loaded.values()].map((a) => a.length));
  // Zeros are all alike: one sample is as good as eight.
  const count =
    synthetic.length > 0 && plan.fill === 'random' ? Math.max(plan.samples, fileCount) : Math.max(1, fileCount);
  const rng = createRng(plan.seed);
  const samples: Feeds[] = [];
  for (let i = 0; i < count; i++) {
    const feeds: Feeds = {};
    for (const spec of specs) {
      const dims = finalShapes[spec.name] ?? [];
      const arrays = loaded.get(spec.name);
      const picked = arrays?.[i % arrays.length];
      const constant = constants.get(spec.name);
      const data = picked
        ? picked.data
        : constant !== undefined
          ? constantData(spec.dtype, dims, constant)
          : syntheticData(spec.dtype, dims, plan.fill, rng);
      feeds[spec.name] = new Tensor(spec.dtype, data as never, dims);
    }
    samples.push(feeds);
  }
  const parts = [...loaded.entries()].map(([n, a]) => `${n} from ${a.length} file(s)`);
  for (const [n, v] of constants) parts.push(`${n} = ${v}`);
  if (synthetic.length > 0)
    parts.push(
      `${synthetic.map((s) => s.name).join(', ')} ${plan.fill}${plan.fill === 'random' ? ` (seed ${plan.seed})` : ''}`,
    );
  return { samples, shapes: finalShapes, description: `${count} sample(s): ${parts.join('; ')}` };
}
