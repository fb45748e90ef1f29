/**
 * The layering of src/: every folder lives on a floor and imports only from floors below its own
 * (static imports, re-exports and dynamic import() alike). The README's code map states the same
 * order. A new upward import fails here with the file that made it; the known exceptions are listed
 * with what would remove them, and the list may only shrink.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Bottom first. Folders on one floor do not import each other. */
export const FLOORS: readonly (readonly string[])[] = [
  ['errors', 'version', 'util'],
  ['runtime', 'stats'],
  ['protocol', 'engine'],
  ['vision'],
  ['video', 'accuracy'],
  ['loadgen'],
  ['optimize'],
  ['tune'],
  ['store'],
  ['compare'],
  ['report'],
  ['server'],
  ['deploy'],
  ['plan'],
  ['cli'],
  ['index'],
];

/** Upward imports still there, `from -> to` by folder, with the file and why it is not fixed yet. */
const KNOWN_UPWARD = new Map<string, string>([]);

function floorOf(folder: string): number {
  const i = FLOORS.findIndex((f) => f.includes(folder));
  assert.ok(i >= 0, `src/${folder} is on no floor: add it to FLOORS (and to the README's code map)`);
  return i;
}

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sources(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

/** The top folder of a path under src/ ('index' for src/index.ts, 'errors' for src/errors.ts). */
function folderOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? (rel[0] as string).replace(/\.ts$/, '') : (rel[0] as string);
}

function edges(): Array<{ from: string; to: string; file: string }> {
  const out: Array<{ from: string; to: string; file: string }> = [];
  const spec = /(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g;
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(spec)) {
      const target = path.resolve(path.dirname(file), (m[1] as string).replace(/\.js$/, '.ts'));
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) out.push({ from, to, file: path.relative(SRC, file) });
    }
  }
  return out;
}

test('src/ imports only downward, floor by floor (apart from the listed exceptions)', () => {
  const found = edges();
  assert.ok(found.length > 100, `read the imports of src/ (${found.length} edges)`);
  const upward = new Map<string, string[]>();
  for (const e of found) {
    if (floorOf(e.to) < floorOf(e.from)) continue;
    const key = `${e.from} -> ${e.to}`;
    upward.set(key, [...(upward.get(key) ?? []), e.file]);
  }
  const unexpected = [...upward].filter(([k]) => !KNOWN_UPWARD.has(k));
  assert.deepEqual(
    unexpected.map(([k, files]) => `${k} (${[...new Set(files)].join(', ')})`),
    [],
    'imports from a floor above (or beside) their own',
  );
  // An exception that is gone must leave the list, so that it cannot come back unnoticed.
  const stale = [...KNOWN_UPWARD.keys()].filter((k) => !upward.has(k));
  assert.deepEqual(stale, [], 'listed exceptions that no longer occur: remove them from KNOWN_UPWARD');
});

test('every folder of src/ is on a floor', () => {
  const folders = new Set([...sources(SRC)].map(folderOf));
  for (const f of folders) floorOf(f);
  assert.ok(folders.size >= 15, [...folders].join(', '));
});
