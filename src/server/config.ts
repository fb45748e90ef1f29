/**
 * `rtinfer serve` configuration: from flags or a JSON/YAML file, validated with errors that name
 * the field (`config models[1].instances: ...`). Models are only ever loaded from here, never from
 * request paths.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RtinferError, firstLine } from '../errors.js';
import { PERFORMANCE_HINTS, type BatchingOptions, type PerformanceHint } from '../engine/engine.js';
import { MODEL_CONTROL_MODES, type ModelConfig, type ModelControl, type ServerConfig } from './types.js';
import { EXECUTION_MODES, GRAPH_OPT_LEVELS } from '../runtime/session-options.js';

export type { ModelConfig, ServerConfig } from './types.js';

/** Defaults; README "Security and limits" lists them with what a client gets beyond each. */
/**
 * Requests whose shape runs within this (ms) may run on the HTTP thread (ModelConfig.inlineBelowMs):
 * the longest the HTTP thread is blocked for a run. The PP-OCR classifier at 48x192 (0.7 ms bare,
 * ~1.9 ms through a worker at idle here) qualifies; yolox_nano (10+ ms) does not.
 */
export const INLINE_BELOW_MS = 3;

export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  maxBodyBytes: 64 * 1024 * 1024,
  // Four largest bodies at once, or hundreds of typical ones (a 640x640 fp32 image is 4.9 MB).
  maxInflightBytes: 256 * 1024 * 1024,
  maxImagePixels: 40_000_000,
  drainTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  trustRequestStart: true,
  maxConnections: 1024,
  maxStreams: 64,
  // Inference workers yield to the HTTP thread under CPU contention, the JSON codec more so: at 3x
  // yolox_nano's capacity with JSON and hostile traffic on 2 cores, the HTTP thread fell seconds
  // behind accepting connections without it (bench/soak: 0.2-1.8 valid answers/s in time, health
  // probes unanswered; with it 5.0-5.1/s and nearly every probe answered).
  workerNice: 5,
  wsPingIntervalMs: 30_000,
  memoryTrimIntervalMs: 5000,
} as const;

function fail(where: string, message: string): never {
  throw new RtinferError('RTI_ERR_ARG_INVALID', `config ${where}: ${message}`);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(where: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(
      where,
      `expected an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}, got ${JSON.stringify(v)}`,
    );
  return v;
}

function num(where: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
    fail(where, `expected a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function str(where: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') fail(where, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function bool(where: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(where, `expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

function strings(where: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === ''))
    fail(where, 'expected a list of non-empty strings');
  return v as string[];
}

/** CORS origins are scheme://host[:port] (or '*'), as browsers send them. */
export function validateOrigins(list: string[]): string[] {
  for (const o of list) {
    if (o === '*') continue;
    let u: URL | undefined;
    try {
      u = new URL(o);
    } catch {
      u = undefined;
    }
    if (!u || u.origin !== o.replace(/\/+$/, ''))
      fail('cors', `'${o}' is not an origin (scheme://host[:port], or '*')`);
  }
  return list;
}

function only(where: string, o: Obj, keys: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k)) fail(`${where}.${k}`, `unknown field (expected one of ${keys.join(', ')})`);
}

export function modelNameFromPath(file: string): string {
  return path.basename(file).replace(/\.[^.]+$/, '');
}

const NAME = /^[A-Za-z0-9_.-]+$/;
const MODEL_KEYS = [
  'name',
  'path',
  'version',
  'instances',
  'threads',
  'batching',
  'maxQueueSize',
  'defaultDeadlineMs',
  'session',
  'warmupShapes',
  'task',
  'hint',
  'placement',
  'inlineBelowMs',
] as const;

/** A model's serving config from a plain object (the repository builds these from its layout). */
export function modelConfigFrom(where: string, raw: Record<string, unknown>): ModelConfig {
  return modelConfig(where, raw, '/');
}

