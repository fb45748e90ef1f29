/**
 * Exit codes, one meaning each, so a CI step can tell why it failed (README "Exit codes"). When
 * several apply the lowest non-zero wins: an INVALID run's bound or comparison is not to be trusted.
 */
export const EXIT = {
  ok: 0,
  /** A failure: the command could not do its job (a model that does not load, a store that cannot be opened). */
  failure: 1,
  /** Usage: an unknown option, a bad value, a missing argument. */
  usage: 2,
  /** bench: the run is INVALID (too short to claim its headline, unstable, a failed query, ...). */
  invalid: 3,
  /**
   * bench --latency-bound / --find-peak: the bound is not met at 99 % confidence; tune: no configuration meets the
   * --slo.
   */
  boundFailed: 4,
  /** --baseline with --threshold, or rtinfer compare: a significant regression beyond the threshold. */
  regression: 5,
  /** Interrupted (Ctrl-C): 128 + SIGINT; the partial report is still printed. */
  interrupted: 130,
} as const;

/** The code for a set of outcomes: interrupted first, then the lowest non-zero. */
export function exitCodeOf(o: {
  interrupted?: boolean;
  invalid?: boolean;
  boundFailed?: boolean;
  regression?: boolean;
}): number {
  if (o.interrupted) return EXIT.interrupted;
  if (o.invalid) return EXIT.invalid;
  if (o.boundFailed) return EXIT.boundFailed;
  if (o.regression) return EXIT.regression;
  return EXIT.ok;
}
