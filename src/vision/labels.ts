/**
 * Class labels: from Ultralytics/YOLOv5 `names` metadata (a Python dict or list literal), from a
 * labels file, or the COCO-80 list that YOLOX and most COCO detectors use.
 */
import { readFile } from 'node:fs/promises';
import { RtinferError, firstLine } from '../errors.js';

/** The 80 COCO detection classes in the order the YOLO families index them. */
export const COCO80: readonly string[] = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'airplane',
  'bus',
  'train',
  'truck',
  'boat',
  'traffic light',
  'fire hydrant',
  'stop sign',
  'parking meter',
  'bench',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
  'elephant',
  'bear',
  'zebra',
  'giraffe',
  'backpack',
  'umbrella',
  'handbag',
  'tie',
  'suitcase',
  'frisbee',
  'skis',
  'snowboard',
  'sports ball',
  'kite',
  'baseball bat',
  'baseball glove',
  'skateboard',
  'surfboard',
  'tennis racket',
  'bottle',
  'wine glass',
  'cup',
  'fork',
  'knife',
  'spoon',
  'bowl',
  'banana',
  'apple',
  'sandwich',
  'orange',
  'broccoli',
  'carrot',
  'hot dog',
  'pizza',
  'donut',
  'cake',
  'chair',
  'couch',
  'potted plant',
  'bed',
  'dining table',
  'toilet',
  'tv',
  'laptop',
  'mouse',
  'remote',
  'keyboard',
  'cell phone',
  'microwave',
  'oven',
  'toaster',
  'sink',
  'refrigerator',
  'book',
  'clock',
  'vase',
  'scissors',
  'teddy bear',
  'hair drier',
  'toothbrush',
];

function unquote(text: string): string {
  return text.replace(/\\(['"\\])/g, '$1');
}

/**
 * Parses `names` metadata: Ultralytics writes a Python dict repr, "{0: 'person', 1: 'bicycle'}";
 * YOLOv5 may write a list repr, "['person', 'bicycle']"; JSON works too. Returns undefined when the
 * text is none of these.
 */
export function parseNames(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  const quoted = /(['"])((?:\\.|(?!\1).)*)\1/g;
  if (trimmed.startsWith('{')) {
    const names: string[] = [];
    // Keys bare (Python) or quoted (JSON).
    const entry = /(['"]?)(\d+)\1\s*:\s*(['"])((?:\\.|(?!\3).)*)\3/g;
    let found = false;
    for (const m of trimmed.matchAll(entry)) {
      names[Number(m[2])] = unquote(m[4] ?? '');
      found = true;
    }
    if (!found) return undefined;
    for (let i = 0; i < names.length; i++) names[i] ??= `class ${i}`;
    return names;
  }
  if (trimmed.startsWith('[')) {
    const names = [...trimmed.matchAll(quoted)].map((m) => unquote(m[2] ?? ''));
    return names.length > 0 ? names : undefined;
  }
  return undefined;
}

/** Reads labels: a JSON array or {index: name} object, else one label per line (blank lines kept as indices). */
export async function loadLabels(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new RtinferError('RTI_ERR_INPUT_DATA', `cannot read labels file ${path}: ${firstLine(error)}`, {
      cause: error,
    });
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(trimmed);
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const names: string[] = [];
        for (const [k, v] of Object.entries(value)) if (/^\d+$/.test(k) && typeof v === 'string') names[Number(k)] = v;
        for (let i = 0; i < names.length; i++) names[i] ??= `class ${i}`;
        if (names.length > 0) return names;
      }
    } catch {
      // Not JSON after all: a Python literal, or a line that starts with a bracket.
    }
    const parsed = parseNames(trimmed);
    if (parsed !== undefined) return parsed;
  }
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new RtinferError('RTI_ERR_INPUT_DATA', `labels file ${path} is empty`);
  return lines.map((l) => l.trim());
}

/** The label of class `index`: labels[index], or "class <index>" when there is none. */
export function labelOf(labels: readonly string[] | undefined, index: number): string {
  return labels?.[index] ?? `class ${index}`;
}

/** Labels for a detector without names: COCO-80 when it has exactly 80 classes, else none. */
export function detectorLabels(
  labels: readonly string[] | undefined,
  classCount: number,
): readonly string[] | undefined {
  return labels ?? (classCount === 80 ? COCO80 : undefined);
}