function modelConfig(where: string, raw: unknown, baseDir: string): ModelConfig {
  if (typeof raw === 'string') raw = { path: raw };
  if (!isObj(raw)) fail(where, 'expected an object with at least a path');
  only(where, raw, MODEL_KEYS);
  const file = str(`${where}.path`, raw['path']) ?? fail(`${where}.path`, 'missing');
  const resolved = path.resolve(baseDir, file);
  const name = str(`${where}.name`, raw['name']) ?? modelNameFromPath(resolved);
  if (!NAME.test(name)) fail(`${where}.name`, `'${name}' may hold only letters, digits, '.', '_' and '-'`);
  const m: ModelConfig = { name, path: resolved, version: str(`${where}.version`, raw['version']) ?? '1' };
  const instances = int(`${where}.instances`, raw['instances'], 1, 256);
  if (instances !== undefined) m.instances = instances;
  const threads = int(`${where}.threads`, raw['threads'], 1, 1024);
  if (threads !== undefined) m.threads = threads;
  const queue = int(`${where}.maxQueueSize`, raw['maxQueueSize'], 1);
  if (queue !== undefined) m.maxQueueSize = queue;
  const deadline = num(`${where}.defaultDeadlineMs`, raw['defaultDeadlineMs']);
  if (deadline !== undefined) m.defaultDeadlineMs = deadline;
  const inline = raw['inlineBelowMs'];
  if (inline !== undefined) {
    if (typeof inline !== 'number' || !(inline >= 0) || !Number.isFinite(inline))
      fail(`${where}.inlineBelowMs`, `expected a number of ms >= 0, got ${JSON.stringify(inline)}`);
    m.inlineBelowMs = inline;
  }
  const placement = raw['placement'];
  if (placement !== undefined) {
    if (placement !== 'worker' && placement !== 'main')
      fail(`${where}.placement`, `expected worker or main, got ${JSON.stringify(placement)}`);
    if (placement === 'main' && instances !== undefined && instances !== 1)
      fail(`${where}.placement`, `'main' runs one session on the HTTP thread: instances must be 1, not ${instances}`);
    m.placement = placement;
  }
  const hint = raw['hint'];
  if (hint !== undefined) {
    if (!(PERFORMANCE_HINTS as readonly unknown[]).includes(hint))
      fail(`${where}.hint`, `expected one of ${PERFORMANCE_HINTS.join(', ')}, got ${JSON.stringify(hint)}`);
    m.hint = hint as PerformanceHint;
  }
  const task = str(`${where}.task`, raw['task']);
  if (task !== undefined) m.task = task;
  const batching = batchingConfig(where, raw['batching']);
  if (batching !== undefined) m.batching = batching;
  if (raw['session'] !== undefined) m.session = sessionConfig(`${where}.session`, raw['session']);
  if (raw['warmupShapes'] !== undefined)
    m.warmupShapes = warmupShapesConfig(`${where}.warmupShapes`, raw['warmupShapes']);
  return m;
}

function batchingConfig(where: string, b: unknown): ModelConfig['batching'] {
  if (b === undefined || b === false) return b;
  if (b === true) return {};
  if (!isObj(b)) fail(`${where}.batching`, 'expected true, false or an object');
  only(`${where}.batching`, b, ['mode', 'maxBatchSize', 'maxQueueDelayUs', 'preferredBatchSizes']);
  const batching: BatchingOptions = {};
  if (b['mode'] !== undefined) {
    if (b['mode'] !== 'adaptive' && b['mode'] !== 'static')
      fail(`${where}.batching.mode`, `expected adaptive or static, got ${JSON.stringify(b['mode'])}`);
    batching.mode = b['mode'];
  }
  const max = int(`${where}.batching.maxBatchSize`, b['maxBatchSize'], 1, 4096);
  if (max !== undefined) batching.maxBatchSize = max;
  const delay = b['maxQueueDelayUs'];
  if (delay !== undefined) {
    if (typeof delay !== 'number' || !(delay >= 0))
      fail(`${where}.batching.maxQueueDelayUs`, `expected a number >= 0, got ${JSON.stringify(delay)}`);
    batching.maxQueueDelayUs = delay;
  }
  const pref = b['preferredBatchSizes'];
  if (pref !== undefined) {
    if (!Array.isArray(pref)) fail(`${where}.batching.preferredBatchSizes`, 'expected an array of integers');
    batching.preferredBatchSizes = pref.map(
      (p, i) => int(`${where}.batching.preferredBatchSizes[${i}]`, p, 1) as number,
    );
  }
  return batching;
}

