/**
 * mkdir -p, one level at a time. node's own `mkdir(dir, { recursive: true })` never returns for a
 * folder under /proc (Node 20: it spins on the CPU), so `predict --save /proc/x` hung; made level by
 * level, such a folder fails with the errno of the level that cannot be made.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

function missingLevels(dir: string): string[] {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !existsSync(d);) {
    missing.push(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return missing.reverse();
}

export async function makeDir(dir: string): Promise<void> {
  for (const level of missingLevels(dir)) {
    try {
      await mkdir(level);
    } catch (error) {
      // Made meanwhile by someone else: fine, as with mkdir -p.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

export function makeDirSync(dir: string): void {
  for (const level of missingLevels(dir)) {
    try {
      mkdirSync(level);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}
