/**
 * Heads by name, and the choice of a head for a model from its output shapes and metadata_props.
 * An Ultralytics export needs no flags: `task` picks the family, `names` the labels, `imgsz` the
 * input size. Other models are recognised by their output shapes alone.
 */
import { RtinferError } from '../../errors.js';
import { imageSizeFromMetadata } from '../../runtime/metadata.js';
import { SCALING, type PreprocessConfig } from '../config.js';
import { parseNames } from '../labels.js';
import type { TensorMeta } from '../types.js';
import { blazefaceHead } from './blazeface.js';
import { classifyHead } from './classify.js';
import { ctcHead } from './ctc.js';
import { end2endHead } from './end2end.js';
import { describeTensors, type BuiltinHeadName, type HeadName, type ModelMetadata, type VisionHead } from './head.js';
import { fastestv2Head } from './fastestv2.js';
import { nanodetHead } from './nanodet.js';
import { imageHead } from './image.js';
import { obbHead } from './obb.js';
import { poseHead } from './pose.js';
import { segmentHead } from './segment.js';
import { semanticHead } from './semantic.js';
import { scrfdHead } from './scrfd.js';
import { yunetHead } from './yunet.js';
import { ssdHead } from './ssd.js';
import { textHead } from './text.js';
import { yoloHead } from './yolo.js';
import { yolov5Head } from './yolov5.js';
import { yoloxHead } from './yolox.js';
import { yolov8RawHead } from './yolov8-raw.js';

const BUILTIN: readonly VisionHead[] = [
  yoloHead,
  yolov5Head,
  yoloxHead,
  end2endHead,
  ssdHead,
  blazefaceHead,
  classifyHead,
  textHead,
  ctcHead,
  poseHead,
  yolov8RawHead,
  yunetHead,
  scrfdHead,
  nanodetHead,
  fastestv2Head,
  segmentHead,
  semanticHead,
  obbHead,
  imageHead,
];

/** Heads by name: the built-in ones, then those given to registerHead(). */
export const HEADS = Object.fromEntries(BUILTIN.map((h) => [h.name, h])) as Record<BuiltinHeadName, VisionHead>;
const byName = HEADS as Record<string, VisionHead>;

/** Heads added by registerHead(), tried before the built-in ones when a model is matched by shape. */
const registered: VisionHead[] = [];

export const HEAD_NAMES: HeadName[] = Object.keys(HEADS);

export function isHeadName(name: string): name is HeadName {
  return Object.hasOwn(HEADS, name);
}

/**
 * Adds a head for a new family (one object meeting VisionHead): `--task NAME` and the `task`
 * option find it by name, and detection tries its `matches` before the built-in heads' (a head
 * registered for a model knows it better). A name already taken is RTI_ERR_ARG_INVALID.
 */
