/** Number formatting shared by the text reports. */

/** Rounded to 3 decimals: a millisecond figure to the microsecond, as the JSON reports give them. */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 100) return ms.toFixed(1);
  if (ms >= 10) return ms.toFixed(2);
  if (ms >= 1) return ms.toFixed(3);
  return ms.toFixed(4);
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

/** 3_800_000 → "3.80 M"; 8.5e9 → "8.50 G". */
export function formatCount(n: number): string {
  const units: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, unit] of units) if (Math.abs(n) >= scale) return `${(n / scale).toFixed(2)} ${unit}`;
  return String(n);
}

export function formatShape(dims: readonly (number | string)[]): string {
  return `[${dims.map((d) => (d === '' ? '?' : String(d))).join(', ')}]`;
}

/** Left-aligned first column, right-aligned numbers; columns separated by two spaces. */
export function formatTable(rows: readonly (readonly string[])[], indent = ''): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

/** 'a bench', 'an optimize': the article a word takes (by its first letter, which suits these words). */
export function article(word: string): string {
  return `${/^[aeiou]/i.test(word) ? 'an' : 'a'} ${word}`;
}