function sessionConfig(where: string, s: unknown): NonNullable<ModelConfig['session']> {
  if (!isObj(s)) fail(where, 'expected an object');
  only(where, s, [
    'executionProviders',
    'graphOptimizationLevel',
    'executionMode',
    'interOpThreads',
    'allowSpinning',
    'enableCpuMemArena',
    'enableMemPattern',
  ]);
  const session: NonNullable<ModelConfig['session']> = {};
  if (s['executionProviders'] !== undefined) {
    const eps = s['executionProviders'];
    if (!Array.isArray(eps) || eps.some((e) => typeof e !== 'string'))
      fail(`${where}.executionProviders`, 'expected an array of names');
    session.executionProviders = eps as string[];
  }
  if (s['graphOptimizationLevel'] !== undefined) {
    const g = s['graphOptimizationLevel'];
    if (!(GRAPH_OPT_LEVELS as readonly unknown[]).includes(g))
      fail(`${where}.graphOptimizationLevel`, `expected one of ${GRAPH_OPT_LEVELS.join(', ')}`);
    session.graphOptimizationLevel = g as (typeof GRAPH_OPT_LEVELS)[number];
  }
  if (s['executionMode'] !== undefined) {
    const e = s['executionMode'];
    if (!(EXECUTION_MODES as readonly unknown[]).includes(e))
      fail(`${where}.executionMode`, `expected one of ${EXECUTION_MODES.join(', ')}`);
    session.executionMode = e as (typeof EXECUTION_MODES)[number];
  }
  const inter = int(`${where}.interOpThreads`, s['interOpThreads'], 0, 1024);
  if (inter !== undefined) session.interOpThreads = inter;
  for (const k of ['allowSpinning', 'enableCpuMemArena', 'enableMemPattern'] as const) {
    if (s[k] !== undefined) {
      if (typeof s[k] !== 'boolean') fail(`${where}.${k}`, 'expected true or false');
      session[k] = s[k];
    }
  }
  return session;
}

function warmupShapesConfig(where: string, w: unknown): Record<string, number[]> {
  if (!isObj(w)) fail(where, 'expected an object mapping input names to dims');
  const shapes: Record<string, number[]> = {};
  for (const [k, dims] of Object.entries(w)) {
    if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d < 1))
      fail(`${where}.${k}`, 'expected an array of positive integers');
    shapes[k] = dims as number[];
  }
  return shapes;
}

