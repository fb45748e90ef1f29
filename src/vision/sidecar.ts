/**
 * A model's sidecar config: `model.rtinfer.json` (or `.yaml` / `.yml`) next to `model.onnx`, read
 * by `openVisionModel`, `predict` and the server. It wires a model no built-in head recognises
 * without code, and fixes what the file cannot say:
 *
 *   { "head": { ...a head spec (spec-head.ts) } | "a head name",
 *     "preprocess": { ...PreprocessConfig fields }, "decode": { ...DecodeOptions fields },
 *     "labels": ["face", ...] }
 *
 * Fields are optional; unknown top-level fields are refused so that a typo is not silently ignored.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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
