/**
 * A head described as data, for a detector no built-in head knows (the `head` of a model's sidecar
 * config, or `headFromSpec()` in code): which outputs hold what at each stride, and how to decode.
 *
 *   strides          one per level, e.g. [8, 16, 32]
 *   levels           per level, the outputs by role: box, score, and optionally objectness and
 *                    keypoints; a role is "name", "name[start:end]" (channels end-exclusive), or
 *                    { output, channels: [start, count], anchorStep } (see below)
 *   anchors          "free" (default) or per level a list of [w, h] anchors in input pixels
 *   priorsPerCell    anchor-free priors per cell (SCRFD: 2); anchor-based: the anchors' count
 *   centerOffset     prior centre = (cell + centerOffset) · stride (YOLOv8 0.5, SCRFD/NanoDet/YuNet 0)
 *   box              'ltrb' (distances · stride), 'dfl' (ltrb as an integral over regMax bins),
 *                    'xywh-exp' (centre + d · stride, size exp(d) · stride), 'yolo' (centre + (2v −
 *                    0.5) · stride, size (2v)² · anchor), 'cxcywh' or 'xyxy' (already in pixels)
 *   boxActivation    'none' (default) or 'sigmoid', applied to box values before decoding
 *   activation       scores: 'sigmoid', 'softmax' or 'none' (default: already probabilities)
 *   objectness       how objectness joins the class score: 'multiply' (default) or 'sqrt' (√(c·o))
 *   keypoints        count; keypointValues 2 or 3 (x, y[, visibility logit]); keypointEncoding
 *                    'offset' (prior + v · stride) or 'yolov8' ((cell + 2v) · stride)
 *   regMax           DFL bins per side (16)
 *   labels           class names
 *
 * Tensor layouts are read from each output's dims: [B, C, H, W], [B, H, W, C], or [B, N, C] /
 * [N, C] with N = H·W·priors (priors of a cell consecutive). With several priors in a spatial
 * layout, a role's channels for prior a start at start + a · anchorStep (default: the role's
 * channel count, i.e. grouped per prior; 0 for channels the priors share).
 */
import { RtinferError } from '../../errors.js';
import { SCALING, resolvePreprocessConfig, type PreprocessConfig } from '../config.js';
import { detectorLabels } from '../labels.js';
import type { ImageTransform } from '../geometry.js';
import type { HeadResult, ModelOutputs, OutputTensor, TensorMeta } from '../types.js';
import { Candidates, classFilter, finishDetections } from './candidates.js';
import { batchOffset, floatData, headMismatch, type DecodeOptions, type VisionHead } from './head.js';
import { integral, sigmoid, type LevelView } from './grid.js';

export interface RoleRef {
  output: string;
  channels?: [start: number, count: number];
  anchorStep?: number;
}

export interface HeadSpec {
  name?: string;
  strides: number[];
  levels: Array<{
    box: string | RoleRef;
    score: string | RoleRef;
    objectness?: string | RoleRef;
    keypoints?: string | RoleRef;
  }>;
  anchors?: 'free' | number[][][];
  priorsPerCell?: number;
  centerOffset?: number;
  box: 'ltrb' | 'dfl' | 'xywh-exp' | 'yolo' | 'cxcywh' | 'xyxy';
  boxActivation?: 'none' | 'sigmoid';
  activation?: 'sigmoid' | 'softmax' | 'none';
  objectness?: 'multiply' | 'sqrt';
  keypoints?: number;
  keypointValues?: 2 | 3;
  keypointEncoding?: 'offset' | 'yolov8';
  regMax?: number;
  labels?: string[];
  /** Preprocessing for this family (default: Ultralytics-like letterbox, RGB, x / 255). */
  preprocess?: Partial<PreprocessConfig>;
  /** Thresholds (default: 0.25 score, 0.45 NMS). */
  decode?: Partial<DecodeOptions>;
}

const BOXES = ['ltrb', 'dfl', 'xywh-exp', 'yolo', 'cxcywh', 'xyxy'] as const;

