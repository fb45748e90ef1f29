/**
 * A one-line progress bar on stderr, drawn only when stdout is a terminal, so piped and --json
 * output stay clean.
 */
import type { Progress } from '../loadgen/single-stream.js';

export interface ProgressBar {
  update(p: Progress): void;
  done(): void;
}

const WIDTH = 30;

export function createProgressBar(label: string, enabled: boolean): ProgressBar {
  if (!enabled || !process.stderr.isTTY) return { update: () => undefined, done: () => undefined };
  let drawn = false;
  return {
    update(p) {
      const filled = Math.round(p.fraction * WIDTH);
      const bar = '#'.repeat(filled) + '-'.repeat(WIDTH - filled);
      process.stderr.write(
        `\r${label} [${bar}] ${Math.round(p.fraction * 100)}% · ${p.queries} queries ` +
          `· ${(p.elapsedMs / 1000).toFixed(1)} s`,
      );
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[2K');
    },
  };
}
