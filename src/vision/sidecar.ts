/**
 * Files read from beside a model, by `openVisionModel`, `predict`, `info` and the server.
 *
 * The sidecar config: `model.rtinfer.json` (or `.yaml` / `.yml`) next to `model.onnx`. It wires a
 * model no built-in head recognises without code, and fixes what the file cannot say:
 *
 *   { "head": { ...a head spec (spec-head.ts) } | "a head name",
 *     "preprocess": { ...PreprocessConfig fields }, "decode": { ...DecodeOptions fields },
 *     "labels": ["face", ...] }
 *
 * Fields are optional; unknown top-level fields are refused so that a typo is not silently ignored.
 *
 * A text-line recogniser's character dictionary (PP-OCR's ppocr_keys_v1.txt): a `.txt` in the
 * model's directory whose line count fits the model's classes (findDictionary).
 */
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RtinferError, firstLine } from '../errors.js';
import type { PreprocessConfig } from './config.js';
import type { DecodeOptions, VisionHead } from './heads/head.js';
import { headFromSpec } from './heads/spec-head.js';

export interface Sidecar {
  /** The file it was read from. */
  file: string;
  head?: VisionHead | string;
  preprocess?: Partial<PreprocessConfig>;
  decode?: Partial<DecodeOptions>;
  labels?: string[];
}

const KEYS = ['head', 'preprocess', 'decode', 'labels'];

/** The sidecar files looked for, in order, for a model path. */
export function sidecarCandidates(modelPath: string): string[] {
  const base = modelPath.replace(/\.onnx$/i, '');
  return ['.rtinfer.json', '.rtinfer.yaml', '.rtinfer.yml'].map((ext) => base + ext);
}

function invalid(file: string, problem: string): never {
  throw new RtinferError('RTI_ERR_ARG_INVALID', `invalid sidecar ${path.basename(file)}: ${problem}`);
}

/** Parses a sidecar's text (JSON or YAML by extension). */
export function parseSidecar(file: string, text: string): Sidecar {
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    return invalid(file, `cannot parse (${firstLine(error)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) invalid(file, 'expected an object');
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !KEYS.includes(k));
  if (unknown !== undefined) invalid(file, `unknown field '${unknown}' (known: ${KEYS.join(', ')})`);
  const out: Sidecar = { file };
  if (o['head'] !== undefined) {
    if (typeof o['head'] === 'string') out.head = o['head'];
    else {
      try {
        out.head = headFromSpec(o['head']);
      } catch (error) {
        invalid(file, firstLine(error));
      }
    }
  }
  for (const k of ['preprocess', 'decode'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(file, `${k} must be an object`);
    out[k] = v as never;
  }
  if (o['labels'] !== undefined) {
    if (!Array.isArray(o['labels']) || !o['labels'].every((l) => typeof l === 'string'))
      invalid(file, 'labels must be a list of strings');
    out.labels = o['labels'] as string[];
  }
  return out;
}

/** The sidecar of a model file, or undefined when there is none (or the model is bytes). */
export async function readSidecar(model: string | Uint8Array): Promise<Sidecar | undefined> {
  if (typeof model !== 'string') return undefined;
  const file = sidecarCandidates(model).find((f) => existsSync(f));
  if (file === undefined) return undefined;
  return parseSidecar(file, await readFile(file, 'utf8'));
}

/** A text-line recogniser's character dictionary found beside the model. */
export interface Dictionary {
  file: string;
  /** One character per line, as in the file. */
  labels: string[];
  /** Why this file: its line count against the model's classes. */
  why: string;
}

/** Entries of a character dictionary as PaddleOCR reads one: only line ends stripped (a space is a character). */
export function dictionaryLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

// A dictionary is small (ppocr_keys_v1.txt: 26 KiB for 6623 characters); bigger .txt files are not read.
const MAX_DICTIONARY_BYTES = 4 << 20;
const DICTIONARY_NAME = /keys|dict/i;

/**
 * The dictionary of a CTC recogniser with `classes` classes (blank at 0): a `*.txt` in the model's
 * directory with classes − 2 lines (PP-OCR adds the blank and a trailing space) or classes − 1
 * (the blank only). Files named like one (ppocr_keys*.txt, *dict*.txt) first, then by name;
 * undefined when none fits.
 */
export async function findDictionary(model: string, classes: number): Promise<Dictionary | undefined> {
  const dir = path.dirname(model);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.txt$/i.test(n));
  } catch {
    return undefined;
  }
  names.sort((a, b) => Number(DICTIONARY_NAME.test(b)) - Number(DICTIONARY_NAME.test(a)) || a.localeCompare(b));
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if ((await stat(file)).size > MAX_DICTIONARY_BYTES) continue;
      const labels = dictionaryLines(await readFile(file, 'utf8'));
      const extra = classes - labels.length;
      if (extra !== 1 && extra !== 2) continue;
      const why =
        `${labels.length} lines + the blank${extra === 2 ? ' + a space' : ''} = the model's ${classes} classes` +
        (DICTIONARY_NAME.test(name) ? ', named like a dictionary' : '');
      return { file, labels, why };
    } catch {
      // Unreadable: not the dictionary.
    }
  }
  return undefined;
}

/**
 * A CTC recogniser's labels when none were given (`given`: where they came from, else undefined):
 * the dictionary beside the model, and the explanation line that says which file and why.
 */
export async function dictionaryFor(
  model: string | Uint8Array | undefined,
  classes: number,
  given: { source: string; count: number } | undefined,
): Promise<{ labels?: string[]; note: string }> {
  if (given !== undefined) return { note: `dictionary: ${given.source} (${given.count} entries, ${classes} classes)` };
  const found = typeof model === 'string' ? await findDictionary(model, classes) : undefined;
  if (found !== undefined) return { labels: found.labels, note: `dictionary ${found.file}: ${found.why}` };
  return {
    note:
      `dictionary: none (no labels given, and no .txt beside the model has ${classes - 2} or ${classes - 1} ` +
      'lines): characters read as [class index]',
  };
}
