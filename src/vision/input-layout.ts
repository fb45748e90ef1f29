/**
 * What the model's image input says about preprocessing, with the reason for each conclusion:
 * layout (NCHW / NHWC), channels (1 grey, 3 colour, 4 with alpha), size, dtype, and what its
 * metadata_props and input name add (channel order, mean/std). A head's family defaults sit
 * under these; the caller's options over them (see plan.ts).
 *
 * Layout from the shape [N, a, b, c]: the channel dimension is the one holding 1, 3 or 4 while
 * the other side's is a spatial size. [1,1,28,28] is grey NCHW (the MNIST layout), [1,224,224,3]
 * NHWC (TensorFlow / Keras exports), [1,3,640,640] NCHW (PyTorch). When both ends could be
 * channels ([1,3,4,4]) or neither is known, NCHW wins: PyTorch is where most ONNX files come from.
 */
import { RtinferError } from '../errors.js';
import type { PreprocessConfig, Rgb } from './config.js';
import { describeShape, type ModelMetadata } from './heads/head.js';
import type { TensorMeta } from './types.js';

export interface InputLayout {
  fields: Partial<PreprocessConfig>;
  /** One line per conclusion, saying why. */
  notes: string[];
}

const CHANNELS = [1, 3, 4];

function channelDim(d: number | string | undefined): boolean {
  return typeof d === 'number' && CHANNELS.includes(d);
}

/** The layout of a rank-4 (or rank-3, batchless) image input, and the reason. */
function layoutOf(input: TensorMeta): {
  layout: 'nchw' | 'nhwc';
  channels: 1 | 3 | 4;
  h: number | string | undefined;
  w: number | string | undefined;
  why: string;
} {
  const s = input.shape;
  const spatial = s.length === 4 ? s.slice(1) : s;
  const [a, b, c] = spatial;
  const name = input.name.toLowerCase();
  const nchw = (ch: number | string | undefined, why: string) => ({
    layout: 'nchw' as const,
    channels: (channelDim(ch) ? ch : 3) as 1 | 3 | 4,
    h: b,
    w: c,
    why,
  });
  const nhwc = (ch: number | string | undefined, why: string) => ({
    layout: 'nhwc' as const,
    channels: (channelDim(ch) ? ch : 3) as 1 | 3 | 4,
    h: a,
    w: b,
    why,
  });
  if (/nhwc/.test(name)) return nhwc(c, `the input name '${input.name}' says NHWC`);
  if (/nchw/.test(name)) return nchw(a, `the input name '${input.name}' says NCHW`);
  const aIs = channelDim(a);
  const cIs = channelDim(c);
  if (aIs && !cIs) return nchw(a, `dim ${s.length - 3} is ${String(a)}, a channel count, and the last is a width`);
  if (cIs && !aIs) return nhwc(c, `the last dim is ${String(c)}, a channel count, and dim ${s.length - 3} is a height`);
  if (aIs && cIs)
    return nchw(a, `dims ${s.length - 3} and ${s.length - 1} could both be channels; NCHW (PyTorch's layout) assumed`);
  return nchw(3, "no dim is fixed to 1, 3 or 4: NCHW with 3 channels assumed (PyTorch's layout)");
}

function parseTriple(text: string | undefined): Rgb | undefined {
  if (text === undefined) return undefined;
  const nums = text.match(/-?\d+(?:\.\d+)?(?:e-?\d+)?/gi)?.map(Number);
  if (nums === undefined || nums.length === 0) return undefined;
  if (nums.length === 1) return [nums[0]!, nums[0]!, nums[0]!];
  return nums.length === 3 ? [nums[0]!, nums[1]!, nums[2]!] : undefined;
}

