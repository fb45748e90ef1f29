/**
 * Bare inference as the serving benches' deadlines are set from it: `session.run` on one intra-op
 * thread in this process (rtinfer's session settings), after 10 unmeasured runs, for at least 50
 * runs and 2 s; the p50 in ms.
 */
import { performance } from 'node:perf_hooks';
import { Tensor } from 'onnxruntime-node';
import { createSession, readModel } from '../../src/runtime/session.js';
import { quantile } from './quantile.js';

export async function bareP50(
  path: string,
  input: string,
  dims: readonly number[],
  data: Float32Array,
): Promise<number> {
  const rt = await createSession(await readModel(path), { intraOpThreads: 1 });
  const feeds = { [input]: new Tensor('float32', data, [...dims]) };
  for (let i = 0; i < 10; i++) await rt.session.run(feeds);
  const ms: number[] = [];
  const t0 = performance.now();
  while (ms.length < 50 || performance.now() - t0 < 2000) {
    const t = performance.now();
    await rt.session.run(feeds);
    ms.push(performance.now() - t);
  }
  await rt.release();
  return quantile(
    ms.sort((a, b) => a - b),
    0.5,
  );
}
