/**
 * What multi-level (one output per stride) heads share: reading a level's channels at a grid
 * position whatever the tensor layout, the levels' strides from the input size, sigmoid with the
 * threshold compared in logit space, and the distribution-focal (DFL / GFL integral) expectation.
 *
 * A level is `rows × cols` grid cells with `anchors` priors per cell; its tensor is either
 * channel-major [B, C, H, W] (raw conv outputs) or position-major [B, H·W·A, C] / [H·W·A, C]
 * (exports that flatten and transpose), read through the same (chStep, posStep) pair.
 */
import type { OutputTensor } from '../types.js';
import { batchOffset, floatData, headMismatch } from './head.js';

export interface LevelView {
  data: Float32Array;
  /** Element offset of this batch item. */
  base: number;
  /** Distance between consecutive channels and between consecutive positions. */
  chStep: number;
  posStep: number;
  channels: number;
  rows: number;
  cols: number;
  /** Priors per cell (SCRFD 2, YOLO-FastestV2 3 in its channels, most 1). */
  anchors: number;
  /** Tensor pixels per cell, x and y. */
  strideX: number;
  strideY: number;
}

/** A 4-D level view's arguments: head and output names (for errors), tensor, batch item, input size. */
type GridViewArgs = [
  head: string,
  name: string,
  t: OutputTensor,
  batch: number,
  input: { width: number; height: number },
];

/** [B, C, H, W] → a channel-major view. */
export function chwView(...args: GridViewArgs): LevelView {
  return gridView(true, ...args);
}

/** [B, H, W, C] → a position-major view. */
export function hwcView(...args: GridViewArgs): LevelView {
  return gridView(false, ...args);
}

function gridView(channelMajor: boolean, ...[head, name, t, batch, input]: GridViewArgs): LevelView {
  if (t.dims.length !== 4)
    headMismatch(
      head,
      `output '${name}' has dims [${t.dims.join(',')}], expected ${channelMajor ? '[B, C, H, W]' : '[B, H, W, C]'}`,
    );
  const [, d1, d2, d3] = t.dims as [number, number, number, number];
  const [channels, rows, cols] = channelMajor ? [d1, d2, d3] : [d3, d1, d2];
  return {
    data: floatData(head, name, t),
    base: batchOffset(head, name, t.dims, batch),
    chStep: channelMajor ? rows * cols : 1,
    posStep: channelMajor ? 1 : channels,
    channels,
    rows,
    cols,
    anchors: 1,
    strideX: input.width / cols,
    strideY: input.height / rows,
  };
}

/** [B, N, C] or [N, C] with N = rows·cols·anchors → a position-major view of one level. */
export function flatView(
  head: string,
  name: string,
  t: OutputTensor,
  batch: number,
  level: { rows: number; cols: number; anchors: number; stride: number },
): LevelView {
  const d = t.dims;
  if (d.length !== 2 && d.length !== 3)
    headMismatch(head, `output '${name}' has dims [${d.join(',')}], expected [B, N, C] or [N, C]`);
  const n = d[d.length - 2]!;
  const c = d[d.length - 1]!;
  if (n !== level.rows * level.cols * level.anchors)
    headMismatch(
      head,
      `output '${name}' has ${n} rows, the ${level.cols}x${level.rows} grid at stride ${level.stride} ` +
        `with ${level.anchors} per cell needs ${level.rows * level.cols * level.anchors}`,
    );
  const base = d.length === 3 ? batchOffset(head, name, d, batch) : 0;
  return {
    data: floatData(head, name, t),
    base,
    chStep: 1,
    posStep: c,
    channels: c,
    rows: level.rows,
    cols: level.cols,
    anchors: level.anchors,
    strideX: level.stride,
    strideY: level.stride,
  };
}

/** Value of channel `ch` at position `pos` (pos = (row · cols + col) · anchors + a). */
export function at(v: LevelView, pos: number, ch: number): number {
  return v.data[v.base + pos * v.posStep + ch * v.chStep]!;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** The logit of a probability threshold: sigmoid(x) >= t ⇔ x >= logit(t), so scans skip exp. */
export function logit(t: number): number {
  const p = Math.min(Math.max(t, 1e-7), 1 - 1e-7);
  return Math.log(p / (1 - p));
}

/**
 * The expectation of a discrete distribution over 0..bins-1 given by logits at channels
 * ch0..ch0+bins-1 (softmax first): YOLOv8's DFL and GFL/NanoDet's Integral, in cells.
 */
export function integral(v: LevelView, pos: number, ch0: number, bins: number): number {
  const o = v.base + pos * v.posStep + ch0 * v.chStep;
  const step = v.chStep;
  let max = -Infinity;
  for (let i = 0; i < bins; i++) max = Math.max(max, v.data[o + i * step]!);
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < bins; i++) {
    const e = Math.exp(v.data[o + i * step]! - max);
    sum += e;
    weighted += i * e;
  }
  return weighted / sum;
}

/** Grid sizes of each stride for an input: ceil (NanoDet: padded feature maps) or floor. */
export function gridsFor(
  input: { width: number; height: number },
  strides: readonly number[],
  round: (x: number) => number = Math.ceil,
): Array<{ stride: number; rows: number; cols: number }> {
  return strides.map((stride) => ({ stride, rows: round(input.height / stride), cols: round(input.width / stride) }));
}

/** Parses metadata like "[5, 3]" or "5,3" into numbers; undefined when absent or not numbers. */
export function parseInts(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const nums = text.match(/\d+/g)?.map(Number);
  return nums === undefined || nums.length === 0 ? undefined : nums;
}
