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
import { end2endHead } from './end2end.js';
import { describeTensors, type HeadName, type ModelMetadata, type VisionHead } from './head.js';
import { ssdHead } from './ssd.js';
import { textHead } from './text.js';
import { yoloHead } from './yolo.js';
import { yolov5Head } from './yolov5.js';
import { yoloxHead } from './yolox.js';

export const HEADS: Readonly<Record<HeadName, VisionHead>> = {
  yolo: yoloHead,
  yolov5: yolov5Head,
  yolox: yoloxHead,
  end2end: end2endHead,
  ssd: ssdHead,
  blazeface: blazefaceHead,
  classify: classifyHead,
  text: textHead,
};

export const HEAD_NAMES = Object.keys(HEADS) as HeadName[];

export function isHeadName(name: string): name is HeadName {
  return Object.hasOwn(HEADS, name);
}

/** The head called `name`; an unknown name is RTI_ERR_ARG_INVALID listing the known ones. */
export function getHead(name: string): VisionHead {
  if (!isHeadName(name)) throw new RtinferError('RTI_ERR_ARG_INVALID', `unknown head '${name}' (known: ${HEAD_NAMES.join(', ')})`);
  return HEADS[name];
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

function pick(outputs: readonly TensorMeta[], metadata: ModelMetadata, inputs: readonly TensorMeta[] | undefined): { head: VisionHead; reason: string } | undefined {
  const fits = (h: VisionHead): boolean => h.matches(outputs, metadata, inputs);
  const task = metadata['task'];
  if (task !== undefined && metadata['names'] !== undefined) {
    const reason = `metadata task=${task}`;
    if (task === 'classify') return fits(classifyHead) ? { head: classifyHead, reason } : undefined;
    if (task === 'detect' || task === 'segment' || task === 'pose') {
      if (fits(end2endHead)) return { head: end2endHead, reason };
      if (fits(yoloHead)) return { head: yoloHead, reason };
      return undefined;
    }
    throw new RtinferError('RTI_ERR_HEAD_MISMATCH', `no head for Ultralytics task '${task}' (supported: detect, segment and pose boxes, classify)`);
  }
  const reason = 'output shapes';
  for (const head of [ssdHead, blazefaceHead, textHead, end2endHead, yoloHead]) if (fits(head)) return { head, reason };
  const yolox = fits(yoloxHead);
  const yolov5 = fits(yolov5Head);
  // Both fit only when the input size is unknown; YOLOv5's exporter writes stride and names.
  if (yolox && yolov5) {
    const v5 = metadata['stride'] !== undefined || metadata['names'] !== undefined;
    return { head: v5 ? yolov5Head : yoloxHead, reason: v5 ? 'output shapes and stride/names metadata' : reason };
  }
  if (yolox) return { head: yoloxHead, reason };
  if (yolov5) return { head: yolov5Head, reason };
  if (fits(classifyHead)) return { head: classifyHead, reason };
  return undefined;
}

/**
 * Picks the head for a model from its outputs, metadata_props and (to tell YOLOX from YOLOv5 by
 * the grid size) its inputs. No head fitting is RTI_ERR_HEAD_MISMATCH.
 */
export function detectHead(outputs: readonly TensorMeta[], metadata: ModelMetadata = {}, inputs?: readonly TensorMeta[]): HeadChoice {
  const found = pick(outputs, metadata, inputs);
  if (found === undefined) {
    throw new RtinferError(
      'RTI_ERR_HEAD_MISMATCH',
      `no head fits the model outputs ${describeTensors(outputs)}${metadata['task'] !== undefined ? ` (metadata task=${metadata['task']})` : ''}: name one of ${HEAD_NAMES.join(', ')}`,
    );
  }
  return { ...found, ...metadataHints(metadata) };
}

/** The named head (checked against the outputs), or the detected one when `name` is undefined. */
export function chooseHead(name: string | VisionHead | undefined, outputs: readonly TensorMeta[], metadata: ModelMetadata = {}, inputs?: readonly TensorMeta[]): HeadChoice {
  if (name === undefined) return detectHead(outputs, metadata, inputs);
  const head = typeof name === 'string' ? getHead(name) : name;
  if (!head.matches(outputs, metadata, inputs)) {
    throw new RtinferError('RTI_ERR_HEAD_MISMATCH', `head '${head.name}' does not fit the model outputs ${describeTensors(outputs)}: it expects ${head.expects}`);
  }
  return { head, reason: 'named', ...metadataHints(metadata) };
}
