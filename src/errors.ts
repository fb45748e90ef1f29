/**
 * One error catalogue for the whole toolkit. Every error rtinfer raises on purpose carries a stable
 * `code` (RTI_ERR_<AREA>_<PROBLEM>) and a `kind`: `usage` means the caller asked for something
 * wrong (CLI exit code 2, HTTP 4xx later), `runtime` means a valid request failed (exit code 1).
 * Messages are one line and name the offending input.
 */

export type ErrorKind = 'usage' | 'runtime';

interface CatalogueEntry {
  readonly kind: ErrorKind;
  readonly description: string;
}

export const ERROR_CATALOGUE = {
  RTI_ERR_ARG_UNKNOWN: { kind: 'usage', description: 'an option or command that does not exist' },
  RTI_ERR_ARG_INVALID: { kind: 'usage', description: 'an option or argument with a value that is not accepted' },
  RTI_ERR_ARG_MISSING: { kind: 'usage', description: 'a required argument or option value is missing' },
  RTI_ERR_MODEL_NOT_FOUND: { kind: 'usage', description: 'the model file does not exist or cannot be read' },
  RTI_ERR_MODEL_NOT_ONNX: { kind: 'usage', description: 'the file is not an ONNX model' },
  RTI_ERR_MODEL_INPUT_UNKNOWN: { kind: 'usage', description: 'a name that is not one of the model inputs' },
  RTI_ERR_SHAPE_MISMATCH: { kind: 'usage', description: 'a shape that does not fit the model input' },
  RTI_ERR_INPUT_DATA: { kind: 'usage', description: 'input data that cannot be used (bad .npy/.bin file, wrong size or dtype)' },
  RTI_ERR_EP_UNAVAILABLE: { kind: 'usage', description: 'an execution provider that this onnxruntime-node binary does not have' },
  RTI_ERR_SESSION_CREATE: { kind: 'runtime', description: 'onnxruntime could not create a session for the model' },
  RTI_ERR_INFERENCE_FAILED: { kind: 'runtime', description: 'an inference failed inside onnxruntime' },
  RTI_ERR_IO_WRITE: { kind: 'runtime', description: 'a file could not be written' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class RtinferError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RtinferError';
    this.code = code;
    this.kind = ERROR_CATALOGUE[code].kind;
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
