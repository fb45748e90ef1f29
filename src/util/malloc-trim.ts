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
