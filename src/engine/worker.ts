/**
 * Worker thread entry: owns one onnxruntime session and runs one batch at a time. Inference blocks
 * this thread's event loop, never the main thread's (measured: 75 ms of main-loop lag during a
 * 63 ms run when the model ran on the main thread).
 *
 * Requests come by message ('message' transport, and on the 'shared' one whatever cannot take the
 * shared path) or through the shared channel (shared-channel.ts), which this thread waits on with
 * Atomics.waitAsync so that its event loop stays free: onnxruntime-node's session.run resolves
 * through setImmediate, and the test hook's 'crash' message must still be heard.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { firstLine, isRtinferError } from '../errors.js';
import { createSession, type RuntimeSession } from '../runtime/session.js';
import { monotonicMs } from '../util/clock.js';
import { lowerThreadPriority } from '../util/thread-priority.js';
import type { FromWorker, ToWorker, WorkerData } from './protocol.js';
import { SharedEndpoint } from './shared-channel.js';
import { fromOrtOutputs, toOrtFeeds, transferList, type WireFeeds } from './tensors.js';

const port = parentPort;
if (!port) throw new Error('engine/worker must run in a worker thread');
const init = workerData as WorkerData;
// Before the session exists, so that onnxruntime's own threads inherit it.
if (init.nice !== undefined) lowerThreadPriority(init.nice);

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  try {
    port?.postMessage(message, transfer);
  } catch {
    // A buffer that cannot be transferred (owned by the runtime) travels by copy instead.
    port?.postMessage(message);
  }
}

// Test hook: a replacement that cannot start, as when the machine is out of memory.
if (init.failStartForTesting === true) process.exit(71);

let rt: RuntimeSession;
let channel: SharedEndpoint | undefined;
try {
  rt = await createSession({ label: init.label, bytes: init.modelBytes, readMs: 0 }, init.settings);
  if (init.channel) {
    const outputNames = rt.outputs.map((o) => o.name);
    channel = new SharedEndpoint(
      init.channel,
      rt.inputs.map((i) => i.name),
      (id, feeds) => runShared(id, feeds, outputNames),
    );
  }
  channel?.start();
  post({ type: 'ready', inputs: rt.inputs, outputs: rt.outputs, createMs: rt.createMs });
} catch (error) {
  post({
    type: 'init-error',
    code: isRtinferError(error) ? error.code : 'RTI_ERR_SESSION_CREATE',
    message: firstLine(error),
  });
  port.close();
}

port.on('message', (message: ToWorker) => {
  // Test hook (WorkerPool.crash): die as a faulting worker would, losing whatever comes next.
  if (message.type === 'crash') process.exit(70);
  else if (message.type === 'region') channel?.region(message.data, message.gen);
  else void run(message.id, message.feeds);
});

async function run(id: number, feeds: WireFeeds): Promise<void> {
  const received = monotonicMs();
  const t0 = performance.now();
  // The input buffers go back with the answer, for the engine to reuse.
  const inputs = transferList(feeds);
  try {
    const outputs = fromOrtOutputs(await rt.session.run(toOrtFeeds(feeds)));
    const out = transferList(outputs);
    const inferenceMs = performance.now() - t0;
    post({ type: 'result', id, outputs, inferenceMs, inputs, at: { received, answered: monotonicMs() } }, [
      ...out,
      ...inputs.filter((b) => !out.includes(b)),
    ]);
  } catch (error) {
    // All of onnxruntime's text (not the stack): the pool keeps its first line in the message, all of it as the cause.
    post(
      {
        type: 'error',
        id,
        message: error instanceof Error ? error.message : String(error),
        inferenceMs: performance.now() - t0,
        inputs,
      },
      inputs,
    );
  }
}

/**
 * A request from the shared channel. Its input buffers are this worker's own (reused), so none go
 * back; outputs that do not fit the channel, and errors, are answered by message as in run().
 */
async function runShared(id: number, feeds: WireFeeds, outputNames: readonly string[]): Promise<void> {
  const ch = channel as SharedEndpoint;
  const t0 = performance.now();
  try {
    const outputs = fromOrtOutputs(await rt.session.run(toOrtFeeds(feeds)));
    const inferenceMs = performance.now() - t0;
    if (!ch.reply(outputs, outputNames, inferenceMs)) {
      post({ type: 'result', id, outputs, inferenceMs, inputs: [] }, transferList(outputs));
      ch.replyByMessage();
    }
  } catch (error) {
    post({
      type: 'error',
      id,
      message: error instanceof Error ? error.message : String(error),
      inferenceMs: performance.now() - t0,
      inputs: [],
    });
    ch.replyByMessage();
  }
}
