/**
 * Several replicas of one served model as one load target, the load generator's own balancer:
 * least-outstanding (each request to the target with the fewest requests in flight from this
 * client, ties taken in turn; what Envoy's LEAST_REQUEST and Knative's activator approximate) or
 * round-robin. bench's remote path takes it through `target` as one string, the URLs separated by
 * spaces with an optional leading `balance=round-robin` (so bench.ts is unchanged: see
 * createRemoteTarget).
 */
import { RtinferError } from '../errors.js';
import type { HttpTarget, HttpTargetOptions } from './http-target.js';
import { ServerTimingRecorder } from './server-timing.js';

export const TARGET_BALANCERS = ['least-outstanding', 'round-robin'] as const;
export type TargetBalancer = (typeof TARGET_BALANCERS)[number];

/** The `target` string for several URLs. */
export function joinTargets(urls: readonly string[], balancer: TargetBalancer = 'least-outstanding'): string {
  return [...(balancer === 'round-robin' ? ['balance=round-robin'] : []), ...urls].join(' ');
}

export function splitTargets(text: string): { urls: string[]; balancer: TargetBalancer } {
  const parts = text.trim().split(/\s+/);
  let balancer: TargetBalancer = 'least-outstanding';
  const first = parts[0] ?? '';
  if (first.startsWith('balance=')) {
    const b = first.slice('balance='.length);
    if (!(TARGET_BALANCERS as readonly string[]).includes(b))
      throw new RtinferError(
        'RTI_ERR_ARG_INVALID',
        `invalid balance '${b}' (expected one of ${TARGET_BALANCERS.join(', ')})`,
      );
    balancer = b as TargetBalancer;
    parts.shift();
  }
  return { urls: parts, balancer };
}

/** No merged server split: each replica's recorder is its own (reset together). */
class SplitServerTiming extends ServerTimingRecorder {
  readonly #parts: readonly ServerTimingRecorder[];
  constructor(parts: readonly ServerTimingRecorder[]) {
    super();
    this.#parts = parts;
  }
  override reset(): void {
    for (const p of this.#parts) p.reset();
  }
  override summary(): undefined {
    return undefined;
  }
}

/** The chosen index: pure, for tests. Ties (and round-robin) go in turn from `next`. */
export function pickTarget(outstanding: ArrayLike<number>, next: number, balancer: TargetBalancer): number {
  const n = outstanding.length;
  if (balancer === 'round-robin') return next % n;
  let best = next % n;
  for (let k = 1; k < n; k++) {
    const j = (next + k) % n;
    if ((outstanding[j] as number) < (outstanding[best] as number)) best = j;
  }
  return best;
}

export async function createMultiTarget(
  urls: readonly string[],
  balancer: TargetBalancer,
  options: HttpTargetOptions,
  create: (url: string, o: HttpTargetOptions) => Promise<HttpTarget>,
): Promise<HttpTarget> {
  const targets: HttpTarget[] = [];
  try {
    for (const u of urls) targets.push(await create(u, options));
  } catch (error) {
    for (const t of targets) t.close();
    throw error;
  }
  const sig = (t: HttpTarget): string => JSON.stringify(t.inputs.map((i) => [i.name, i.dtype, i.shape]));
  const first = targets[0] as HttpTarget;
  const other = targets.find((t) => sig(t) !== sig(first));
  if (other !== undefined) {
    for (const t of targets) t.close();
    throw new RtinferError(
      'RTI_ERR_ARG_INVALID',
      `--target ${other.url} serves other inputs than ${first.url}: the targets must be replicas of one model`,
    );
  }
  const outstanding = new Int32Array(targets.length);
  let next = 0;
  return {
    url: `${targets.map((t) => t.url).join(' + ')} (${balancer})`,
    inputs: first.inputs,
    outputs: first.outputs,
    serverTiming: new SplitServerTiming(targets.map((t) => t.serverTiming)),
    async infer(feeds, decode, dueAt) {
      const i = pickTarget(outstanding, next, balancer);
      next = (next + 1) % targets.length;
      outstanding[i] = (outstanding[i] as number) + 1;
      try {
        return await (targets[i] as HttpTarget).infer(feeds, decode, dueAt);
      } finally {
        outstanding[i] = (outstanding[i] as number) - 1;
      }
    },
    close() {
      for (const t of targets) t.close();
    },
  };
}
