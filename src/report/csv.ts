/** Per-query CSV: one row per measured query, for analysis in other tools. */

export function perQueryCsv(latenciesUs: Float64Array, startsMs: Float64Array): string {
  const lines = ['query,start_ms,latency_us'];
  for (let i = 0; i < latenciesUs.length; i++) {
    lines.push(`${i + 1},${(startsMs[i] ?? 0).toFixed(3)},${(latenciesUs[i] ?? 0).toFixed(1)}`);
  }
  return lines.join('\n') + '\n';
}
