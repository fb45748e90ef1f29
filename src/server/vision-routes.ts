/**
 * Image endpoints for vision models, over the same engine as the v2 endpoints:
 * POST /api/models/{name}/predict with an image body (image/*, or multipart/form-data with a
 * file): the rtinfer.predict/1 result for that image with its per-stage timing; `?annotate=1`
 * answers the annotated PNG instead, or, with `Accept: application/json`, the result with the PNG
 * as a data URL in `results[0].annotated` (one inference for both, as the dashboard wants).
 * The WebSocket stream of frames is in streams.ts; both use the VisionService here.
 */
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { RtinferError } from '../errors.js';
import { inspectModel } from '../runtime/model-info.js';
import { readModel } from '../runtime/session.js';
import { modelFilePipeline } from '../vision/open-model.js';
import { renderResult } from '../vision/render.js';
import { readSidecar } from '../vision/sidecar.js';
import { resultJson, type MaskFormat } from '../vision/result-json.js';
import type { PreprocessConfig } from '../vision/config.js';
import { type VisionPipeline, type VisionResult } from '../vision/pipeline.js';
import { PreprocessPool } from '../vision/preprocess-pool.js';
import { HttpError, readBody, sendBody, sendJson } from './http-io.js';
import type { LoadedModelEntry, ReadyModel, RouteContext, ServerHost } from './types.js';
import { round3 } from '../util/format.js';

export const PREDICT_SCHEMA = 'rtinfer.predict/1';

/** A vision head's identity, or nulls for a model that fits none (it still serves v2 requests). */
export interface HeadInfo {
  task: string | null;
  head: string | null;
}

/**
 * Per-server vision state: each model's pipeline, built once on first use (its metadata_props pick
 * the head), and one preprocessing worker, started on the first image and stopped with the server.
 */
export class VisionService {
  readonly #host: ServerHost;
  readonly #pipelines = new Map<LoadedModelEntry, Promise<VisionPipeline>>();
  readonly #heads = new Map<LoadedModelEntry, Promise<HeadInfo>>();
  #preprocessor: PreprocessPool | undefined;

  constructor(host: ServerHost) {
    this.#host = host;
    host.onClose(() => this.close());
  }

