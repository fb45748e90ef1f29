/**
 * `rtinfer serve`: thin over createRtinferServer; runs until SIGTERM or SIGINT, then shuts down
 * within the drain bound. A second signal exits at once.
 */
import { RtinferError } from '../errors.js';
import { RELAUNCHED_ENV, SERVER_V8_FLAGS } from './relaunch.js';
import { parseShapeArg } from '../runtime/shapes.js';
import { defaultModel } from '../runtime/default-model.js';
import { loadConfigFile, validateConfig, validateOrigins, type ServerConfig } from '../server/config.js';
import { MODEL_CONTROL_MODES } from '../server/types.js';
import { createRtinferServer } from '../server/server.js';
import { createServerLog, LOG_FORMATS } from '../server/server-log.js';
import { PERFORMANCE_HINTS } from '../engine/engine.js';
import {
  parseChoice,
  parseCommand,
  parseDurationMs,
  parseIntOption,
  stringValue,
  type CommandSpec,
  type ParsedValues,
} from './args.js';

export const SERVE_COMMAND: CommandSpec = {
  name: 'serve',
  summary: 'serve models over HTTP (KServe v2), with metrics, a live dashboard at / and a graceful drain',
  usage: 'rtinfer serve [model.onnx...] [--config FILE] [--host 127.0.0.1] [--port 8000] [--token T]',
  maxPositionals: 64,
  options: [
    {
      name: 'config',
      type: 'string',
      value: 'FILE',
      description: 'JSON or YAML server configuration (models with their engine settings)',
    },
    { name: 'host', type: 'string', value: 'HOST', description: 'address to bind (default 127.0.0.1: loopback only)' },
    { name: 'port', type: 'string', value: 'N', description: 'port (default 8000; 0 picks a free one)' },
    {
      name: 'model-dir',
      type: 'string',
      value: 'DIR',
      description:
        "a model repository: DIR/NAME/VERSION/model.onnx (Triton's layout; " +
        'DIR/NAME/config.yaml for settings) or DIR/NAME.onnx',
    },
    {
      name: 'model-control',
      type: 'string',
      value: 'MODE',
      description:
        'with --model-dir: none (load all at start, default), poll (and reload on changes), ' +
        'explicit (POST /v2/repository/models/NAME/load|unload)',
    },
    {
      name: 'load-model',
      type: 'string',
      multiple: true,
      value: 'NAME',
      description: 'with --model-control explicit: a repository model to load at start-up',
    },
    {
      name: 'repository-poll',
      type: 'string',
      value: 'TIME',
      description: 'with --model-control poll: how often the repository is read (default 15s)',
    },
    {
      name: 'log-format',
      type: 'string',
      value: 'text|json',
      description: 'the log (start-up, errors, access lines) as text (default) or JSON lines',
    },
    {
      name: 'access-log',
      type: 'boolean',
      description: "one log line per request: method, path, model, status, bytes, the server's latency split",
    },
    {
      name: 'grpc-port',
      type: 'string',
      value: 'N',
      description: 'also serve the Open Inference Protocol over gRPC on this port (default: off; 0 picks a free one)',
    },
    {
      name: 'health-port',
      type: 'string',
      value: 'N',
      description:
        'answer /v2/health/live and /v2/health/ready on this port from a thread of their own, ' +
        'however busy the HTTP thread (default: off)',
    },
    {
      name: 'token',
      type: 'string',
      value: 'T',
      description: 'require Authorization: Bearer T on all but the health checks (or RTINFER_TOKEN)',
    },
    {
      name: 'instances',
      type: 'string',
      value: 'N',
      description: 'engine instances per model given on the command line',
    },
    { name: 'threads', type: 'string', value: 'N', description: 'intra-op threads per instance' },
    {
      name: 'shape',
      type: 'string',
      multiple: true,
      value: 'NAME=DIMS',
      description:
        'the input shape traffic will use (x=1x3x48x192), ' +
        "for warm-up and the auto hint's measurement of dynamic models",
    },
    {
      name: 'placement',
      type: 'string',
      value: 'WHERE',
      description:
        'where sessions run: worker (threads, default) or main (the HTTP thread, one instance: no hop, ' +
        'for models of about a millisecond)',
    },
    {
      name: 'hint',
      type: 'string',
      value: 'HINT',
      description:
        'layout when --instances/--threads are not given: latency, throughput or auto ' +
        '(default: both measured at start-up)',
    },
    {
      name: 'batch',
      type: 'string',
      value: 'N',
      description: 'max batch size for dynamic batching (1 = off; default off)',
    },
    {
      name: 'batch-delay',
      type: 'string',
      value: 'TIME',
      description: 'how long a batch may wait to fill (default 0)',
    },
    {
      name: 'max-queue',
      type: 'string',
      value: 'N',
      description: 'queued requests per model before 429 (default 256)',
    },
    { name: 'deadline', type: 'string', value: 'MS', description: 'default deadline for requests that give none' },
    {
      name: 'max-body',
      type: 'string',
      value: 'BYTES',
      description: 'largest request body (default 64 MiB; 413 beyond)',
    },
    {
      name: 'max-inflight-bytes',
      type: 'string',
      value: 'BYTES',
      description: 'bytes all request bodies may hold together (default 256 MiB; 503 beyond)',
    },
    {
      name: 'max-connections',
      type: 'string',
      value: 'N',
      description: 'open connections at once (default 1024; 503 beyond)',
    },
    {
      name: 'worker-nice',
      type: 'string',
      value: 'N',
      description: 'nice value of inference worker threads, 0-19 (default 5; the HTTP thread keeps its priority)',
    },
    {
      name: 'max-streams',
      type: 'string',
      value: 'N',
      description: 'open WebSocket streams at once (default 64; 503 beyond)',
    },
    {
      name: 'request-timeout',
      type: 'string',
      value: 'TIME',
      description: 'time a client has to send a whole request (default 60s; 408 beyond)',
    },
    {
      name: 'ignore-request-start',
      type: 'boolean',
      description: "count deadlines from a request's arrival, not from its X-Request-Start stamp",
    },
    {
      name: 'drain-timeout',
      type: 'string',
      value: 'TIME',
      description: 'shutdown bound: answer what is in flight, then 503 the rest and exit (default 30s)',
    },
    {
      name: 'allowed-host',
      type: 'string',
      multiple: true,
      value: 'NAME',
      description: "a Host name to answer besides loopback and the bound address ('*' for any)",
    },
    {
      name: 'cors',
      type: 'string',
      multiple: true,
      value: 'ORIGIN',
      description: "an origin (https://app.example.com) whose pages may call the server ('*' for any)",
    },
  ],
  examples: [
    'rtinfer serve yolox_nano.onnx --batch 4 --deadline 100',
    'rtinfer serve --config serve.yaml',
    'rtinfer serve --model-dir models/ --model-control explicit --load-model yolox --grpc-port 8001',
    'curl http://127.0.0.1:8000/v2/health/ready',
  ],
};

