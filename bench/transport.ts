/**
 * bench/transport (issue #17): what one request costs on each transport rtinfer serve speaks,
 * with no inference behind it. Echo servers (bench/support/echo-server.ts), each in a child
 * process of its own, read the whole body and answer 16 bytes:
 *   http       node:http (REST's transport), driven by an http.Agent with keep-alive;
 *   h2         node:http2 alone, a gRPC-shaped answer;
 *   grpc       grpc-js with its default HTTP/2 windows (64 KiB);
 *   grpc-wide  grpc-js with the windows rtinfer serve's gRPC port opens (4 MiB stream, 16 MiB connection);
 * the last three driven by rtinfer's lean gRPC client (src/loadgen/grpc-client.ts).
 * One request at a time, bodies of 110 KB (the PP-OCR classifier's input) and 2 MB (yolox_nano's),
 * ROUNDS rounds of BLOCK requests per server in A B C D / D C B A order; p50 and p90 of the round trip.
 * No goal: it says what the gRPC path can at best cost against REST on this machine.
 *
 *   npm run bench:transport [-- --rounds 6]
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GrpcH2Client } from '../src/loadgen/grpc-client.js';
import { quantile } from './support/quantile.js';

const ECHO = fileURLToPath(new URL('./support/echo-server.ts', import.meta.url));
const MODES = ['http', 'h2', 'grpc', 'grpc-wide'] as const;
type Mode = (typeof MODES)[number];
const SIZES = [110_592, 2_076_672];
const BLOCK = 100;
const WARMUP = 100;

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '4' } } });
const ROUNDS = Number(args.rounds);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 2)) {
  console.error('bench/transport: --rounds N (an integer >= 2, default 4)');
  process.exit(2);
}

function start(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(ECHO, [mode], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${mode} echo server did not start within 20 s`)), 20_000);
    child.once('message', (m: { port: number }) => {
      clearTimeout(timer);
      resolve({ child, port: m.port });
    });
    child.once('exit', (code) => reject(new Error(`the ${mode} echo server exited early (code ${code})`)));
  });
}

const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGTERM')));
const callers = new Map<Mode, (body: Buffer) => Promise<void>>();
const closers: Array<() => void> = [];
for (const mode of MODES) {
  const { child, port } = await start(mode);
  children.push(child);
  if (mode === 'http') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    closers.push(() => agent.destroy());
    callers.set(
      mode,
      (body) =>
        new Promise((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-length': body.length } },
            (res) => {
              res.on('data', () => {});
              res.on('end', resolve);
            },
          );
          req.on('error', reject);
          req.end(body);
        }),
    );
  } else {
    const client = new GrpcH2Client(`127.0.0.1:${port}`);
    closers.push(() => client.close());
    callers.set(mode, async (body) => {
      const r = await client.call('/t.T/Echo', body, 10_000);
      if (r.status !== 0) throw new Error(`${mode}: grpc-status ${r.status} ${r.details}`);
    });
  }
}

console.log(
  `bench/transport · ${os.cpus()[0]?.model ?? 'cpu'} · ${os.availableParallelism()} cores · Node ${process.version} · ${ROUNDS} rounds of ${BLOCK} per server · load average ${os.loadavg()[0]?.toFixed(2)}`,
);
try {
  for (const size of SIZES) {
    const body = Buffer.alloc(size, 1);
    const times = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
    for (const mode of MODES) for (let i = 0; i < WARMUP; i++) await callers.get(mode)!(body);
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
        const call = callers.get(mode)!;
        const out = times.get(mode)!;
        for (let i = 0; i < BLOCK; i++) {
          const t0 = performance.now();
          await call(body);
          out.push(performance.now() - t0);
        }
      }
    }
    console.log(`\n${(size / 1024).toFixed(0)} KiB up, 16 B back, one at a time (ms)`);
    console.log(`${'server'.padEnd(10)}  ${'p50'.padStart(7)}  ${'p90'.padStart(7)}  vs http p50`);
    const httpP50 = quantile(Float64Array.from(times.get('http')!).sort(), 0.5);
    for (const mode of MODES) {
      const xs = Float64Array.from(times.get(mode)!).sort();
      const p50 = quantile(xs, 0.5);
      console.log(
        `${mode.padEnd(10)}  ${p50.toFixed(3).padStart(7)}  ${quantile(xs, 0.9).toFixed(3).padStart(7)}  ${(p50 / httpP50).toFixed(2)}×`,
      );
    }
  }
} finally {
  for (const close of closers) close();
  for (const c of children) c.kill('SIGTERM');
}