/** Validates a parsed config object (from a file, or built from flags). */
export function validateConfig(raw: unknown, baseDir = process.cwd()): ServerConfig {
  if (!isObj(raw)) fail('', 'expected an object at the top level');
  only('', raw, [
    'host',
    'port',
    'grpcPort',
    'healthPort',
    'token',
    'maxBodyBytes',
    'maxInflightBytes',
    'maxImagePixels',
    'drainTimeoutMs',
    'requestTimeoutMs',
    'trustRequestStart',
    'maxConnections',
    'maxStreams',
    'workerNice',
    'wsPingIntervalMs',
    'memoryTrimIntervalMs',
    'allowedHosts',
    'cors',
    'logFormat',
    'accessLog',
    'modelRepository',
    'models',
  ]);
  const repository =
    raw['modelRepository'] === undefined ? undefined : repositoryConfig(raw['modelRepository'], baseDir);
  const models = raw['models'] ?? (repository ? [] : undefined);
  if (!Array.isArray(models) || (models.length === 0 && !repository))
    fail('models', 'expected a non-empty list of models (or a modelRepository)');
  const config: ServerConfig = {
    host: str('host', raw['host']) ?? SERVER_DEFAULTS.host,
    port: int('port', raw['port'], 0, 65535) ?? SERVER_DEFAULTS.port,
    maxBodyBytes: int('maxBodyBytes', raw['maxBodyBytes'], 1024) ?? SERVER_DEFAULTS.maxBodyBytes,
    maxImagePixels: int('maxImagePixels', raw['maxImagePixels'], 1) ?? SERVER_DEFAULTS.maxImagePixels,
    maxInflightBytes: int('maxInflightBytes', raw['maxInflightBytes'], 1024) ?? SERVER_DEFAULTS.maxInflightBytes,
    drainTimeoutMs: int('drainTimeoutMs', raw['drainTimeoutMs'], 0) ?? SERVER_DEFAULTS.drainTimeoutMs,
    requestTimeoutMs: int('requestTimeoutMs', raw['requestTimeoutMs'], 100) ?? SERVER_DEFAULTS.requestTimeoutMs,
    trustRequestStart: bool('trustRequestStart', raw['trustRequestStart']) ?? SERVER_DEFAULTS.trustRequestStart,
    maxConnections: int('maxConnections', raw['maxConnections'], 1) ?? SERVER_DEFAULTS.maxConnections,
    maxStreams: int('maxStreams', raw['maxStreams'], 0) ?? SERVER_DEFAULTS.maxStreams,
    workerNice: int('workerNice', raw['workerNice'], 0, 19) ?? SERVER_DEFAULTS.workerNice,
    wsPingIntervalMs: int('wsPingIntervalMs', raw['wsPingIntervalMs'], 100) ?? SERVER_DEFAULTS.wsPingIntervalMs,
    memoryTrimIntervalMs:
      int('memoryTrimIntervalMs', raw['memoryTrimIntervalMs'], 0) ?? SERVER_DEFAULTS.memoryTrimIntervalMs,
    allowedHosts: strings('allowedHosts', raw['allowedHosts']),
    cors: validateOrigins(strings('cors', raw['cors'])),
    models: models.map((m, i) => modelConfig(`models[${i}]`, m, baseDir)),
  };
  const token = str('token', raw['token']);
  if (token !== undefined) config.token = token;
  if (repository) config.modelRepository = repository;
  const logFormat = raw['logFormat'];
  if (logFormat !== undefined) {
    if (logFormat !== 'text' && logFormat !== 'json')
      fail('logFormat', `expected "text" or "json", got ${JSON.stringify(logFormat)}`);
    config.logFormat = logFormat;
  }
  const accessLog = bool('accessLog', raw['accessLog']);
  if (accessLog !== undefined) config.accessLog = accessLog;
  const grpcPort = int('grpcPort', raw['grpcPort'], 0, 65535);
  if (grpcPort !== undefined) config.grpcPort = grpcPort;
  const healthPort = int('healthPort', raw['healthPort'], 0, 65535);
  if (healthPort !== undefined) config.healthPort = healthPort;
  const seen = new Set<string>();
  for (const [i, m] of config.models.entries()) {
    if (seen.has(m.name)) fail(`models[${i}].name`, `'${m.name}' is used twice; give one of them another name`);
    seen.add(m.name);
  }
  return config;
}

function repositoryConfig(raw: unknown, baseDir: string): NonNullable<ServerConfig['modelRepository']> {
  if (typeof raw === 'string') raw = { dir: raw };
  if (!isObj(raw)) fail('modelRepository', 'expected an object with at least a dir');
  only('modelRepository', raw, ['dir', 'control', 'pollSeconds', 'load']);
  const dir = str('modelRepository.dir', raw['dir']) ?? fail('modelRepository.dir', 'missing');
  const control = raw['control'] ?? 'none';
  if (!(MODEL_CONTROL_MODES as readonly unknown[]).includes(control))
    fail(
      'modelRepository.control',
      `expected one of ${MODEL_CONTROL_MODES.join(', ')}, got ${JSON.stringify(control)}`,
    );
  const load = strings('modelRepository.load', raw['load']);
  if (load.length > 0 && control !== 'explicit')
    fail(
      'modelRepository.load',
      'names models to load at start-up with control "explicit" only (the other modes load every model)',
    );
  return {
    dir: path.resolve(baseDir, dir),
    control: control as ModelControl,
    pollSeconds: num('modelRepository.pollSeconds', raw['pollSeconds']) ?? 15,
    load,
  };
}

export async function loadConfigFile(file: string): Promise<ServerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new RtinferError('RTI_ERR_MODEL_NOT_FOUND', `config file not found or unreadable: ${file}`);
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `config ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${firstLine(error)}`,
    );
  }
  return validateConfig(raw, path.dirname(path.resolve(file)));
}
