/** Number formatting for the pages; the same rules as src/report/format.ts uses for the terminal. */

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 10) return ms.toFixed(2);
  if (ms >= 1) return ms.toFixed(3);
  return ms.toFixed(4);
}

export function formatRate(qps: number): string {
  return qps >= 100 ? qps.toFixed(0) : qps.toFixed(1);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatShapes(shapes: Record<string, readonly number[]>): string {
  return Object.entries(shapes).map(([n, d]) => `${n}=${d.join('x')}`).join(' ');
}
