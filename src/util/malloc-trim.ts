/**
 * glibc's malloc_trim(0), reached through koffi (an FFI library with prebuilt binaries). After a
 * burst of large request bodies, glibc keeps the freed memory in its arenas (one per thread that
 * allocated), so RSS stays at the burst's peak long after the server went quiet: bench/soak on
 * yolox_nano ended 185 MB over its start, and one malloc_trim(0) brought it back to +5 MB. Nothing
 * else returns that memory: V8 has no say over malloc's free lists.
 *
 * Undefined where there is no glibc (macOS, Windows, musl) or koffi cannot load: then nothing trims.
 */
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Returns memory that malloc holds free to the OS, on a libuv thread; resolves true if any was. */
export type MallocTrim = () => Promise<boolean>;

let loaded: MallocTrim | null | undefined;

export function mallocTrim(): MallocTrim | undefined {
  if (loaded === undefined) loaded = load();
  return loaded ?? undefined;
}

function load(): MallocTrim | null {
  if (process.platform !== 'linux') return null;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)');
    // Asynchronous: walking every arena's free lists takes milliseconds (18 ms after a 200 MB
    // burst here), which the serving thread should not spend.
    return () =>
      new Promise<boolean>((resolve) =>
        trim.async(0, (error: unknown, released: number) => resolve(!error && released === 1)),
      );
  } catch {
    return null;
  }
}

let gc: ((options?: { type: 'minor' | 'major' }) => void) | null | undefined;

/**
 * A V8 collection on this thread, for a server gone quiet: request bodies hold their malloc'd
 * buffers until a collection finds them dead, which an idle process may not run for minutes
 * (bench/soak: 74 MB of them 15 s after the load), and malloc_trim cannot return what is still
 * allocated. 'minor' (a scavenge) frees those that died young and costs nothing after; 'major' frees
 * the rest, but V8 then drops the optimized code of everything whose objects it found dead (the
 * whole request path: see MemoryTrimmer). V8 offers `gc` only behind --expose-gc, so it is turned
 * on here and taken from a fresh context. False where that is refused.
 */
export function collectGarbage(type: 'minor' | 'major' = 'major'): boolean {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as typeof gc;
    } catch {
      gc = null;
    }
  }
  // Without options, gc() is V8's memory-reducing full collection: 20-30 MB less RSS 20 s after a
  // yolox_nano burst than gc({ type: 'major' }) in three runs.
  if (type === 'minor') gc?.({ type });
  else gc?.();
  return gc !== null;
}