async function buildServeConfig(argv: readonly string[]): Promise<ServerConfig> {
  const { values, positionals } = parseCommand(SERVE_COMMAND, argv);
  return applyFlags(values, positionals);
}

async function applyFlags(values: ParsedValues, positionals: string[]): Promise<ServerConfig> {
  const text = (name: string): string | undefined => stringValue(values, name);
  const file = text('config');
  let config: ServerConfig;
  if (file !== undefined) {
    if (positionals.length > 0)
      throw new RtinferError('RTI_ERR_ARG_INVALID', 'give models either in --config or on the command line, not both');
    config = await loadConfigFile(file);
  } else {
    config = configFromFlags(values, positionals);
  }
  if (text('host') !== undefined) config.host = text('host') ?? config.host;
  if (text('port') !== undefined) config.port = parseIntOption('port', text('port') ?? '', 0, 65535);
  if (text('log-format') !== undefined)
    config.logFormat = parseChoice('log-format', text('log-format') ?? '', LOG_FORMATS);
  if (values['access-log'] === true) config.accessLog = true;
  if (text('grpc-port') !== undefined) config.grpcPort = parseIntOption('grpc-port', text('grpc-port') ?? '', 0, 65535);
  if (text('health-port') !== undefined)
    config.healthPort = parseIntOption('health-port', text('health-port') ?? '', 0, 65535);
  if (text('max-body') !== undefined) config.maxBodyBytes = parseIntOption('max-body', text('max-body') ?? '', 1024);
  if (text('max-inflight-bytes') !== undefined)
    config.maxInflightBytes = parseIntOption('max-inflight-bytes', text('max-inflight-bytes') ?? '', 1024);
  if (text('max-connections') !== undefined)
    config.maxConnections = parseIntOption('max-connections', text('max-connections') ?? '', 1);
  if (text('worker-nice') !== undefined)
    config.workerNice = parseIntOption('worker-nice', text('worker-nice') ?? '', 0, 19);
  if (text('max-streams') !== undefined)
    config.maxStreams = parseIntOption('max-streams', text('max-streams') ?? '', 0);
  if (text('request-timeout') !== undefined)
    config.requestTimeoutMs = Math.max(100, parseDurationMs('request-timeout', text('request-timeout') ?? ''));
  if (values['ignore-request-start'] === true) config.trustRequestStart = false;
  if (text('drain-timeout') !== undefined)
    config.drainTimeoutMs = parseDurationMs('drain-timeout', text('drain-timeout') ?? '');
  const list = (name: string): string[] => (values[name] as string[] | undefined) ?? [];
  if (list('allowed-host').length > 0) config.allowedHosts = list('allowed-host');
  if (list('cors').length > 0) config.cors = validateOrigins(list('cors'));
  const token = text('token') ?? process.env['RTINFER_TOKEN'];
  if (token !== undefined && token !== '') config.token = token;
  return config;
}

