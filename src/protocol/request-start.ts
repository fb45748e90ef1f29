/**
 * `X-Request-Start`: when the client, or a proxy in front of the server, sent the request. The
 * server's own clock starts when the request's headers arrive, which can be long after the client
 * sent it: a busy client sends late, the kernel holds the bytes while the server's thread runs an
 * inference, a proxy queues. A deadline counted from the arrival then lets the server answer 200s
 * the client already gave up on. bench/serve, the PP-OCR classifier at 1,878 req/s with a 2.65 ms
 * deadline on 2 cores: counted from the arrival, 116.5 answers/s in time and a p99 of 6.93 ms for
 * the 200s (the client 0.6 ms late to send at p50); counted from the client's stamp, where the
 * server refuses those at once and serves the ones still in time, 290.5/s and 3.94 ms.
 *
 * The formats in use: nginx's `t=${msec}` (seconds, ms fraction), Heroku's epoch ms, Apache's
 * `t=%t` (µs); told apart by magnitude, as New Relic's agents do. A stamp can only make a request
 * older, never give it more time than its arrival leaves; a stamp in the future or more than
 * MAX_AGE_MS old says the clocks disagree, and is ignored. The load generator writes Apache's
 * form (`requestStartValue`).
 */
import { performance } from 'node:perf_hooks';

export const REQUEST_START_HEADER = 'x-request-start';

/** Older than this, a stamp is a skewed clock, not a slow request. */
export const MAX_AGE_MS = 10 * 60_000;

/** The header's value for a request sent (or due) at `at` (performance.now()): `t=<epoch µs>`. */
export function requestStartValue(at: number): string {
  return `t=${Math.round((performance.timeOrigin + at) * 1000)}`;
}

/** Epoch ms of a stamp, or undefined when it is not a number. */
export function stampEpochMs(value: string): number | undefined {
  const text = value.startsWith('t=') ? value.slice(2) : value;
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  const v = Number(text);
  // Now is ~1.8e9 s, 1.8e12 ms, 1.8e15 us, 1.8e18 ns.
  if (v < 1e11) return v * 1000;
  if (v < 1e14) return v;
  if (v < 1e17) return v / 1000;
  return v / 1e6;
}

/**
 * The performance.now() time a request's deadline counts from: its stamp when one is given and
 * plausible, else `receivedAt` (its arrival).
 */
export function requestStartedAt(value: unknown, receivedAt: number): number {
  if (typeof value !== 'string' || value.length > 40) return receivedAt;
  const epochMs = stampEpochMs(value);
  if (epochMs === undefined) return receivedAt;
  const at = epochMs - performance.timeOrigin;
  return at <= receivedAt && receivedAt - at <= MAX_AGE_MS ? at : receivedAt;
}
