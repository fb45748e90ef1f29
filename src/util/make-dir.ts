/**
 * mkdir -p, one level at a time. node's own `mkdir(dir, { recursive: true })` never returns for a
 * folder under /proc (Node 20: it spins on the CPU), so `predict --save /proc/x` hung; made level by
 * level, such a folder fails with the errno of the level that cannot be made.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** The levels to make, outermost first; throws as mkdir -p would when a level that exists is a file. */
function missingLevels(dir: string): string[] {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  if (existsSync(d) && !statSync(d).isDirectory()) {
    const code = missing.length === 0 ? 'EEXIST' : 'ENOTDIR';
    const reason = code === 'EEXIST' ? 'file already exists' : 'not a directory';
    throw Object.assign(new Error(`${code}: ${reason}, mkdir '${d}'`), { code });
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