/** Preprocessing hints in metadata_props that some exporters write (mean/std, channel order). */
function metadataHints(metadata: ModelMetadata, notes: string[]): Partial<PreprocessConfig> {
  const out: Partial<PreprocessConfig> = {};
  const order =
    metadata['channel_order'] ?? metadata['color_order'] ?? metadata['colour_order'] ?? metadata['color_format'];
  if (order !== undefined && /^(rgb|bgr)$/i.test(order.trim())) {
    out.channelOrder = order.trim().toLowerCase() as 'rgb' | 'bgr';
    notes.push(`colour order ${out.channelOrder.toUpperCase()}: metadata says ${order.trim()}`);
  }
  const mean = parseTriple(metadata['mean'] ?? metadata['mean_values']);
  const std = parseTriple(metadata['std'] ?? metadata['scale_values']);
  if (mean !== undefined || std !== undefined) {
    // Values above 1 are in pixel units (0..255, OpenVINO's mean_values); below, in units of 1/255.
    const pixelUnits = [...(mean ?? []), ...(std ?? [])].some((v) => Math.abs(v) > 1);
    out.rescale = pixelUnits ? 1 : 1 / 255;
    out.mean = mean ?? [0, 0, 0];
    out.std = std ?? [1, 1, 1];
    notes.push(
      `values (x${pixelUnits ? '' : ' / 255'} − mean) / std with mean [${out.mean.join(', ')}], std ` +
        `[${out.std.join(', ')}]: from metadata`,
    );
  }
  return out;
}

/** The input's layout, channels, size and dtype (and metadata's preprocessing hints), with reasons. */
export function inferInputLayout(input: TensorMeta, metadata: ModelMetadata = {}): InputLayout {
  const s = input.shape;
  if (s.length !== 4 && s.length !== 3) {
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `a vision model needs an image input [N,C,H,W] or [N,H,W,C], but input '${input.name}' is ${describeShape(s)}`,
    );
  }
  const notes: string[] = [];
  const l = layoutOf(input);
  const fields: Partial<PreprocessConfig> = { layout: l.layout, channels: l.channels };
  notes.push(
    `layout ${l.layout.toUpperCase()}, ${l.channels} ` +
      `channel${l.channels === 1 ? ' (grey)' : l.channels === 4 ? 's (colour + opaque alpha)' : 's'}: input ` +
      `'${input.name}' ${describeShape(s)}, ${l.why}`,
  );
  const fixedH = typeof l.h === 'number' && l.h > 0 ? l.h : undefined;
  const fixedW = typeof l.w === 'number' && l.w > 0 ? l.w : undefined;
  if (fixedH !== undefined && fixedW !== undefined) {
    fields.height = fixedH;
    fields.width = fixedW;
    notes.push(`size ${fixedW}x${fixedH} (WxH): fixed by the input shape`);
  } else if (fixedH !== undefined || fixedW !== undefined) {
    // One fixed side (a text-line recogniser's height 48) wins over any head's default size too.
    if (fixedH !== undefined) fields.height = fixedH;
    if (fixedW !== undefined) fields.width = fixedW;
    notes.push(
      fixedH !== undefined
        ? `height ${fixedH}: fixed by the input shape (the width is dynamic)`
        : `width ${fixedW}: fixed by the input shape (the height is dynamic)`,
    );
  }
  if (input.dtype === 'float16' || input.dtype === 'float32') fields.dtype = input.dtype;
  else if (input.dtype === 'uint8') {
    Object.assign(fields, { dtype: 'uint8', rescale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    notes.push('values raw 0..255: the input is uint8');
  } else if (input.dtype !== undefined) {
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `input '${input.name}' is ${input.dtype}: images go to float32, float16 or uint8 inputs`,
    );
  }
  const name = input.name.toLowerCase();
  if (/bgr/.test(name)) {
    fields.channelOrder = 'bgr';
    notes.push(`colour order BGR: the input name '${input.name}' says so`);
  } else if (/rgb/.test(name)) {
    fields.channelOrder = 'rgb';
    notes.push(`colour order RGB: the input name '${input.name}' says so`);
  }
  Object.assign(fields, metadataHints(metadata, notes));
  return { fields, notes };
}
