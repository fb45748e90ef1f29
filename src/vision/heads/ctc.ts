/**
 * CTC text-line recognisers (PP-OCR rec, ch_PP-OCRv4_rec_infer.onnx; CRNN-style models): one
 * output [B, T, C], a distribution over C classes for each of T steps along the line, from an image
 * input of a small fixed height (48 for PP-OCRv3/v4, 32 before) and a dynamic or wide width.
 * Decoding as PaddleOCR's CTCLabelDecode: argmax per step, repeats collapsed, the blank (class 0)
 * dropped; the score is the mean of the kept steps' probabilities (0 for an empty line). Class i is
 * the dictionary's line i − 1, and with use_space_char (PP-OCR's default) the last class is a space.
 * Preprocessing as its resize_norm_img: the line scaled to the height, aspect ratio kept, padded on
 * the right to at least 320 (rec_image_shape 3,48,320); BGR as cv2 reads it, (x/255 − 0.5)/0.5.
 * The padding is pixel 128 (0.004 after scaling) where PaddleOCR pads 0 after scaling: the pad
 * value is a whole pixel value here.
 */
import { RtinferError } from '../../errors.js';
import { SCALING, resolvePreprocessConfig } from '../config.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, TensorMeta } from '../types.js';
import { toProbabilities } from './classify.js';
import {
  batchData,
  expectRank,
  firstOutput,
  fixedDim,
  type DecodeOptions,
  type ModelMetadata,
  type VisionHead,
} from './head.js';

/** Taller inputs are not text lines (YOLO and classifier inputs start at 64 and are square-ish). */
const MAX_LINE_HEIGHT = 64;

/** The input's fixed height and its width (undefined when dynamic), for NCHW or NHWC. */
function lineInput(
  inputs: readonly TensorMeta[] | undefined,
): { height: number; width: number | undefined } | undefined {
  const s = inputs?.[0]?.shape;
  if (s === undefined || s.length !== 4) return undefined;
  const nchw = s[1] === 3 || s[1] === 1;
  const height = fixedDim(s, nchw ? 2 : 1);
  return height === undefined || height <= 0 ? undefined : { height, width: fixedDim(s, nchw ? 3 : 2) };
}

/** Class count of a CTC output [B, T, C], when fixed. */
function classCount(outputs: readonly TensorMeta[]): number | undefined {
  const s = outputs[0]?.shape;
  return outputs.length === 1 && s !== undefined && s.length === 3 ? fixedDim(s, 2) : undefined;
}

const characters = new WeakMap<readonly string[], Map<number, readonly string[]>>();

/**
 * The string of each class from a dictionary of `labels.length` entries: C − 1 entries get the
 * blank at 0; C − 2 also the space PP-OCR appends (use_space_char); C are taken as they are.
 */
export function ctcCharacters(labels: readonly string[], classes: number): readonly string[] {
  const cached = characters.get(labels)?.get(classes);
  if (cached !== undefined) return cached;
  const n = labels.length;
  let table: string[];
  if (n === classes) table = [...labels];
  else if (n + 1 === classes) table = ['', ...labels];
  else if (n + 2 === classes) table = ['', ...labels, ' '];
  else
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `invalid labels for the ctc head: ${n} entries for ${classes} classes (expected ${classes - 2}: the ` +
        `dictionary without the blank and the trailing space, ${classes - 1} or ${classes})`,
    );
  table[0] = '';
  let byCount = characters.get(labels);
  if (byCount === undefined) characters.set(labels, (byCount = new Map()));
  byCount.set(classes, table);
  return table;
}

/** The class count C when `head` is the CTC recogniser (its dictionary is looked for beside the model). */
export function ctcClasses(head: VisionHead, outputs: readonly TensorMeta[]): number | undefined {
  return head.name === 'ctc' ? classCount(outputs) : undefined;
}

/**
 * The step's best class, on the raw scores: softmax keeps the order, so the probabilities are
 * needed only for the classes kept (a step of PP-OCRv4 rec is 6,625 scores, a line 40-200 steps).
 */
function bestClass(data: Float32Array, at: number, classes: number): number {
  let best = 0;
  let top = data[at]!;
  for (let c = 1; c < classes; c++) {
    const v = data[at + c]!;
    if (v > top) {
      top = v;
      best = c;
    }
  }
  return best;
}

/** Class `best`'s probability in its step: the score itself when the step already is a distribution. */
function probability(data: Float32Array, at: number, classes: number, best: number): number {
  return toProbabilities(data.subarray(at, at + classes))[best]!;
}

export const ctcHead: VisionHead = {
  name: 'ctc',
  task: 'text',
  expects:
    'one output [B, T, C] of per-step class scores (CTC, blank 0) from an input of fixed height <= 64 ' +
    'and a dynamic or at least twice as wide width (PP-OCR rec, CRNN)',
  defaults: resolvePreprocessConfig({
    width: null,
    height: 48,
    minWidth: 320,
    multipleOf: 1,
    resize: 'letterbox',
    anchor: 'top-left',
    padValue: 128,
    channelOrder: 'bgr',
    ...SCALING.symmetric,
  }),
  // One line per image, however unsure: PaddleOCR's drop_score 0.5 belongs to its whole OCR system.
  decodeDefaults: { scoreThreshold: 0 },
  matches(outputs: readonly TensorMeta[], metadata: ModelMetadata, inputs?: readonly TensorMeta[]): boolean {
    if (metadata['task'] !== undefined) return false;
    const c = classCount(outputs);
    const line = lineInput(inputs);
    if (c === undefined || c < 2 || line === undefined || line.height > MAX_LINE_HEIGHT) return false;
    return line.width === undefined || line.width >= 2 * line.height;
  },
  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const [name, t] = firstOutput('ctc', outputs);
    const [, steps, classes] = expectRank('ctc', name, t, 3) as [number, number, number];
    const { data, base } = batchData('ctc', name, t, options.batchIndex);
    const table = options.labels === undefined ? undefined : ctcCharacters(options.labels, classes);
    let text = '';
    let sum = 0;
    let kept = 0;
    let previous = -1;
    for (let s = 0; s < steps; s++) {
      const at = base + s * classes;
      const best = bestClass(data, at, classes);
      if (best !== 0 && best !== previous) {
        text += table === undefined ? `[${best}]` : table[best]!;
        sum += probability(data, at, classes, best);
        kept++;
      }
      previous = best;
    }
    const score = kept === 0 ? 0 : sum / kept;
    const { width, height } = transform.original;
    return {
      task: 'text',
      texts: score >= options.scoreThreshold ? [{ score, box: [0, 0, width, height], text }] : [],
    };
  },
};
