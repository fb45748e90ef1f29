/**
 * Everything decided about a model before it runs: the head, the preprocessing and, for each, why.
 * Layers, later ones winning field by field: the head's family defaults, what the metadata says
 * (Ultralytics imgsz, sidecar hints), what the input tensor says (layout, channels, size, dtype),
 * then the caller's options. `rtinfer info` prints the plan; the pipeline runs it.
 */
import { RtinferError } from '../errors.js';
import { resolvePreprocessConfig, type PreprocessConfig } from './config.js';
import { chooseHead, getHead, isHeadName, type HeadChoice } from './heads/registry.js';
import { describeShape, type HeadName, type ModelMetadata, type VisionHead } from './heads/head.js';
import { inferInputLayout } from './input-layout.js';
import type { TensorMeta, VisionTask } from './types.js';

export interface VisionPlan {
  choice: HeadChoice;
  config: PreprocessConfig;
  /** "what: why" lines, head first. */
  explanation: string[];
}

export interface PlanOptions {
  inputs: readonly TensorMeta[];
  outputs: readonly TensorMeta[];
  metadata?: ModelMetadata;
  task?: HeadName | VisionTask | VisionHead | string;
  preprocess?: Partial<PreprocessConfig>;
}

const TASKS: readonly string[] = ['detect', 'classify', 'text', 'semantic', 'image'];

/**
 * A task name ('detect', 'classify', ...): the detected head, which must have that task; when it
 * does not, the head of that name if there is one and it fits (`--task semantic` for a map with 3
 * classes that reads as an image). Else a head by name or object.
 */
function resolveTask(
  task: PlanOptions['task'],
  inputs: readonly TensorMeta[],
  outputs: readonly TensorMeta[],
  metadata: ModelMetadata,
): HeadChoice {
  if (typeof task === 'string' && TASKS.includes(task)) {
    const detected = (() => {
      try {
        return chooseHead(undefined, outputs, metadata, inputs);
      } catch {
        return undefined;
      }
    })();
    if (detected?.head.task === task) return detected;
    if (isHeadName(task) && getHead(task).matches(outputs, metadata, inputs))
      return chooseHead(task, outputs, metadata, inputs);
    if (detected === undefined) return chooseHead(undefined, outputs, metadata, inputs);
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `task '${task}' asked for, but the model's outputs fit the '${detected.head.name}' head (${detected.head.task})`,
    );
  }
  return chooseHead(task as string | VisionHead | undefined, outputs, metadata, inputs);
}

function describeValues(c: Pick<PreprocessConfig, 'rescale' | 'mean' | 'std' | 'dtype'>): string {
  const same = (a: readonly number[], b: readonly number[]): boolean => a.every((v, i) => Math.abs(v - b[i]!) < 1e-6);
  if (c.dtype === 'uint8') return 'raw 0..255 (uint8)';
  const zero = same(c.mean, [0, 0, 0]);
  const one = same(c.std, [1, 1, 1]);
  if (zero && one)
    return c.rescale === 1
      ? 'raw 0..255'
      : Math.abs(c.rescale - 1 / 255) < 1e-9
        ? 'x / 255 (0..1)'
        : `x · ${c.rescale}`;
  if (Math.abs(c.rescale - 1 / 127.5) < 1e-9 && same(c.mean, [1, 1, 1]) && one) return 'x / 127.5 − 1 (−1..1)';
  if (Math.abs(c.rescale - 1 / 255) < 1e-9 && same(c.mean, [0.485, 0.456, 0.406]) && same(c.std, [0.229, 0.224, 0.225]))
    return '(x / 255 − ImageNet mean) / ImageNet std';
  return (
    `(x · ${+c.rescale.toPrecision(6)} − [${c.mean.map((v) => +v.toPrecision(6)).join(', ')}]) / ` +
    `[${c.std.map((v) => +v.toPrecision(6)).join(', ')}]`
  );
}

function describeResize(c: PreprocessConfig): string {
  const size =
    c.width !== null
      ? `${c.width}x${c.height}`
      : c.height !== null
        ? `height ${c.height}, width following the aspect ratio` +
          (c.resize === 'letterbox' && c.minWidth !== null ? ` (at least ${c.minWidth})` : '') +
          (c.multipleOf > 1 ? `, multiple of ${c.multipleOf}` : '')
        : `dynamic (longest side ${c.maxSide ?? 'as is'}, multiple of ${c.multipleOf})`;
  if (c.resize === 'letterbox')
    return (
      `${size}, letterbox ${c.anchor === 'center' ? 'centred' : 'top-left'}, ` +
      `pad ${typeof c.padValue === 'number' ? c.padValue : `[${c.padValue.join(',')}]`}`
    );
  if (c.resize === 'crop')
    return `${size}, ${c.shortestEdge === null ? 'cover' : `shorter side ${c.shortestEdge}`} then centre crop`;
  return `${size}, stretched (aspect ratio not kept)`;
}

/** Decides head and preprocessing for a model, with the reasons. Errors are one-line RtinferErrors. */
export function planVision(options: PlanOptions): VisionPlan {
  const metadata = options.metadata ?? {};
  const input = options.inputs[0];
  if (input === undefined) throw new RtinferError('RTI_ERR_ARG_MISSING', 'a vision model needs an image input');
  const choice = resolveTask(options.task, options.inputs, options.outputs, metadata);
  const { head } = choice;
  const fromInput = inferInputLayout(input, metadata);
  const layers: Array<[string, Partial<PreprocessConfig> | undefined]> = [
    [`the ${head.name} head's default`, head.defaults],
    [choice.preprocessSource ?? 'metadata', choice.preprocess],
    ['the input', fromInput.fields],
    ['your options', options.preprocess],
  ];
  const config = resolvePreprocessConfig(...layers.map(([, l]) => l));
  const fixed = fromInput.fields;
  if (
    (fixed.width !== undefined && config.width !== fixed.width) ||
    (fixed.height !== undefined && config.height !== fixed.height)
  ) {
    throw new RtinferError(
      'RTI_ERR_SHAPE_MISMATCH',
      `preprocess size ${config.width}x${config.height} does not fit input ` +
        `'${input.name}' ${describeShape(input.shape)}`,
    );
  }
  const source = (...keys: Array<keyof PreprocessConfig>): string => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const l = layers[i]![1];
      if (l !== undefined && keys.some((k) => l[k] !== undefined)) return layers[i]![0];
    }
    return 'the default';
  };
  const explanation = [
    `head ${head.name} (${head.task}): ${choice.reason}`,
    ...fromInput.notes,
    `resize ${describeResize(config)}: ${source('resize', 'anchor', 'padValue', 'shortestEdge')}` +
      (config.width === null && config.height === null
        ? ''
        : source('width') === source('height')
          ? `; size from ${source('width')}`
          : `; width from ${source('width')}, height from ${source('height')}`),
    config.channels === 1
      ? 'colour grey (luma): one channel'
      : `colour ${config.channelOrder.toUpperCase()}: ${source('channelOrder')}`,
    `values ${describeValues(config)}: ${source('rescale', 'mean', 'std')}`,
  ];
  return { choice, config, explanation };
}