/** A config from the command line alone: the models given (or the bundled default), each with the same flags. */
function configFromFlags(values: ParsedValues, positionals: string[]): ServerConfig {
  const text = (name: string): string | undefined => stringValue(values, name);
  const fallback = positionals.length === 0 && text('model-dir') === undefined ? defaultModel() : undefined;
  const batch = text('batch') === undefined ? undefined : parseIntOption('batch', text('batch') ?? '', 1, 4096);
  const delay = text('batch-delay');
  const deadline = text('deadline');
  const shapes: Record<string, number[]> = {};
  for (const text of (values['shape'] as string[] | undefined) ?? []) {
    const o = parseShapeArg(text);
    if (o.name === undefined)
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `invalid --shape '${text}' for serve: name the input (x=1x3x48x192)`,
      );
    shapes[o.name] = o.dims;
  }
  const model = (p: string): Record<string, unknown> => ({
    path: p,
    ...(fallback ? { name: 'default', warmupShapes: { x: [1, 3, 640, 640] } } : {}),
    ...(Object.keys(shapes).length > 0 ? { warmupShapes: shapes } : {}),
    ...(text('instances') !== undefined
      ? { instances: parseIntOption('instances', text('instances') ?? '', 1, 256) }
      : {}),
    ...(text('threads') !== undefined ? { threads: parseIntOption('threads', text('threads') ?? '', 1, 1024) } : {}),
    ...(text('placement') !== undefined
      ? { placement: parseChoice('placement', text('placement') ?? '', ['worker', 'main'] as const) }
      : {}),
    ...(text('hint') !== undefined ? { hint: parseChoice('hint', text('hint') ?? '', PERFORMANCE_HINTS) } : {}),
    ...(batch !== undefined && batch > 1
      ? {
          batching: {
            maxBatchSize: batch,
            ...(delay !== undefined ? { maxQueueDelayUs: parseDurationMs('batch-delay', delay) * 1000 } : {}),
          },
        }
      : {}),
    ...(text('max-queue') !== undefined
      ? { maxQueueSize: parseIntOption('max-queue', text('max-queue') ?? '', 1) }
      : {}),
    ...(deadline !== undefined
      ? { defaultDeadlineMs: parseDurationMs('deadline', /\d$/.test(deadline) ? `${deadline}ms` : deadline) }
      : {}),
  });
  const dir = text('model-dir');
  const control = text('model-control');
  const poll = text('repository-poll');
  const load = (values['load-model'] as string[] | undefined) ?? [];
  const repository =
    dir === undefined
      ? undefined
      : {
          dir,
          ...(control !== undefined ? { control: parseChoice('model-control', control, MODEL_CONTROL_MODES) } : {}),
          ...(poll !== undefined ? { pollSeconds: parseDurationMs('repository-poll', poll) / 1000 } : {}),
          ...(load.length > 0 ? { load } : {}),
        };
  if (dir === undefined && (control !== undefined || poll !== undefined || load.length > 0))
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      '--model-control, --load-model and --repository-poll need --model-dir',
    );
  return validateConfig({
    models: (fallback ? [fallback.path] : positionals).map(model),
    ...(repository ? { modelRepository: repository } : {}),
  });
}

/** Start-up lines: as they are for people, as JSON lines (with their fields) for a log pipeline. */
type Say = (line: string, msg: string, fields?: Record<string, unknown>) => void;

/** Where each model, the repository and the dashboard answer. */
function sayAddresses(
  say: Say,
  config: ServerConfig,
  url: string,
  ports: { grpc: number | undefined; health: number | undefined },
): void {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (ports.grpc !== undefined) {
    const address = `${host}:${ports.grpc}`;
    say(`  grpc ${address} (inference.GRPCInferenceService)`, 'grpc listening', { address });
  }
  if (ports.health !== undefined) {
    const address = `http://${host}:${ports.health}`;
    say(`  health ${address}/v2/health/live and /v2/health/ready`, 'health listening', { url: address });
  }
  for (const m of config.models)
    say(`  model ${m.name} v${m.version}: ${m.path} → ${url}/v2/models/${m.name}`, 'model', {
      model: m.name,
      version: m.version,
      path: m.path,
      url: `${url}/v2/models/${m.name}`,
    });
  const repo = config.modelRepository;
  if (repo)
    say(
      `  repository ${repo.dir} (model ` +
        `control ${repo.control}${repo.control === 'poll' ? `, every ${repo.pollSeconds} s` : ''}) ` +
        `→ ${url}/v2/repository/index`,
      'repository',
      { dir: repo.dir, control: repo.control },
    );
  // The token itself is not printed: stdout often ends up in logs.
  say(
    `  dashboard ${url}/${config.token ? '?token=<your token>' : ''} (live charts, try it with an image)`,
    'dashboard',
    { url: `${url}/` },
  );
}

