/**
 * A model repository on disk, as Triton lays one out, for `rtinfer serve --model-dir DIR`:
 *
 *   DIR/NAME/VERSION/model.onnx   versions are positive integers; the highest is the latest
 *   DIR/NAME/config.yaml|json     optional: the model's serving settings (as a config file's
 *                                 models[] entry, without path/name/version) and `versionPolicy`
 *   DIR/NAME.onnx                 a flat file: model NAME, version 1
 *
 * Scanning reads names and files only; nothing is loaded here. Names are what the repository holds:
 * a request can only ever name one of them (never a path).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RtinferError, firstLine } from '../errors.js';
import { modelConfigFrom } from './config.js';
import type { ModelConfig } from './types.js';

/** Which versions of a model are served: the latest N (Triton's default is the latest 1), all, or a list. */
export type VersionPolicy = { latest: number } | { all: true } | { specific: string[] };

export interface RepositoryModel {
  name: string;
  /** Version → model file, every version on disk. */
  versions: Map<string, { path: string; mtimeMs: number }>;
  policy: VersionPolicy;
  /** Settings from the model's config file (path, name and version are the repository's). */
  settings: Record<string, unknown>;
  /** The model's config file and its mtime, so a change is a change of the model. */
  configMtimeMs: number;
  /** Why the model cannot be served as it is on disk (a bad config file), if so. */
  problem?: string;
}

const NAME = /^[A-Za-z0-9_.-]+$/;
const VERSION = /^[1-9]\d{0,8}$/;
const CONFIG_FILES = ['config.yaml', 'config.yml', 'config.json'];

async function mtime(file: string): Promise<number | undefined> {
  try {
    const s = await stat(file);
    return s.isFile() ? s.mtimeMs : undefined;
  } catch {
    return undefined;
  }
}

function parsePolicy(raw: unknown, where: string): VersionPolicy {
  if (raw === undefined) return { latest: 1 };
  if (raw === 'all') return { all: true };
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    if (typeof o['latest'] === 'number' && Number.isInteger(o['latest']) && o['latest'] >= 1)
      return { latest: o['latest'] };
    if (Array.isArray(o['specific']) && o['specific'].length > 0 && o['specific'].every((v) => VERSION.test(String(v))))
      return { specific: o['specific'].map(String) };
  }
  throw new RtinferError(
    'RTI_ERR_ARG_INVALID',
    `${where}: versionPolicy must be "all", { latest: N } or { specific: [versions] }`,
  );
}

async function readSettings(
  dir: string,
): Promise<{ settings: Record<string, unknown>; policy: VersionPolicy; mtimeMs: number; problem?: string }> {
  for (const name of CONFIG_FILES) {
    const file = path.join(dir, name);
    const mtimeMs = await mtime(file);
    if (mtimeMs === undefined) continue;
    try {
      const text = await readFile(file, 'utf8');
      const raw = (name.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as unknown;
      if (raw === null || raw === undefined) return { settings: {}, policy: { latest: 1 }, mtimeMs };
      if (typeof raw !== 'object' || Array.isArray(raw))
        throw new RtinferError('RTI_ERR_ARG_INVALID', `${file}: expected an object of model settings`);
      const { versionPolicy, ...settings } = raw as Record<string, unknown>;
      for (const k of ['path', 'name', 'version'])
        if (k in settings)
          throw new RtinferError(
            'RTI_ERR_ARG_INVALID',
            `${file}: '${k}' comes from the repository's layout, not the config file`,
          );
      return { settings, policy: parsePolicy(versionPolicy, file), mtimeMs };
    } catch (error) {
      return { settings: {}, policy: { latest: 1 }, mtimeMs, problem: firstLine(error) || 'unreadable config' };
    }
  }
  return { settings: {}, policy: { latest: 1 }, mtimeMs: 0 };
}

/** Reads the repository's layout; a missing or unreadable folder is a one-line error. */
export async function scanRepository(dir: string): Promise<Map<string, RepositoryModel>> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `model repository not found or unreadable: ${dir}`);
  }
  const models = new Map<string, RepositoryModel>();
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isFile() && e.name.endsWith('.onnx')) {
      const name = e.name.slice(0, -'.onnx'.length);
      const file = path.join(dir, e.name);
      const m = await mtime(file);
      if (!NAME.test(name) || m === undefined || models.has(name)) continue;
      models.set(name, {
        name,
        versions: new Map([['1', { path: file, mtimeMs: m }]]),
        policy: { latest: 1 },
        settings: {},
        configMtimeMs: 0,
      });
      continue;
    }
    if (!e.isDirectory() || !NAME.test(e.name)) continue;
    const modelDir = path.join(dir, e.name);
    const versions = new Map<string, { path: string; mtimeMs: number }>();
    let subs: import('node:fs').Dirent[] = [];
    try {
      subs = await readdir(modelDir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const v of subs) {
      if (!v.isDirectory() || !VERSION.test(v.name)) continue;
      const file = path.join(modelDir, v.name, 'model.onnx');
      const m = await mtime(file);
      if (m !== undefined) versions.set(v.name, { path: file, mtimeMs: m });
    }
    if (versions.size === 0) continue;
    const { settings, policy, mtimeMs, problem } = await readSettings(modelDir);
    models.set(e.name, {
      name: e.name,
      versions,
      policy,
      settings,
      configMtimeMs: mtimeMs,
      ...(problem ? { problem } : {}),
    });
  }
  return models;
}

/** The versions a policy serves, latest first. */
export function servedVersions(m: RepositoryModel): string[] {
  const all = [...m.versions.keys()].sort((a, b) => Number(b) - Number(a));
  const p = m.policy;
  if ('all' in p) return all;
  if ('specific' in p) return all.filter((v) => p.specific.includes(v));
  return all.slice(0, p.latest);
}

/** The serving config of one version: the model's settings with the repository's name, version and file. */
export function versionConfig(m: RepositoryModel, version: string): ModelConfig {
  const file = m.versions.get(version);
  if (!file)
    throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `model '${m.name}' has no version ${version} in the repository`);
  if (m.problem) throw new RtinferError('RTI_ERR_ARG_INVALID', m.problem);
  return modelConfigFrom(`repository ${m.name}/${version}`, { ...m.settings, name: m.name, version, path: file.path });
}

/** A fingerprint of what a model is on disk: a different one means a reload. */
export function fingerprint(m: RepositoryModel): string {
  return JSON.stringify([
    m.configMtimeMs,
    m.problem ?? '',
    servedVersions(m).map((v) => [v, m.versions.get(v)?.mtimeMs]),
  ]);
}