function bad(field: string, expected: string, value?: unknown): never {
  const shown = value === undefined ? '' : ` ${JSON.stringify(value)}`;
  throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid head spec ${field}${shown} (expected ${expected})`);
}

function parseRef(field: string, ref: unknown): RoleRef {
  if (typeof ref === 'string') {
    const m = /^(.+?)(?:\[(\d+):(\d+)\])?$/.exec(ref);
    if (m === null || m[1] === '') bad(field, '"name" or "name[start:end]"', ref);
    if (m[2] === undefined) return { output: m[1]! };
    const start = Number(m[2]);
    const end = Number(m[3]);
    if (end <= start) bad(field, 'a channel range with end > start', ref);
    return { output: m[1]!, channels: [start, end - start] };
  }
  if (typeof ref !== 'object' || ref === null || typeof (ref as RoleRef).output !== 'string')
    bad(field, '"name", "name[start:end]" or { output, channels, anchorStep }', ref);
  const r = ref as RoleRef;
  if (
    r.channels !== undefined &&
    !(
      Array.isArray(r.channels) &&
      r.channels.length === 2 &&
      r.channels.every((n) => Number.isInteger(n) && n >= 0) &&
      r.channels[1] > 0
    )
  )
    bad(`${field}.channels`, '[start, count]', r.channels);
  if (r.anchorStep !== undefined && !(Number.isInteger(r.anchorStep) && r.anchorStep >= 0))
    bad(`${field}.anchorStep`, 'an integer >= 0', r.anchorStep);
  return r;
}

/** Checks a spec (from JSON or YAML) and returns it typed; errors name the field. */
export function validateHeadSpec(raw: unknown): HeadSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('', 'an object');
  const s = raw as Record<string, unknown>;
  const strides = s['strides'];
  if (!Array.isArray(strides) || strides.length === 0 || !strides.every((x) => typeof x === 'number' && x > 0))
    bad('strides', 'a list of positive numbers', strides);
  const levels = s['levels'];
  if (!Array.isArray(levels) || levels.length !== strides.length)
    bad('levels', `one entry per stride (${strides.length})`, undefined);
  const parsed = levels.map((l: unknown, i: number) => {
    if (typeof l !== 'object' || l === null) bad(`levels[${i}]`, 'an object with box and score');
    const o = l as Record<string, unknown>;
    if (o['box'] === undefined || o['score'] === undefined) bad(`levels[${i}]`, 'box and score outputs');
    return {
      box: parseRef(`levels[${i}].box`, o['box']),
      score: parseRef(`levels[${i}].score`, o['score']),
      ...(o['objectness'] !== undefined ? { objectness: parseRef(`levels[${i}].objectness`, o['objectness']) } : {}),
      ...(o['keypoints'] !== undefined ? { keypoints: parseRef(`levels[${i}].keypoints`, o['keypoints']) } : {}),
    };
  });
  if (!BOXES.includes(s['box'] as never)) bad('box', BOXES.join(' | '), s['box']);
  const anchors = s['anchors'] ?? 'free';
  if (
    anchors !== 'free' &&
    !(
      Array.isArray(anchors) &&
      anchors.length === strides.length &&
      anchors.every(
        (l) =>
          Array.isArray(l) &&
          l.length > 0 &&
          l.every((a) => Array.isArray(a) && a.length === 2 && a.every((v) => typeof v === 'number' && v > 0)),
      )
    )
  ) {
    bad('anchors', `"free" or per stride a list of [w, h] (${strides.length} lists)`, anchors);
  }
  if (s['box'] === 'yolo' && anchors === 'free') bad('anchors', 'anchors for box "yolo" (its sizes scale anchors)');
  const oneOf = <T>(field: string, allowed: readonly T[], fallback: T): T => {
    const v = s[field] ?? fallback;
    if (!allowed.includes(v as T)) bad(field, allowed.join(' | '), v);
    return v as T;
  };
  const int = (field: string, fallback: number, min: number): number => {
    const v = s[field] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad(field, `an integer >= ${min}`, v);
    return v;
  };
  const centerOffset = s['centerOffset'] ?? 0.5;
  if (typeof centerOffset !== 'number') bad('centerOffset', 'a number', centerOffset);
  if (s['labels'] !== undefined && !(Array.isArray(s['labels']) && s['labels'].every((x) => typeof x === 'string')))
    bad('labels', 'a list of strings', s['labels']);
  if (s['name'] !== undefined && (typeof s['name'] !== 'string' || s['name'] === ''))
    bad('name', 'a non-empty string', s['name']);
  return {
    ...(typeof s['name'] === 'string' ? { name: s['name'] } : {}),
    strides: strides as number[],
    levels: parsed,
    anchors: anchors as HeadSpec['anchors'],
    priorsPerCell: anchors === 'free' ? int('priorsPerCell', 1, 1) : (anchors as number[][][])[0]!.length,
    centerOffset,
    box: s['box'] as HeadSpec['box'],
    boxActivation: oneOf('boxActivation', ['none', 'sigmoid'] as const, 'none'),
    activation: oneOf('activation', ['sigmoid', 'softmax', 'none'] as const, 'none'),
    objectness: oneOf('objectness', ['multiply', 'sqrt'] as const, 'multiply'),
    keypoints: int('keypoints', 0, 0),
    keypointValues: oneOf('keypointValues', [2, 3] as const, 2),
    keypointEncoding: oneOf('keypointEncoding', ['offset', 'yolov8'] as const, 'offset'),
    regMax: int('regMax', 16, 1),
    ...(Array.isArray(s['labels']) ? { labels: s['labels'] as string[] } : {}),
    ...(s['preprocess'] !== undefined ? { preprocess: s['preprocess'] as Partial<PreprocessConfig> } : {}),
    ...(s['decode'] !== undefined ? { decode: s['decode'] as Partial<DecodeOptions> } : {}),
  };
}

/** A role's values at (cell, prior): channel k of the role for that prior. */
interface RoleView {
  view: LevelView;
  start: number;
  count: number;
  anchorStep: number;
  flat: boolean;
}

function roleView(
  head: string,
  ref: RoleRef,
  outputs: ReadonlyMap<string, OutputTensor>,
  batch: number,
  rows: number,
  cols: number,
  priors: number,
): RoleView {
  const t =
    outputs.get(ref.output) ??
    headMismatch(
      head,
      `the spec names output '${ref.output}', which the model does not return (it ` +
        `returns ${[...outputs.keys()].join(', ')})`,
    );
  const d = t.dims;
  const data = floatData(head, ref.output, t);
  let view: LevelView;
  let flat = false;
  if (d.length === 4 && d[2] === rows && d[3] === cols) {
    view = {
      data,
      base: batchOffset(head, ref.output, d, batch),
      chStep: rows * cols,
      posStep: 1,
      channels: d[1]!,
      rows,
      cols,
      anchors: priors,
      strideX: 0,
      strideY: 0,
    };
  } else if (d.length === 4 && d[1] === rows && d[2] === cols) {
    view = {
      data,
      base: batchOffset(head, ref.output, d, batch),
      chStep: 1,
      posStep: d[3]!,
      channels: d[3]!,
      rows,
      cols,
      anchors: priors,
      strideX: 0,
      strideY: 0,
    };
  } else if ((d.length === 2 || d.length === 3) && d[d.length - 2] === rows * cols * priors) {
    flat = true;
    view = {
      data,
      base: d.length === 3 ? batchOffset(head, ref.output, d, batch) : 0,
      chStep: 1,
      posStep: d[d.length - 1]!,
      channels: d[d.length - 1]!,
      rows,
      cols,
      anchors: priors,
      strideX: 0,
      strideY: 0,
    };
  } else {
    return headMismatch(
      head,
      `output '${ref.output}' [${d.join(',')}] is not a ${cols}x${rows} ` +
        `grid${priors > 1 ? ` with ${priors} priors per cell` : ''} ([B,C,H,W], [B,H,W,C] or [B,N,C])`,
    );
  }
  const [start, count] = ref.channels ?? [0, view.channels];
  if (start + count > view.channels)
    headMismatch(
      head,
      `output '${ref.output}' has ${view.channels} channels, the spec reads ${start}..${start + count - 1}`,
    );
  return { view, start, count, anchorStep: flat ? 0 : (ref.anchorStep ?? (priors > 1 ? count : 0)), flat };
}

/** Element offset of role channel k at cell p, prior a. */
function offset(r: RoleView, p: number, a: number, k: number): number {
  const v = r.view;
  const pos = r.flat ? p * v.anchors + a : p;
  return v.base + pos * v.posStep + (r.start + a * r.anchorStep + k) * v.chStep;
}

/** A VisionHead that decodes the outputs a spec describes; matches models that return every named output. */
export function headFromSpec(input: HeadSpec | unknown): VisionHead {
  const spec = validateHeadSpec(input);
  const name = spec.name ?? 'spec';
  const names = new Set(
    spec.levels.flatMap((l) =>
      [l.box, l.score, l.objectness, l.keypoints]
        .filter((r): r is RoleRef => r !== undefined)
        .map((r) => (r as RoleRef).output),
    ),
  );
  const decoder = new SpecDecoder(spec, name);
  return {
    name,
    task: 'detect',
    expects: `the outputs its spec names (${[...names].join(', ')})`,
    defaults: resolvePreprocessConfig(
      {
        width: 640,
        height: 640,
        resize: 'letterbox',
        anchor: 'center',
        padValue: 114,
        channelOrder: 'rgb',
        ...SCALING.unit,
      },
      spec.preprocess,
    ),
    decodeDefaults: { scoreThreshold: 0.25, iouThreshold: 0.45, ...(spec.decode ?? {}) },
    matches(outputs: readonly TensorMeta[]): boolean {
      const have = new Set(outputs.map((o) => o.name));
      return [...names].every((n) => have.has(n));
    },
    decode: (outputs, transform, options) => decoder.decode(outputs, transform, options),
  };
}

/** One grid level as decode walks it. */
interface Level {
  stride: number;
  cols: number;
  /** The level's anchors (w, h) per prior, for the 'yolo' box. */
  anchors: number[][] | undefined;
  priors: number;
}

/**
 * Decodes a spec's outputs: every level, cell and prior scored, and the ones over the threshold
 * boxed (with keypoints) into the candidates. One per head, reusing its buffers across images.
 */
class SpecDecoder {
  readonly #spec: HeadSpec;
  readonly #name: string;
  readonly #candidates = new Candidates();
  readonly #scoreBuf: number[] = [];
  /** The box #box decoded last, x1 y1 x2 y2. */
  readonly #xyxy = [0, 0, 0, 0];
  /** The class #score picked last. */
  #cls = 0;

  constructor(spec: HeadSpec, name: string) {
    this.#spec = spec;
    this.#name = name;
  }

  decode(outputs: ModelOutputs, transform: ImageTransform, options: DecodeOptions): HeadResult {
    const spec = this.#spec;
    const map = new Map(Object.entries(outputs));
    const keep = classFilter(options.classes);
    let classes = 0;
    this.#candidates.reset(spec.keypoints ?? 0);
    spec.levels.forEach((level, li) => {
      classes = this.#level(level, li, map, transform, options, keep);
    });
    return {
      task: 'detect',
      detections: finishDetections(
        this.#candidates,
        transform,
        options,
        options.labels ?? spec.labels ?? detectorLabels(undefined, classes),
      ),
    };
  }

  /** One level's candidates; returns its class count. */
  #level(
    roles: HeadSpec['levels'][number],
    li: number,
    outputs: ReadonlyMap<string, OutputTensor>,
    transform: ImageTransform,
    options: DecodeOptions,
    keep: ReturnType<typeof classFilter>,
  ): number {
    const spec = this.#spec;
    const stride = spec.strides[li]!;
    const rows = Math.ceil(transform.input.height / stride);
    const cols = Math.ceil(transform.input.width / stride);
    const anchors = spec.anchors === 'free' || spec.anchors === undefined ? undefined : spec.anchors[li]!;
    const priors = anchors?.length ?? spec.priorsPerCell ?? 1;
    const level: Level = { stride, cols, anchors, priors };
    const role = (r: string | RoleRef): RoleView =>
      roleView(this.#name, r as RoleRef, outputs, options.batchIndex, rows, cols, priors);
    const box = role(roles.box);
    const score = role(roles.score);
    const obj = roles.objectness === undefined ? undefined : role(roles.objectness);
    const kps = roles.keypoints === undefined ? undefined : role(roles.keypoints);
    const offsetC = spec.centerOffset ?? 0.5;
    for (let p = 0; p < rows * cols; p++) {
      const col = p % cols;
      const row = (p - col) / cols;
      const px = (col + offsetC) * stride;
      const py = (row + offsetC) * stride;
      for (let a = 0; a < priors; a++) {
        const best = this.#score(score, obj, p, a, keep);
        if (!(best >= options.scoreThreshold)) continue;
        this.#box(box, level, p, a, px, py);
        const [x1, y1, x2, y2] = this.#xyxy;
        this.#candidates.push(x1!, y1!, x2!, y2!, best, this.#cls);
        if (kps !== undefined) this.#keypoints(kps, level, p, a, px, py);
      }
    }
    return score.count;
  }

  /** The best kept class score at (p, a), times the objectness if any; the class goes to #cls. */
  #score(
    score: RoleView,
    obj: RoleView | undefined,
    p: number,
    a: number,
    keep: ReturnType<typeof classFilter>,
  ): number {
    const spec = this.#spec;
    const scoreBuf = this.#scoreBuf;
    // Class scores, activated; the best one that the filter keeps.
    let best = -Infinity;
    let cls = 0;
    scoreBuf.length = 0;
    for (let k = 0; k < score.count; k++) scoreBuf.push(score.view.data[offset(score, p, a, k)]!);
    if (spec.activation === 'softmax') {
      const m = Math.max(...scoreBuf);
      let sum = 0;
      for (let k = 0; k < scoreBuf.length; k++) sum += scoreBuf[k] = Math.exp(scoreBuf[k]! - m);
      for (let k = 0; k < scoreBuf.length; k++) scoreBuf[k] = scoreBuf[k]! / sum;
    }
    for (let k = 0; k < scoreBuf.length; k++) {
      if (keep !== undefined && keep[k] !== 1) continue;
      const v = spec.activation === 'sigmoid' ? sigmoid(scoreBuf[k]!) : scoreBuf[k]!;
      if (v > best) {
        best = v;
        cls = k;
      }
    }
    if (obj !== undefined) {
      const o = obj.view.data[offset(obj, p, a, 0)]!;
      const ov = spec.activation === 'sigmoid' ? sigmoid(o) : o;
      best = spec.objectness === 'sqrt' ? Math.sqrt(Math.max(0, best) * Math.max(0, ov)) : best * ov;
    }
    this.#cls = cls;
    return best;
  }

  /** The box at (p, a) in input pixels, into #xyxy; (px, py) is the cell's centre. */
  #box(box: RoleView, level: Level, p: number, a: number, px: number, py: number): void {
    const spec = this.#spec;
    const { stride, anchors, priors } = level;
    const data = box.view.data;
    const b = (k: number): number => {
      const x = data[offset(box, p, a, k)]!;
      return spec.boxActivation === 'sigmoid' ? sigmoid(x) : x;
    };
    const out = this.#xyxy;
    switch (spec.box) {
      case 'ltrb':
      case 'dfl': {
        const side = (k: number): number =>
          spec.box === 'dfl'
            ? integral(
                box.view,
                box.flat ? p * priors + a : p,
                box.start + a * box.anchorStep + k * spec.regMax!,
                spec.regMax!,
              )
            : b(k);
        setBox(out, px - side(0) * stride, py - side(1) * stride, px + side(2) * stride, py + side(3) * stride);
        break;
      }
      case 'xywh-exp': {
        const cx = px + b(0) * stride;
        const cy = py + b(1) * stride;
        const w = Math.exp(b(2)) * stride;
        const h = Math.exp(b(3)) * stride;
        setBox(out, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
        break;
      }
      case 'yolo': {
        const an = anchors![a]!;
        const cx = px + (b(0) * 2 - 0.5) * stride;
        const cy = py + (b(1) * 2 - 0.5) * stride;
        const w = (b(2) * 2) ** 2 * an[0]!;
        const h = (b(3) * 2) ** 2 * an[1]!;
        setBox(out, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
        break;
      }
      case 'cxcywh':
        setBox(out, b(0) - b(2) / 2, b(1) - b(3) / 2, b(0) + b(2) / 2, b(1) + b(3) / 2);
        break;
      default:
        setBox(out, b(0), b(1), b(2), b(3));
    }
  }

  /** The keypoints at (p, a) onto the candidate just pushed. */
  #keypoints(kps: RoleView, level: Level, p: number, a: number, px: number, py: number): void {
    const spec = this.#spec;
    const kv = spec.keypointValues ?? 2;
    const { stride, cols } = level;
    const col = p % cols;
    const row = (p - col) / cols;
    // yolov8: (2v + col) · stride from the cell's corner; offset: the prior + v · stride.
    const v8 = spec.keypointEncoding === 'yolov8';
    const [kx, ky, ks] = v8 ? [col * stride, row * stride, 2 * stride] : [px, py, stride];
    for (let k = 0; k < (spec.keypoints ?? 0); k++) {
      const at = (j: number): number => kps.view.data[offset(kps, p, a, k * kv + j)]!;
      this.#candidates.setKeypoint(k, kx + at(0) * ks, ky + at(1) * ks, kv === 3 ? sigmoid(at(2)) : NaN);
    }
  }
}

function setBox(out: number[], x1: number, y1: number, x2: number, y2: number): void {
  out[0] = x1;
  out[1] = y1;
  out[2] = x2;
  out[3] = y2;
}
