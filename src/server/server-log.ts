/**
 * The server's log: start-up, errors and (when asked) one access line per request, in one stream
 * (stdout), as text for people or JSON lines for a log pipeline (`--log-format text|json`).
 *
 * Through pino, off the hot path: JSON lines go to an asynchronous destination (sonic-boom buffers
 * and writes in batches; beyond MAX_BUFFER bytes waiting, lines are dropped and counted rather than
 * held without bound), text lines are formatted by pino-pretty in pino's transport worker thread.
 */
import pino, { type Logger } from 'pino';
import type { InternalErrorLog } from './http-io.js';
import { firstLine } from '../errors.js';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** One request, as the access log has it. */
export interface AccessEntry {
  protocol: 'http' | 'grpc';
  method: string;
  /** The path as requested (HTTP) or the RPC (gRPC). */
  path: string;
  endpoint: string;
  model?: string;
  status: number;
  /** Bytes of the answer, its head included (HTTP). */
  bytes?: number;
  /** Arrival to answer, in the server. */
  ms: number;
  /** The server's split (Server-Timing stages), for inference requests. */
  timing?: Record<string, number>;
}

export interface ServerLog {
  readonly format: LogFormat;
  /** Whether `access` writes anything (so callers skip building entries when it does not). */
  readonly accessEnabled: boolean;
  info(msg: string, fields?: Record<string, unknown>): void;
  error: InternalErrorLog;
  access(entry: AccessEntry): void;
  /** Lines dropped because the destination could not keep up. */
  readonly dropped: number;
  /** Writes out what is buffered (shutdown). */
  flush(): Promise<void>;
}

export interface ServerLogOptions {
  format?: LogFormat;
  /** One line per request (default false: a line per request costs CPU and volume at high rates). */
  access?: boolean;
  /** Where lines go: a file descriptor (default 1, stdout) or a file path. */
  destination?: number | string;
}

/** Bytes waiting to be written before lines are dropped. */
const MAX_BUFFER = 16 * 1024 * 1024;

/** Text lines: the time, the level, then the message and the fields that matter, on one line. */
const TEXT_FORMAT = '{msg}{if method} {method} {path} {status}{end}{if model} model={model}{end}{if ms} {ms}ms{end}';

export function createServerLog(options: ServerLogOptions = {}): ServerLog {
  const format = options.format ?? 'text';
  const dest = options.destination ?? 1;
  let dropped = 0;
  let made: { logger: Logger; flush: () => Promise<void> } | undefined;
  // Made on first use: a server that logs nothing starts no transport thread and opens nothing.
  const make = (): { logger: Logger; flush: () => Promise<void> } => {
    if (made) return made;
    if (format === 'json') {
      const stream = pino.destination({ dest, sync: false, maxLength: MAX_BUFFER, mkdir: typeof dest === 'string' });
      stream.on('drop', () => dropped++);
      // A closed or broken stdout (a pipe whose reader went) must not take the server down.
      stream.on('error', () => undefined);
      const logger = pino(
        {
          base: undefined,
          timestamp: pino.stdTimeFunctions.isoTime,
          formatters: { level: (label) => ({ level: label }) },
        },
        stream,
      );
      made = { logger, flush: () => new Promise((resolve) => stream.flush(() => resolve())) };
    } else {
      const transport = pino.transport({
        target: 'pino-pretty',
        options: {
          destination: dest,
          colorize: false,
          singleLine: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname,protocol,method,path,status,model,ms,endpoint',
          messageFormat: TEXT_FORMAT,
          sync: false,
        },
      });
      transport.on('error', () => undefined);
      const logger = pino({ base: undefined }, transport);
      made = { logger, flush: () => new Promise((resolve) => logger.flush(() => resolve())) };
    }
    return made;
  };
  const access = options.access === true;
  return {
    format,
    accessEnabled: access,
    info: (msg, fields) => make().logger.info(fields ?? {}, msg),
    error: (error) =>
      make().logger.error({ err: { type: (error as Error)?.name, message: firstLine(error) } }, 'internal error'),
    access: (entry) => {
      if (access) make().logger.info({ ...entry, ms: Number(entry.ms.toFixed(3)) }, 'request');
    },
    get dropped() {
      return dropped;
    },
    flush: () => made?.flush() ?? Promise.resolve(),
  };
}
