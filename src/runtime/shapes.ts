/**
 * Concrete shapes for inputs with dynamic dimensions: from the user (`x=1x3x640x640`), else from
 * defaults that are reported back so the user sees what was measured.
 */
import { RtinferError } from '../errors.js';
import type { Dim, TensorSpec } from './session.js';

export interface ShapeOverride {
  /** Input name; undefined means "the model's only input". */
  name?: string;
  dims: number[];
}

export interface DefaultedDim {
  input: string;
  index: number;
  /** The symbolic name in the model ("" when unnamed). */
  symbol: string;
  value: number;
  why: string;
}

export interface ResolvedShapes {
  shapes: Record<string, number[]>;
  defaulted: DefaultedDim[];
}

/** Parses `name=1x3x640x640`, `name=1,3,640,640` or a bare `1x3x640x640`. */
export function parseShapeArg(text: string): ShapeOverride {
  const eq = text.lastIndexOf('=');
  const name = eq >= 0 ? text.slice(0, eq) : undefined;
  const dimsText = eq >= 0 ? text.slice(eq + 1) : text;
  const parts = dimsText.split(/[x,]/);
  const dims = parts.map((p) => Number(p.trim()));
  if (dimsText.trim() === '' || dims.some((d) => !Number.isInteger(d) || d < 1) || name === '') {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid --shape '${text}' (expected name=1x3x640x640 with positive integers)`,
    );
  }
  return name === undefined ? { dims } : { name, dims };
}

function formatShape(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : d === '' ? '?' : d)).join(',')}]`;
}

function isImageLayout(shape: readonly Dim[]): 'nchw' | 'nhwc' | null {
  if (shape.length !== 4) return null;
  const channels = (d: Dim | undefined): boolean => d === 1 || d === 3 || d === 4;
  if (channels(shape[1])) return 'nchw';
  if (channels(shape[3])) return 'nhwc';
  return null;
}

const SEQUENCE_NAME = /seq|len|token|time|frame/i;

/** The default for one dynamic dimension, with the reason that gets printed. */
function defaultDim(
  spec: TensorSpec,
  index: number,
  imageSize: readonly [number, number],
): { value: number; why: string } {
  const layout = isImageLayout(spec.shape);
  if (index === 0) return { value: 1, why: 'batch' };
  if (layout === 'nchw' && (index === 2 || index === 3))
    return { value: imageSize[index - 2] ?? 640, why: 'image size' };
  if (layout === 'nhwc' && (index === 1 || index === 2))
    return { value: imageSize[index - 1] ?? 640, why: 'image size' };
  const symbol = spec.shape[index];
  if (typeof symbol === 'string' && SEQUENCE_NAME.test(symbol)) return { value: 128, why: 'sequence length' };
  return { value: 1, why: 'unknown dimension' };
}

export interface ResolveOptions {
  /** [height, width] for dynamic image dimensions; default 640x640 (or the model's imgsz metadata). */
  imageSize?: readonly [number, number];
}

export function resolveShapes(
  specs: readonly TensorSpec[],
  overrides: readonly ShapeOverride[],
  options: ResolveOptions = {},
): ResolvedShapes {
  const byName = new Map<string, number[]>();
  for (const o of overrides) {
    let name = o.name;
    if (name === undefined) {
      if (specs.length !== 1) {
        throw new RtinferError(
          'RTI_ERR_ARG_INVALID',
          `--shape ${o.dims.join('x')} needs an input name: the model has ${specs.length} inputs ` +
            `(${specs.map((s) => s.name).join(', ')})`,
        );
      }
      name = specs[0]?.name ?? '';
    }
    const spec = specs.find((s) => s.name === name);
    if (spec === undefined) {
      throw new RtinferError(
        'RTI_ERR_MODEL_INPUT_UNKNOWN',
        `--shape names input '${name}', but the model's inputs are: ${specs.map((s) => s.name).join(', ')}`,
      );
    }
    checkFits(spec, o.dims, '--shape');
    byName.set(name, o.dims);
  }

  const imageSize = options.imageSize ?? [640, 640];
  const shapes: Record<string, number[]> = {};
  const defaulted: DefaultedDim[] = [];
  // One symbolic name means one value across all inputs (e.g. batch_size shared by two inputs).
  const symbols = new Map<string, number>();
  for (const spec of specs) {
    const given = byName.get(spec.name);
    if (given) {
      spec.shape.forEach((d, i) => {
        if (typeof d === 'string' && d !== '') symbols.set(d, given[i] ?? 1);
      });
    }
  }
  for (const spec of specs) {
    const given = byName.get(spec.name);
    if (given) {
      shapes[spec.name] = given;
      continue;
    }
    shapes[spec.name] = spec.shape.map((d, i) => {
      if (typeof d === 'number' && d > 0) return d;
      const symbol = typeof d === 'string' ? d : '';
      const known = symbol !== '' ? symbols.get(symbol) : undefined;
      if (known !== undefined) return known;
      const { value, why } = defaultDim(spec, i, imageSize);
      if (symbol !== '') symbols.set(symbol, value);
      defaulted.push({ input: spec.name, index: i, symbol, value, why });
      return value;
    });
  }
  return { shapes, defaulted };
}

/** Throws unless `dims` has the input's rank and agrees with every fixed dimension. */
export function checkFits(spec: TensorSpec, dims: readonly number[], origin: string): void {
  if (dims.length !== spec.shape.length) {
    throw new RtinferError(
      'RTI_ERR_SHAPE_MISMATCH',
      `${origin} gives input '${spec.name}' ${dims.length} dimensions [${dims.join(',')}], but the model ` +
        `declares ${spec.shape.length}: ${formatShape(spec.shape)}`,
    );
  }
  spec.shape.forEach((d, i) => {
    if (typeof d === 'number' && d > 0 && dims[i] !== d) {
      throw new RtinferError(
        'RTI_ERR_SHAPE_MISMATCH',
        `${origin} gives input '${spec.name}' dimension ${i} = ${dims[i]}, but the model fixes it ` +
          `at ${d}: ${formatShape(spec.shape)}`,
      );
    }
  });
}

export function describeDefaults(defaulted: readonly DefaultedDim[]): string[] {
  return defaulted.map(
    (d) =>
      `input '${d.input}' dim ${d.index}${d.symbol ? ` (${d.symbol})` : ''} = ${d.value} (${d.why}; set with --shape)`,
  );
}