/**
 * Resolves on the first SIGTERM or SIGINT (the server then drains); a second one, or the drain bound passing,
 * exits at once.
 */
function stopOnSignal(say: Say, drainTimeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        say(`rtinfer serve: ${signal} again: exiting now`, 'exiting now', { signal });
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      signalled = true;
      say(
        `rtinfer serve: ${signal}: shutting down within ${drainTimeoutMs} ms (not ready; ` +
          `answering what is in flight)`,
        'shutting down',
        { signal, drainTimeoutMs },
      );
      // The server's close is bounded, but a batch inside onnxruntime cannot be interrupted: the
      // process goes at the bound (plus a grace for the last answers to flush) whatever is running.
      setTimeout(() => {
        say('rtinfer serve: drain bound passed with work still running: exiting', 'drain bound passed: exiting');
        process.exit(1);
      }, drainTimeoutMs + 5000).unref();
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** In the relaunched server (relaunch.ts): a parent that is gone (killed outright) stops it as SIGTERM would. */
function watchParent(): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, 500);
  timer.unref();
}

export async function serveCommand(argv: readonly string[], io: { stdout: NodeJS.WritableStream }): Promise<number> {
  const config = await buildServeConfig(argv);
  const log = createServerLog({ format: config.logFormat ?? 'text', access: config.accessLog === true });
  // A reader of stdout that went away (a pipe closed: EPIPE) must not take the server down: its
  // lines are dropped from then on, as the log's own destination does (server-log.ts).
  let stdoutGone = false;
  io.stdout.on('error', () => (stdoutGone = true));
  const say: Say = (line, msg, fields = {}) => {
    if (log.format === 'json') log.info(msg, fields);
    else if (!stdoutGone) io.stdout.write(`${line}\n`);
  };
  const server = createRtinferServer(config, { logger: log });
  const url = await server.listen();
  say(`rtinfer serve: listening on ${url} (${config.token ? 'bearer token required' : 'no token'})`, 'listening', {
    url,
    token: config.token !== undefined,
  });
  sayAddresses(say, config, url, { grpc: server.grpcPort, health: server.healthPort });
  const stop = stopOnSignal(say, config.drainTimeoutMs);
  if (process.env[RELAUNCHED_ENV] === '1') {
    say(
      `  pid ${process.pid}: node ${SERVER_V8_FLAGS.join(' ')} (the server's heap settings; RTINFER_V8_FLAGS=off keeps one process)`,
      'node flags',
      { pid: process.pid, flags: SERVER_V8_FLAGS },
    );
    watchParent();
  }
  const readyOrStop = Promise.race([server.ready().then(() => 'ready' as const), stop.then(() => 'stop' as const)]);
  try {
    if ((await readyOrStop) === 'ready') {
      const loaded = [...server.models.values()];
      say(
        `rtinfer serve: ready (${loaded.length} model${loaded.length === 1 ? '' : 's'} loaded and warmed up)`,
        'ready',
        { models: loaded.length },
      );
      for (const m of loaded) {
        const c = m.engine?.config;
        const why = c?.calibration ? c.calibration.reason : c?.hint ? `hint ${c.hint}` : undefined;
        if (c)
          say(
            `  model ${m.config.name}: ${c.instances} instance${c.instances === 1 ? '' : 's'} ` +
              `× ${c.threadsPerInstance} thread${c.threadsPerInstance === 1 ? '' : 's'}` +
              `${c.placement === 'main' ? ' on the HTTP thread' : ''}${why ? ` (${why})` : ''}`,
            'layout',
            { model: m.config.name, instances: c.instances, threads: c.threadsPerInstance, ...(why ? { why } : {}) },
          );
      }
      await stop;
    }
  } catch (error) {
    await server.close();
    await log.flush();
    throw error;
  }
  await server.close();
  say('rtinfer serve: stopped', 'stopped', log.dropped > 0 ? { droppedLogLines: log.dropped } : {});
  await log.flush();
  return 0;
}