export function registerHead(head: VisionHead): void {
  if (
    typeof head?.name !== 'string' ||
    head.name === '' ||
    typeof head.matches !== 'function' ||
    typeof head.decode !== 'function'
  ) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      'invalid head: registerHead needs { name, task, expects, defaults, decodeDefaults, matches(), decode() }',
    );
  }
  if (isHeadName(head.name))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid head name '${head.name}': already registered`);
  byName[head.name] = head;
  HEAD_NAMES.push(head.name);
  registered.push(head);
}

/** The head called `name`; an unknown name is RTI_ERR_ARG_INVALID listing the known ones. */
export function getHead(name: string): VisionHead {
  if (!isHeadName(name))
    throw new RtinferError('RTI_ERR_ARG_INVALID', `unknown head '${name}' (known: ${HEAD_NAMES.join(', ')})`);
  return byName[name]!;
}

export interface HeadChoice {
  head: VisionHead;
  /** Why this head: "metadata task=detect", "output shapes", "named". */
  reason: string;
  /** What the metadata says about preprocessing (imgsz; Ultralytics classify's own recipe). */
  preprocess: Partial<PreprocessConfig>;
  /** Where `preprocess` came from, for explanations (default 'metadata'). */
  preprocessSource?: string;
  /** Labels from `names` metadata, when present. */
  labels?: string[];
}

function metadataHints(metadata: ModelMetadata): Pick<HeadChoice, 'preprocess' | 'labels'> {
  const preprocess: Partial<PreprocessConfig> = {};
  const size = imageSizeFromMetadata(metadata);
  if (size !== undefined) {
    preprocess.height = size[0];
    preprocess.width = size[1];
  }
  // Ultralytics classify_transforms: shorter side to imgsz (crop_fraction 1.0), centre crop, /255 only.
  if (metadata['task'] === 'classify') {
    Object.assign(preprocess, { resize: 'crop', ...SCALING.unit });
    if (size !== undefined) preprocess.shortestEdge = Math.max(size[0], size[1]);
  }
  const labels = parseNames(metadata['names']);
  return labels === undefined ? { preprocess } : { preprocess, labels };
}

function pick(
  outputs: readonly TensorMeta[],
  metadata: ModelMetadata,
  inputs: readonly TensorMeta[] | undefined,
): { head: VisionHead; reason: string } | undefined {
  const fits = (h: VisionHead): boolean => h.matches(outputs, metadata, inputs);
  for (const head of registered)
    if (fits(head)) return { head, reason: `registered head '${head.name}' fits the outputs` };
  const task = metadata['task'];
  if (task !== undefined && metadata['names'] !== undefined) {
    const reason = `metadata task=${task}`;
    if (task === 'classify') return fits(classifyHead) ? { head: classifyHead, reason } : undefined;
    if (task === 'segment' && fits(segmentHead))
      return { head: segmentHead, reason: `${reason}, boxes with mask coefficients and prototypes` };
    if (task === 'obb') return fits(obbHead) ? { head: obbHead, reason: `${reason}, rotated boxes` } : undefined;
    if (task === 'pose' && fits(poseHead))
      return { head: poseHead, reason: `${reason}, kpt_shape ${metadata['kpt_shape'] ?? ''}`.trim() };
    if (task === 'detect' || task === 'segment' || task === 'pose') {
      if (fits(end2endHead)) return { head: end2endHead, reason };
      if (fits(yoloHead)) return { head: yoloHead, reason };
      if (fits(yolov8RawHead))
        return { head: yolov8RawHead, reason: `${reason}, one raw output per stride (DFL outside the graph)` };
      return undefined;
    }
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `no head for Ultralytics task '${task}' (supported: detect, segment, pose, obb, classify)`,
    );
  }
  const reason = 'output shapes';
  for (const head of SHAPE_ORDER) if (fits(head)) return { head, reason: SHAPE_REASONS[head.name] ?? reason };
  const yolox = fits(yoloxHead);
  const yolov5 = fits(yolov5Head);
  // Both fit only when the input size is unknown; YOLOv5's exporter writes stride and names.
  if (yolox && yolov5) {
    const v5 = metadata['stride'] !== undefined || metadata['names'] !== undefined;
    return { head: v5 ? yolov5Head : yoloxHead, reason: v5 ? 'output shapes and stride/names metadata' : reason };
  }
  if (yolox)
    return {
      head: yoloxHead,
      reason:
        `${reason}: one [B,N,5+C]` +
        (inputs === undefined ? '' : ', N the cells of strides 8/16/32 at the input size') +
        ' (YOLOX)',
    };
  if (yolov5)
    return {
      head: yolov5Head,
      reason:
        `${reason}: one [B,N,5+C]` +
        (inputs === undefined ? '' : ', N three anchors per cell of strides 8/16/32') +
        ' (YOLOv5)',
    };
  if (fits(classifyHead)) return { head: classifyHead, reason: `${reason}: one [B,C] of class scores` };
  return undefined;
}

/** Heads recognised by output shapes (and names) alone, most specific first. */
const SHAPE_ORDER: readonly VisionHead[] = [
  yunetHead,
  scrfdHead,
  ssdHead,
  blazefaceHead,
  // Before the [B,N,5+C] detectors (YOLOX, YOLOv5, NanoDet) that a [B,T,C] output could pass for.
  ctcHead,
  yolov8RawHead,
  fastestv2Head,
  nanodetHead,
  segmentHead,
  imageHead,
  textHead,
  semanticHead,
  end2endHead,
  yoloHead,
];
const SHAPE_REASONS: Record<string, string> = {
  yunet: 'output names: cls_S, obj_S, bbox_S, kps_S per stride (YuNet)',
  scrfd: 'output shapes: scores [N,1], boxes [N,4] (and landmarks [N,10]) for 3 strides, counts 4:1 apart (SCRFD)',
  fastestv2: 'output shapes: [B,H,W,15+C] per stride with halving grids (YOLO-FastestV2, 3 anchors per cell)',
  nanodet: 'output shapes: one [B,N,C+32], N the cells of strides 8/16/32/64 at the input size (NanoDet-Plus)',
  ssd: 'output shapes: scores [B,N,C] and boxes [B,N,4] over one set of priors',
  blazeface: 'output shapes: regressors [B,896,16] and scores [B,896,1] over BlazeFace anchors',
  'yolov8-raw': 'output shapes: one [B,64+C,H,W] per stride with halving grids (YOLOv8 DFL outside the graph)',
  text: 'output shapes: one [B,1,H,W] probability map',
  ctc:
    'output shapes: one [B,T,C] of per-step classes from an input of fixed height <= 64 and a free or wide ' +
    'width (a CTC text-line recogniser)',
  segment: 'output shapes: [B,4+C+M,N] with prototypes [B,M,Hp,Wp] (Ultralytics segment)',
  image: "output shapes: one [B,C,H·s,W·s] with the input's channels, an image (image-to-image)",
  semantic: 'output shapes: one [B,K,H,W] class-score map (semantic segmentation)',
  end2end: 'output shapes: one [B,K,6] of boxes, score and class (NMS in the graph)',
  yolo: 'output shapes: one [B,4+C,N] (Ultralytics YOLOv8/YOLO11)',
};

function specialise(head: VisionHead, metadata: ModelMetadata): VisionHead {
  return head.withMetadata === undefined ? head : head.withMetadata(metadata);
}

/**
 * Picks the head for a model from its outputs, metadata_props and (to tell YOLOX from YOLOv5 by
 * the grid size) its inputs. No head fitting is RTI_ERR_HEAD_MISMATCH.
 */
export function detectHead(
  outputs: readonly TensorMeta[],
  metadata: ModelMetadata = {},
  inputs?: readonly TensorMeta[],
): HeadChoice {
  const found = pick(outputs, metadata, inputs);
  if (found === undefined) {
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `no head fits the model outputs ${describeTensors(outputs)}` +
        (metadata['task'] !== undefined ? ` (metadata task=${metadata['task']})` : '') +
        `: name one of ${HEAD_NAMES.join(', ')}`,
    );
  }
  return { ...found, head: specialise(found.head, metadata), ...metadataHints(metadata) };
}

/** The named head (checked against the outputs), or the detected one when `name` is undefined. */
export function chooseHead(
  name: string | VisionHead | undefined,
  outputs: readonly TensorMeta[],
  metadata: ModelMetadata = {},
  inputs?: readonly TensorMeta[],
): HeadChoice {
  if (name === undefined) return detectHead(outputs, metadata, inputs);
  const head = typeof name === 'string' ? getHead(name) : name;
  if (!head.matches(outputs, metadata, inputs)) {
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `head '${head.name}' does not fit the model outputs ${describeTensors(outputs)}: it expects ${head.expects}`,
    );
  }
  return { head: specialise(head, metadata), reason: 'named', ...metadataHints(metadata) };
}
