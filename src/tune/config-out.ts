/**
 * The tuner's answer as a `rtinfer serve --config` file: one model entry with the chosen
 * instances, threads, batching and session settings, in YAML or JSON by the file's extension.
 * Everything written is a field that src/server/config.ts validates, so the file loads as is.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { BatchingOptions } from '../engine/engine.js';
import type { SessionSettings } from '../runtime/session-options.js';
import type { Candidate, TuneScenario, Variant } from './space.js';

type ConfigSession = Pick<
  SessionSettings,
  | 'executionProviders'
  | 'graphOptimizationLevel'
  | 'executionMode'
  | 'interOpThreads'
  | 'allowSpinning'
  | 'enableCpuMemArena'
  | 'enableMemPattern'
>;

/** One `models[]` entry of a serve config, with the model path as measured (absolute). */
export interface TunedConfig {
  name: string;
  path: string;
  instances: number;
  threads: number;
  batching: false | Required<Pick<BatchingOptions, 'maxBatchSize' | 'maxQueueDelayUs'>>;
  session: ConfigSession;
  warmupShapes?: Record<string, number[]>;
}

export function tunedConfig(
  c: Candidate,
  v: Variant,
  scenario: TuneScenario,
  base: Partial<SessionSettings> = {},
): TunedConfig {
  const session: ConfigSession = {
    ...(base.executionProviders ? { executionProviders: base.executionProviders } : {}),
    ...(base.enableCpuMemArena !== undefined ? { enableCpuMemArena: base.enableCpuMemArena } : {}),
    ...(base.enableMemPattern !== undefined ? { enableMemPattern: base.enableMemPattern } : {}),
    executionMode: c.executionMode,
    graphOptimizationLevel: c.graphOptimizationLevel,
    ...(c.executionMode === 'parallel' ? { interOpThreads: c.interOpThreads } : {}),
    // As measured (measure.ts): spinning only for one request at a time.
    allowSpinning: scenario === 'single-stream',
  };
  const named = v.shapes.filter((s) => s.name !== undefined);
  return {
    name: v.id.replace(/[^A-Za-z0-9_.-]+/g, '_'),
    path: v.model,
    instances: c.instances,
    threads: c.threads,
    batching: c.maxBatchSize > 1 ? { maxBatchSize: c.maxBatchSize, maxQueueDelayUs: c.maxQueueDelayUs } : false,
    session,
    ...(named.length ? { warmupShapes: Object.fromEntries(named.map((s) => [s.name as string, s.dims])) } : {}),
  };
}

/**
 * The file's text. The model path is written relative to the file's directory (the serve config
 * resolves it from there), so the pair can move together.
 */
export function renderConfigFile(config: TunedConfig, file: string, header: readonly string[] = []): string {
  const rel = path.relative(path.dirname(path.resolve(file)), config.path) || config.path;
  const doc = { models: [{ ...config, path: rel.split(path.sep).join('/') }] };
  if (/\.json$/i.test(file)) return JSON.stringify(doc, null, 2) + '\n';
  return header.map((h) => `# ${h}\n`).join('') + stringify(doc);
}
