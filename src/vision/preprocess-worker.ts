/**
 * Worker thread entry for PreprocessPool: decode and pack images off the thread that serves
 * requests (libvips decodes in its own pool, but the pack loop into the tensor is JavaScript).
 */
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { errorData } from '../errors.js';
import type { PreprocessConfig } from './config.js';
import { preprocess } from './preprocess.js';

export type PreprocessRequest = { id: number; image: Uint8Array | string; config: PreprocessConfig };

// A server's images are all different (camera frames, uploads): libvips' operation cache (50 MB
// and 100 operations by default) would only keep memory after a burst, never hit.
sharp.cache(false);

const port = parentPort;
if (!port) throw new Error('vision/preprocess-worker must run in a worker thread');

port.on('message', (m: PreprocessRequest) => {
  void (async () => {
    try {
      const r = await preprocess(m.image, m.config);
      const buffer = r.tensor.data.buffer as ArrayBuffer;
      port.postMessage({ id: m.id, ok: true, result: r }, [buffer]);
    } catch (error) {
      port.postMessage({ id: m.id, ok: false, ...errorData(error) });
    }
  })();
});
