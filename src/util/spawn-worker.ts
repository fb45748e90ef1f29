/**
 * Starting a worker thread from a module beside the caller. Compiled, it is `<name>.js`; under tsx
 * (tests and benches run from source) it is `<name>.ts`, which a worker can only load after
 * registering tsx itself (Node 20 does not pass --import on to workers).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** `base` is the caller's import.meta.url; `name` the module's file name without extension. */
export function spawnWorker(base: string, name: string, workerData: unknown): Worker {
  const js = new URL(`./${name}.js`, base);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const ts = new URL(`./${name}.ts`, base).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
