/**
 * One error catalogue for the whole toolkit. Every error rtinfer raises on purpose carries a stable
 * `code` (RTI_ERR_<AREA>_<PROBLEM>), a `kind` and the HTTP status a server answers with:
 * `usage` means the caller asked for something wrong (CLI exit code 2, HTTP 4xx), `runtime` means
 * a valid request failed (exit code 1, HTTP 5xx), `refused` means the engine declined or gave up on
 * a request to keep its latency budget (overload: retry later, or a missed deadline).
 * Messages are one line and name the offending input.
 */

export type ErrorKind = 'usage' | 'runtime' | 'refused';

interface CatalogueEntry {
  readonly kind: ErrorKind;
  readonly status: number;
  readonly description: string;
}

export const ERROR_CATALOGUE = {
  RTI_ERR_ARG_UNKNOWN: { kind: 'usage', status: 400, description: 'an option or command that does not exist' },
  RTI_ERR_ARG_INVALID: {
    kind: 'usage',
    status: 400,
    description: 'an option or argument with a value that is not accepted',
  },
  RTI_ERR_ARG_MISSING: { kind: 'usage', status: 400, description: 'a required argument or option value is missing' },
  RTI_ERR_MODEL_NOT_FOUND: {
    kind: 'usage',
    status: 404,
    description: 'the model file does not exist or cannot be read',
  },
  RTI_ERR_MODEL_NOT_ONNX: { kind: 'usage', status: 400, description: 'the file is not an ONNX model' },
  RTI_ERR_MODEL_INPUT_UNKNOWN: {
    kind: 'usage',
    status: 400,
    description: 'a name that is not one of the model inputs',
  },
  RTI_ERR_SHAPE_MISMATCH: { kind: 'usage', status: 400, description: 'a shape that does not fit the model input' },
  RTI_ERR_INPUT_DATA: {
    kind: 'usage',
    status: 400,
    description: 'input data that cannot be used (missing input, wrong dtype or size, bad .npy/.bin file)',
  },
  RTI_ERR_EP_UNAVAILABLE: {
    kind: 'usage',
    status: 400,
    description: 'an execution provider that this onnxruntime-node binary does not have',
  },
  RTI_ERR_SESSION_CREATE: {
    kind: 'runtime',
    status: 500,
    description: 'onnxruntime could not create a session for the model',
  },
  RTI_ERR_INFERENCE_FAILED: { kind: 'runtime', status: 500, description: 'an inference failed inside onnxruntime' },
  RTI_ERR_IO_WRITE: { kind: 'runtime', status: 500, description: 'a file could not be written' },
  RTI_ERR_WEB_ASSETS_MISSING: {
    kind: 'runtime',
    status: 500,
    description: 'the built web pages (dist/web) are missing: run npm run build',
  },
  RTI_ERR_ENGINE_QUEUE_FULL: {
    kind: 'refused',
    status: 429,
    description: 'the engine queue is at maxQueueSize: retry later',
  },
  RTI_ERR_ENGINE_DEADLINE_UNMEETABLE: {
    kind: 'refused',
    status: 503,
    description: 'the engine predicts the request cannot finish before its deadline',
  },
  RTI_ERR_ENGINE_DEADLINE_EXPIRED: {
    kind: 'refused',
    status: 504,
    description: 'the deadline passed while the request was queued',
  },
  RTI_ERR_ENGINE_CLOSED: { kind: 'refused', status: 503, description: 'the engine is closing or closed' },
  RTI_ERR_ENGINE_WORKER_CRASHED: {
    kind: 'refused',
    status: 503,
    description: 'the worker running the request died (it is being replaced) or none is left: retry later',
  },
  RTI_ERR_TARGET_UNREACHABLE: {
    kind: 'runtime',
    status: 502,
    description: 'the HTTP target could not be reached or closed the connection',
  },
  RTI_ERR_TARGET_HTTP: { kind: 'runtime', status: 502, description: 'the HTTP target answered with an error status' },
  RTI_ERR_IMAGE_NOT_FOUND: {
    kind: 'usage',
    status: 404,
    description: 'the image file does not exist or cannot be read',
  },
  RTI_ERR_IMAGE_DECODE: {
    kind: 'usage',
    status: 400,
    description: 'an image that cannot be decoded: corrupt, truncated, empty or zero-sized',
  },
  RTI_ERR_IMAGE_UNSUPPORTED: {
    kind: 'usage',
    status: 415,
    description: 'an image format that is not accepted (JPEG, PNG, WebP, GIF, TIFF and AVIF are by default)',
  },
  RTI_ERR_IMAGE_TOO_LARGE: {
    kind: 'usage',
    status: 413,
    description: 'an image with more pixels than the configured limit (default 40 Mpx)',
  },
  RTI_ERR_HEAD_MISMATCH: {
    kind: 'usage',
    status: 400,
    description: 'a task head that does not fit the model outputs, or no head fits them',
  },
  RTI_ERR_ACCURACY_LABELS: {
    kind: 'usage',
    status: 400,
    description: 'an accuracy labels file that cannot be read or is malformed (the message names the field)',
  },
  RTI_ERR_ACCURACY_MISMATCH: {
    kind: 'usage',
    status: 400,
    description:
      "a candidate model whose output cannot be compared with the reference model's (another task, " +
      'other output names or shapes)',
  },
  RTI_ERR_ACCURACY_NO_IMAGES: {
    kind: 'usage',
    status: 400,
    description: 'no image for the accuracy check: none given, an empty folder, or every image failed to decode',
  },
  RTI_ERR_OPTIMIZE_NOTHING: {
    kind: 'usage',
    status: 400,
    description: 'rtinfer optimize was asked to quantize a model with no quantizable Conv, Gemm or MatMul node',
  },
  RTI_ERR_STORE_CORRUPT: {
    kind: 'runtime',
    status: 500,
    description: 'the run store is not an SQLite database or is damaged (it is left as it is)',
  },
  RTI_ERR_STORE_VERSION: {
    kind: 'runtime',
    status: 500,
    description: 'the run store was written by a newer rtinfer (a newer schema version); it is left as it is',
  },
  RTI_ERR_STORE_UNWRITABLE: {
    kind: 'runtime',
    status: 500,
    description: 'the run store, or the folder it goes in, cannot be created or written',
  },
  RTI_ERR_RUN_NOT_FOUND: {
    kind: 'usage',
    status: 404,
    description: 'no stored run matches the reference (an id, last, label:NAME) or the report file cannot be read',
  },
  RTI_ERR_VIDEO_FFMPEG_MISSING: {
    kind: 'runtime',
    status: 500,
    description:
      'ffmpeg (or ffprobe) is not installed or not on PATH: apt-get install ffmpeg, ' +
      'or set RTINFER_FFMPEG / RTINFER_FFPROBE',
  },
  RTI_ERR_VIDEO_NOT_FOUND: {
    kind: 'usage',
    status: 404,
    description: 'the video file, folder or camera device does not exist or cannot be read',
  },
  RTI_ERR_VIDEO_UNSUPPORTED: {
    kind: 'usage',
    status: 415,
    description: 'not a video ffmpeg can decode, no video stream in it, or a raw frame format that is not accepted',
  },
  RTI_ERR_VIDEO_OPEN: {
    kind: 'runtime',
    status: 502,
    description: 'a stream or camera could not be opened, or did not answer within the open timeout',
  },
  RTI_ERR_VIDEO_DECODE: {
    kind: 'runtime',
    status: 500,
    description: 'decoding stopped in the middle of a video or stream (corrupt or truncated data, a stalled stream)',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Error.stackTraceLimit while a refusal is constructed without a stack (see withoutStack). */
let savedStackLimit: number | undefined;

/**
 * A refusal (queue full, deadline unmeetable, ...) is control flow that a server under overload
 * raises thousands of times a second, and its stack says nothing to anyone: capturing one cost
 * ~9 µs against ~1 µs here. Called in super()'s arguments, so the limit is 0 while Error captures.
 */
function withoutStack(kind: ErrorKind, message: string): string {
  if (kind === 'refused') {
    savedStackLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  }
  return message;
}

export class RtinferError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  /** The HTTP status a server answers this error with. */
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(withoutStack(ERROR_CATALOGUE[code].kind, message), options);
    if (savedStackLimit !== undefined) {
      Error.stackTraceLimit = savedStackLimit;
      savedStackLimit = undefined;
    }
    this.name = 'RtinferError';
    this.code = code;
    this.kind = ERROR_CATALOGUE[code].kind;
    this.status = ERROR_CATALOGUE[code].status;
  }
}

export function isRtinferError(value: unknown): value is RtinferError {
  return value instanceof RtinferError;
}

/** First line of any thrown value's message, for one-line reports of foreign errors. */
export function firstLine(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  const line = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return line.trim();
}

/** A thrown value as data, for a worker thread's reply (an Error loses its class and code crossing threads). */
export interface ErrorData {
  code?: ErrorCode | undefined;
  message: string;
}

/** A thrown value as ErrorData: its catalogue code when it has one, its message (a foreign one in one line). */
export function errorData(error: unknown): ErrorData {
  return {
    code: isRtinferError(error) ? error.code : undefined,
    message: isRtinferError(error) ? error.message : firstLine(error),
  };
}

/** The error that ErrorData describes, rebuilt on the receiving thread. */
export function errorFromData(d: ErrorData): Error {
  return d.code ? new RtinferError(d.code, d.message) : new Error(d.message);
}