  pipeline(entry: ReadyModel): Promise<VisionPipeline> {
    let p = this.#pipelines.get(entry);
    if (!p) {
      p = (async () => {
        const loaded = await readModel(entry.config.path);
        const metadata = inspectModel(loaded.bytes, loaded.label).metadata;
        // The model's sidecar (model.rtinfer.json) wires heads and preprocessing as for predict.
        const side = await readSidecar(entry.config.path);
        // As for predict: a text-line recogniser's dictionary found beside the model.
        return modelFilePipeline(
          entry.config.path,
          {
            preprocess: { maxPixels: this.#host.config.maxImagePixels },
            ...(entry.config.task ? { task: entry.config.task } : {}),
            session: entry.engine,
            metadata,
            // Decode and pack in a worker: the pack loop would otherwise run on the HTTP thread.
            preprocessor: (image: Uint8Array | string, config: PreprocessConfig) => this.#pool().run(image, config),
          },
          side,
        );
      })();
      this.#pipelines.set(entry, p);
      // A model that is not a vision model answers that on every image request, not once.
      p.catch(() => this.#pipelines.delete(entry));
    }
    return p;
  }

  /**
   * A ready model's head, found once: a model that fits no head would otherwise have its file read
   * and parsed again on every listing (the image endpoints retry on purpose, this need not).
   */
  head(entry: ReadyModel): Promise<HeadInfo> {
    let found = this.#heads.get(entry);
    if (!found) {
      found = this.pipeline(entry).then(
        (p) => ({ task: p.head.task, head: p.head.name }),
        () => ({ task: null, head: null }),
      );
      this.#heads.set(entry, found);
    }
    return found;
  }

  #pool(): PreprocessPool {
    this.#preprocessor ??= new PreprocessPool(1);
    return this.#preprocessor;
  }

  async close(): Promise<void> {
    await this.#preprocessor?.close();
    this.#preprocessor = undefined;
  }
}

export function resultBody(
  model: string,
  pipeline: VisionPipeline,
  r: VisionResult,
  masks: MaskFormat = 'rle',
): Record<string, unknown> {
  const { width, height } = r.transform.original;
  const base = {
    width,
    height,
    speedMs: Object.fromEntries(Object.entries(r.speedMs).map(([k, v]) => [k, round3(v)])),
  };
  // Keypoints, masks (RLE unless ?masks=polygon), rotated boxes, segments and image outputs as
  // predict --json writes them.
  return {
    schema: PREDICT_SCHEMA,
    model,
    head: pipeline.head.name,
    task: pipeline.head.task,
    results: [{ ...base, ...resultJson(r, width, height, masks) }],
  };
}

/** The image in a request body: raw bytes, or the first file of a multipart form. */
async function imageFrom(req: IncomingMessage, body: Buffer): Promise<Buffer> {
  const type = req.headers['content-type'] ?? '';
  if (body.length === 0)
    throw new RtinferError(
      'RTI_ERR_IMAGE_DECODE',
      'the request has no image: send the image bytes as the body, or a multipart form with a file',
    );
  if (!type.startsWith('multipart/form-data')) return body;
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch {
    throw new RtinferError('RTI_ERR_INPUT_DATA', 'the multipart/form-data body cannot be parsed');
  }
  const named = form.get('image');
  const file =
    typeof named === 'object' && named !== null ? named : [...form.values()].find((v) => typeof v === 'object');
  if (file === undefined || typeof file === 'string')
    throw new RtinferError('RTI_ERR_INPUT_DATA', "the form has no file field (send the image as field 'image')");
  return Buffer.from(await file.arrayBuffer());
}

function masksOf(url: URL): MaskFormat {
  const m = url.searchParams.get('masks');
  if (m === null || m === 'rle') return 'rle';
  if (m === 'polygon') return 'polygon';
  throw new HttpError(400, `invalid masks '${m}' (expected rle or polygon)`);
}

export function addVisionRoutes(host: ServerHost, vision: VisionService): void {
  host.route({
    method: 'POST',
    path: '/api/models/{name}/predict',
    endpoint: 'predict',
    auth: 'token',
    model: 'ready',
    handler: (ctx) => predict(host, vision, ctx),
  });
}

async function predict(host: ServerHost, vision: VisionService, ctx: RouteContext): Promise<void> {
  const entry = ctx.model;
  const body = await readBody(ctx.req, ctx.res, {
    limit: host.config.maxBodyBytes,
    budget: host.bodyBudget,
    refused: host.refusedBodies,
    until: ctx.finished,
  });
  const image = await imageFrom(ctx.req, body.bytes);
  const pipeline = await vision.pipeline(entry);
  const { name, version } = entry.config;
  host.metrics.inflight.inc({ model: name });
  try {
    let r: VisionResult;
    try {
      r = await pipeline.predict(image);
    } catch (error) {
      host.stats.fail(name, version, performance.now() - ctx.receivedAt);
      throw error;
    }
    // In the model's statistics as its v2 requests are: an image runs the model once.
    host.stats.success(name, version, {
      totalMs: performance.now() - ctx.receivedAt,
      queueMs: 0,
      inputMs: r.speedMs.decode + r.speedMs.preprocess,
      inferMs: r.speedMs.inference,
      outputMs: r.speedMs.postprocess,
      batchSize: 1,
      batchRequests: 1,
    });
    const timing = (['decode', 'preprocess', 'inference', 'postprocess'] as const)
      .map((stage) => `${stage};dur=${r.speedMs[stage].toFixed(3)}`)
      .join(', ');
    if (ctx.url.searchParams.get('annotate') === '1') {
      const png = await renderResult(image, r, { format: 'png' });
      if (png === undefined)
        throw new HttpError(400, `annotate=1 draws boxes; model '${entry.config.name}' is a classifier`);
      if ((ctx.req.headers.accept ?? '').includes('application/json')) {
        const result = resultBody(entry.config.name, pipeline, r, masksOf(ctx.url));
        const [first] = result['results'] as Array<Record<string, unknown>>;
        if (first) first['annotated'] = `data:image/png;base64,${png.toString('base64')}`;
        sendJson(ctx.res, 200, result, { 'server-timing': timing });
      } else {
        sendBody(ctx.res, 200, png, { 'content-type': 'image/png', 'server-timing': timing });
      }
    } else {
      sendJson(ctx.res, 200, resultBody(entry.config.name, pipeline, r, masksOf(ctx.url)), { 'server-timing': timing });
    }
  } finally {
    host.metrics.inflight.dec({ model: name });
  }
}
