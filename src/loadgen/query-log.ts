/**
 * Per-query records of a run: latency into an HDR recorder plus raw arrays (for CSV, stability
 * windows and exact checks), and refusals by error code. Refused or failed queries are counted,
 * never silently left out.
 */
import { isRtinferError } from '../errors.js';
import { LatencyRecorder } from '../stats/latency-recorder.js';

export class QueryLog {
  readonly recorder = new LatencyRecorder();
  /** Refused or failed queries by error code ('error' for foreign errors). */
  readonly refused: Record<string, number> = {};
  firstError: unknown;
  #lat: Float64Array = new Float64Array(1024);
  #start: Float64Array = new Float64Array(1024);
  #n = 0;

  get count(): number {
    return this.#n;
  }

  get refusedCount(): number {
    return Object.values(this.refused).reduce((s, n) => s + n, 0);
  }

  /** A query answered: `startMs` from the run's start, latency in µs. */
  ok(startMs: number, latencyUs: number): void {
    if (this.#n === this.#lat.length) {
      this.#lat = grow(this.#lat);
      this.#start = grow(this.#start);
    }
    this.#lat[this.#n] = latencyUs;
    this.#start[this.#n] = startMs;
    this.#n++;
    this.recorder.record(latencyUs);
  }

  fail(error: unknown): void {
    const code = isRtinferError(error) ? error.code : 'error';
    this.refused[code] = (this.refused[code] ?? 0) + 1;
    // Refusals are expected under overload; anything else is remembered to explain an invalid run.
    if (this.firstError === undefined && !(isRtinferError(error) && error.kind === 'refused')) this.firstError = error;
  }

  get latenciesUs(): Float64Array {
    return this.#lat.subarray(0, this.#n);
  }

  get startsMs(): Float64Array {
    return this.#start.subarray(0, this.#n);
  }
}

function grow(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
