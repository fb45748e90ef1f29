/**
 * The server's own split of each answer (the W3C Server-Timing header: `queue;dur=0.120,
 * inference;dur=2.310, ...` in ms), collected per stage by HTTP targets so a bench report can say
 * where the round trip went: in the server's stages, or in the network and the client.
 */
import { LatencyRecorder } from '../stats/latency-recorder.js';
import { summarize, type StageSummary } from '../vision/stages.js';

/** Stage names are kept from the first answers only, so a server cannot grow the map without bound. */
const MAX_STAGES = 16;

export function parseServerTiming(header: string | undefined): Array<[string, number]> {
  if (!header) return [];
  const out: Array<[string, number]> = [];
  for (const part of header.split(',')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*(?:;.*?\bdur=([\d.]+))?/.exec(part);
    const name = m?.[1];
    const dur = m?.[2] === undefined ? NaN : Number(m[2]);
    if (name && Number.isFinite(dur)) out.push([name, dur]);
  }
  return out;
}

export class ServerTimingRecorder {
  readonly #stages = new Map<string, LatencyRecorder>();

  record(header: string | undefined): void {
    for (const [name, ms] of parseServerTiming(header)) {
      let r = this.#stages.get(name);
      if (!r) {
        if (this.#stages.size >= MAX_STAGES) continue;
        r = new LatencyRecorder();
        this.#stages.set(name, r);
      }
      r.record(Math.max(1, ms * 1000));
    }
  }

  reset(): void {
    this.#stages.clear();
  }

  /** Per stage in ms, in the order the server named them; undefined when no answer carried the header. */
  summary(): Record<string, StageSummary> | undefined {
    if (this.#stages.size === 0) return undefined;
    return Object.fromEntries([...this.#stages].map(([name, r]) => [name, summarize(r)]));
  }
}
