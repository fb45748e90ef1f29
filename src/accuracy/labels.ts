/**
 * Labelled image sets for real accuracy (`--labels FILE`): one JSON file, either detection
 *
 *   { "images": [ { "file": "coco139.jpg", "boxes": [ { "box": [x1, y1, x2, y2], "label": "tv" } ] } ] }
 *
 * with boxes in original-image pixels (after EXIF orientation, as rtinfer's detections are), or
 * classification
 *
 *   { "images": [ { "file": "cat.jpg", "label": "tabby" } ] }
 *
 * A `file` is resolved against the labels file's folder unless absolute. For a text detector the
 * box `label` may be left out (every box is text). Every field is checked, and an error names the
 * first bad one (`images[2].boxes[0].box`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RtinferError, firstLine } from '../errors.js';
import type { Box } from '../vision/types.js';
import type { TruthBox } from './map.js';

export type LabelledSet =
  | { kind: 'detect'; images: Array<{ file: string; boxes: TruthBox[] }> }
  | { kind: 'classify'; images: Array<{ file: string; label: string }> };

/** The label text boxes get when a labels file leaves it out. */
export const TEXT_LABEL = 'text';

function bad(file: string, field: string, problem: string): never {
  throw new RtinferError('RTI_ERR_ACCURACY_LABELS', `labels file ${file}: ${field} ${problem}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseBox(file: string, field: string, value: unknown): Box {
  if (!Array.isArray(value) || value.length !== 4 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    bad(file, field, 'must be [x1, y1, x2, y2] (four finite numbers, pixels)');
  }
  const [x1, y1, x2, y2] = value as Box;
  if (!(x2 > x1 && y2 > y1)) bad(file, field, `[${value.join(', ')}] must have x2 > x1 and y2 > y1`);
  return [x1, y1, x2, y2];
}

/** Validates parsed JSON; `file` names the labels file in messages and anchors relative paths. */
export function parseLabelledSet(value: unknown, file: string): LabelledSet {
  if (!isObject(value)) bad(file, 'the top level', 'must be an object { "images": [...] }');
  const images = value['images'];
  if (!Array.isArray(images)) bad(file, 'images', 'must be an array');
  if (images.length === 0) bad(file, 'images', 'is empty');
  const dir = path.dirname(file);
  let kind: LabelledSet['kind'] | undefined;
  const detect: Array<{ file: string; boxes: TruthBox[] }> = [];
  const classify: Array<{ file: string; label: string }> = [];
  images.forEach((entry: unknown, i) => {
    const at = `images[${i}]`;
    if (!isObject(entry)) bad(file, at, 'must be an object with "file" and "boxes" or "label"');
    const f = entry['file'];
    if (typeof f !== 'string' || f.trim() === '') bad(file, `${at}.file`, 'must be a non-empty string (an image path)');
    const resolved = path.isAbsolute(f) ? f : path.join(dir, f);
    const hasBoxes = entry['boxes'] !== undefined;
    const hasLabel = entry['label'] !== undefined;
    if (hasBoxes === hasLabel)
      bad(file, at, 'must have either "boxes" (detection) or "label" (classification), not both or neither');
    const entryKind = hasBoxes ? 'detect' : 'classify';
    if (kind !== undefined && entryKind !== kind)
      bad(
        file,
        at,
        `has ${hasBoxes ? '"boxes"' : '"label"'}, but images[0] has ${hasBoxes ? '"label"' : '"boxes"'}: one ` +
          `file is either detection or classification`,
      );
    kind = entryKind;
    if (hasLabel) {
      const label = entry['label'];
      if (typeof label !== 'string' || label === '') bad(file, `${at}.label`, 'must be a non-empty string');
      classify.push({ file: resolved, label });
      return;
    }
    const boxes = entry['boxes'];
    if (!Array.isArray(boxes)) bad(file, `${at}.boxes`, 'must be an array (empty for an image with no object)');
    detect.push({
      file: resolved,
      boxes: boxes.map((b: unknown, j) => {
        const bat = `${at}.boxes[${j}]`;
        if (!isObject(b)) bad(file, bat, 'must be an object { "box": [x1, y1, x2, y2], "label": "..." }');
        const label = b['label'] ?? TEXT_LABEL;
        if (typeof label !== 'string' || label === '') bad(file, `${bat}.label`, 'must be a non-empty string');
        return { box: parseBox(file, `${bat}.box`, b['box']), label };
      }),
    });
  });
  if (kind === 'classify') return { kind, images: classify };
  if (detect.every((d) => d.boxes.length === 0)) bad(file, 'images', 'have no boxes at all: mAP needs at least one');
  return { kind: 'detect', images: detect };
}

export async function loadLabelledSet(file: string): Promise<LabelledSet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new RtinferError(
      'RTI_ERR_ACCURACY_LABELS',
      `labels file ${code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder' : 'not readable'}: ${file}`,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RtinferError('RTI_ERR_ACCURACY_LABELS', `labels file ${file} is not valid JSON: ${firstLine(error)}`, {
      cause: error,
    });
  }
  return parseLabelledSet(value, file);
}
