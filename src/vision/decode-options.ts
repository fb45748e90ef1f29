/**
 * Decode options (thresholds, limits, labels) merged from DEFAULT_DECODE, the head's family
 * defaults and the caller's overrides, and validated once.
 */
import { RtinferError } from '../errors.js';
import { mergeLayers } from './config.js';
import { DEFAULT_DECODE, type DecodeOptions, type VisionHead } from './heads/head.js';

export type { DecodeOptions } from './heads/head.js';
export { DEFAULT_DECODE } from './heads/head.js';

export function decodeDefaultsFor(head: VisionHead): DecodeOptions {
  return { ...DEFAULT_DECODE, ...head.decodeDefaults };
}

function invalid(field: string, value: unknown, expected: string): never {
  throw new RtinferError(
    'RTI_ERR_ARG_INVALID',
    `invalid decode.${field} ${Array.isArray(value) ? `[${value.join(', ')}]` : String(value)} (expected ${expected})`,
  );
}

const UNIT = ['scoreThreshold', 'iouThreshold', 'binaryThreshold'] as const;
const COUNTS = ['maxDetections', 'topK', 'k'] as const;

/** Later layers win field by field; undefined fields are ignored. */
export function resolveDecodeOptions(
  base: DecodeOptions,
  ...layers: ReadonlyArray<Partial<DecodeOptions> | undefined>
): DecodeOptions {
  const o = mergeLayers('decode', DEFAULT_DECODE, base, layers) as unknown as DecodeOptions;
  for (const f of UNIT)
    if (typeof o[f] !== 'number' || !(o[f] >= 0 && o[f] <= 1)) invalid(f, o[f], 'a number from 0 to 1');
  for (const f of COUNTS)
    if (typeof o[f] !== 'number' || !Number.isInteger(o[f]) || o[f] < 1) invalid(f, o[f], 'a positive integer');
  if (!Number.isInteger(o.batchIndex) || o.batchIndex < 0) invalid('batchIndex', o.batchIndex, 'an integer >= 0');
  if (typeof o.unclipRatio !== 'number' || !(o.unclipRatio >= 0))
    invalid('unclipRatio', o.unclipRatio, 'a number >= 0');
  if (typeof o.minSize !== 'number' || !(o.minSize >= 0)) invalid('minSize', o.minSize, 'a number >= 0');
  if (typeof o.agnostic !== 'boolean') invalid('agnostic', o.agnostic, 'true or false');
  if (typeof o.rotated !== 'boolean') invalid('rotated', o.rotated, 'true or false');
  if (!Array.isArray(o.classes) || !o.classes.every((c) => Number.isInteger(c) && c >= 0))
    invalid('classes', o.classes, 'a list of class ids');
  if (o.labels !== undefined && (!Array.isArray(o.labels) || !o.labels.every((l) => typeof l === 'string')))
    invalid('labels', o.labels, 'a list of strings');
  return o;
}
