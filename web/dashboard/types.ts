/**
 * The shapes the dashboard reads from the server: rtinfer.live/1 (src/server/live-stats.ts), the
 * model listing (src/server/live-routes.ts) and rtinfer.predict/1. Copied, not imported: web/ is
 * type-checked without Node's types, which the server modules need.
 */

export interface LivePoint {
  t: number;
  answered: number;
  rps: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  queueDepth: number;
  busy: number;
  batches: Record<string, number>;
  meanBatch: number;
  refused: number;
  missed: number;
  late: number;
  errors: number;
}

export interface LiveDistribution {
  counts: number[];
  count: number;
}

export interface LiveSnapshot {
  schema: 'rtinfer.live/1';
  intervalMs: number;
  windowPoints: number;
  bucketEdgesMs: readonly number[];
  models: Array<{ name: string; points: LivePoint[]; lastMinute: LiveDistribution }>;
}

export interface LiveTick {
  t: number;
  models: Array<{ name: string; point: LivePoint; lastMinute: LiveDistribution }>;
}

export interface ModelListing {
  name: string;
  version: string;
  state: string;
  reason?: string;
  task: string | null;
  head: string | null;
  /** Instances × threads and why (the auto hint's measurement); absent until loaded. */
  deployment?: { instances: number; threads: number; hint?: string; reason?: string };
}

export interface PredictAnswer {
  schema: 'rtinfer.predict/1';
  model: string;
  head: string;
  task: 'detect' | 'classify' | 'text' | 'semantic' | 'image';
  results: Array<{
    width: number;
    height: number;
    speedMs: Record<string, number>;
    detections?: Array<{
      label: string;
      score: number;
      box: number[];
      keypoints?: Array<{ x: number; y: number; score?: number }>;
      mask?: unknown;
      polygon?: number[][];
    }>;
    segments?: Array<{ classId: number; label: string; pixels: number }>;
    image?: { width: number; height: number; channels: number; range: string; luminance: boolean; scale: number };
    classes?: Array<{ label: string; score: number }>;
    texts?: Array<{ score: number; box: number[]; text?: string }>;
    annotated?: string;
  }>;
}

/** What the server embeds in the page (#rtinfer-data). */
export interface DashboardData {
  version: string;
  models: string[];
}
