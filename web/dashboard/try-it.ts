/**
 * The "try it" panel: pick or drop an image, POST it to /api/models/{name}/predict, and show the
 * annotated image, what was found, and where the time went (decode, preprocess, inference,
 * postprocess from the server; the rest of the round trip is the network and the HTTP layer).
 * Detectors and text detectors ask for `?annotate=1` with `Accept: application/json`: one inference
 * answers both the result and the drawn image. Classifiers get the plain result.
 */
import { COLORS } from '../shared/charts.js';
import { dataTable, h } from '../shared/dom.js';
import { formatMs } from '../shared/format.js';
import { api } from './api.js';
import { cameraControls } from './camera.js';
import type { ModelListing, PredictAnswer } from './types.js';

const STAGES = ['decode', 'preprocess', 'inference', 'postprocess'] as const;
const MAX_ROWS = 12;

export function tryItPanel(parent: HTMLElement, models: readonly ModelListing[]): void {
  const vision = models.filter((m) => m.state === 'READY' && m.task !== null);
  const card = h('section', { class: 'card', id: 'tryit' }, h('h2', {}, 'Try it'));
  parent.append(card);
  if (vision.length === 0) {
    card.append(
      h(
        'p',
        { class: 'meta' },
        'No vision model is served (a detector, classifier or text detector): the panel needs one.',
      ),
    );
    return;
  }
  const select = h(
    'select',
    { id: 'tryit-model' },
    ...vision.map((m) => h('option', { value: m.name }, `${m.name} (${m.task})`)),
  );
  const file = h('input', { type: 'file', id: 'tryit-file', accept: 'image/*' });
  const drop = h('label', { class: 'drop', id: 'tryit-drop' }, 'Drop an image here, or ', file);
  const status = h('p', { class: 'meta', id: 'tryit-status' }, 'Pick a model and an image.');
  const result = h('div', { class: 'tryit-result', id: 'tryit-result', 'data-state': 'idle' });
  card.append(h('div', { class: 'tryit-controls' }, h('label', {}, 'model ', select), drop), status, result);
  cameraControls(card, () => vision.find((m) => m.name === select.value) ?? vision[0]!);

  // A file dropped beside the zone must not navigate the page away from the dashboard.
  for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (e) => e.preventDefault());
  drop.addEventListener('dragover', () => drop.classList.add('over'));
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void run(f);
  });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) void run(f);
  });

  async function run(image: File): Promise<void> {
    const model = vision.find((m) => m.name === select.value) ?? vision[0]!;
    result.dataset['state'] = 'running';
    status.textContent = `${image.name}: running ${model.name}…`;
    const annotate = model.task !== 'classify';
    const t0 = performance.now();
    try {
      const res = await api(`api/models/${encodeURIComponent(model.name)}/predict${annotate ? '?annotate=1' : ''}`, {
        method: 'POST',
        body: image,
        headers: { 'content-type': image.type || 'application/octet-stream', accept: 'application/json' },
      });
      const answer = (await res.json()) as PredictAnswer;
      const roundTripMs = performance.now() - t0;
      show(answer, image, roundTripMs, annotate);
      status.textContent = `${image.name} → ${model.name} (${answer.head})`;
      result.dataset['state'] = 'done';
    } catch (error) {
      result.replaceChildren(h('p', { class: 'error' }, error instanceof Error ? error.message : String(error)));
      status.textContent = `${image.name}: failed`;
      result.dataset['state'] = 'error';
    }
  }

  function show(answer: PredictAnswer, image: File, roundTripMs: number, annotated: boolean): void {
    const r = answer.results[0];
    if (!r) throw new Error('the answer has no result');
    const img = h('img', {
      id: 'tryit-image',
      alt: `${answer.model} result`,
      src: r.annotated ?? URL.createObjectURL(image),
    });
    const stageMs = STAGES.map((s) => r.speedMs[s] ?? 0);
    const serverMs = stageMs.reduce((a, b) => a + b, 0);
    const otherMs = Math.max(0, roundTripMs - serverMs);
    const parts = [
      ...STAGES.map((s, i) => ({ label: s, ms: stageMs[i] ?? 0, color: COLORS[i] ?? '#888' })),
      { label: annotated ? 'drawing, HTTP and network' : 'HTTP and network', ms: otherMs, color: '#adb5bd' },
    ];
    const total = parts.reduce((a, p) => a + p.ms, 0) || 1;
    const bar = h(
      'div',
      { class: 'split', id: 'tryit-split', 'data-stages': String(STAGES.length) },
      ...parts.map((p) =>
        h('span', {
          style: `width:${((100 * p.ms) / total).toFixed(2)}%;background:${p.color}`,
          title: `${p.label} ${formatMs(p.ms)} ms`,
        }),
      ),
    );
    const legend = h(
      'div',
      { class: 'legend' },
      ...parts.map((p) => h('span', {}, h('i', { style: `background:${p.color}` }), `${p.label} ${formatMs(p.ms)} ms`)),
    );
    const found = findings(answer);
    result.replaceChildren(
      h('div', { class: 'tryit-image' }, img),
      h(
        'div',
        { class: 'tryit-info' },
        h('h3', {}, `Latency: ${formatMs(serverMs)} ms in the server, ${formatMs(roundTripMs)} ms round trip`),
        bar,
        legend,
        h('h3', {}, found.title),
        found.table,
      ),
    );
    result.dataset['detections'] = String(found.count);
  }
}

function findings(answer: PredictAnswer): { title: string; count: number; table: HTMLElement } {
  const r = answer.results[0]!;
  const box = (b: readonly number[]): string => `[${b.map((v) => Math.round(v)).join(', ')}]`;
  if (r.detections) {
    // Keypoints, masks and rotated boxes are drawn on the server's annotated image; the table says which.
    const extra = (d: (typeof r.detections)[number]): string =>
      [d.keypoints ? `${d.keypoints.length} keypoints` : '', d.mask ? 'mask' : '', d.polygon ? 'rotated' : '']
        .filter(Boolean)
        .join(', ');
    const rows = r.detections.slice(0, MAX_ROWS).map((d) => [d.label, d.score.toFixed(3), box(d.box), extra(d)]);
    return {
      title: `${r.detections.length} detection${r.detections.length === 1 ? '' : 's'}`,
      count: r.detections.length,
      table: dataTable(['label', 'score', 'box', 'also'], rows, undefined, { id: 'tryit-detections' }),
    };
  }
  if (r.segments) {
    const rows = r.segments
      .slice(0, MAX_ROWS)
      .map((g) => [g.label, String(g.pixels), `${((100 * g.pixels) / (r.width * r.height)).toFixed(1)} %`]);
    return {
      title: `${r.segments.length} class${r.segments.length === 1 ? '' : 'es'} present`,
      count: r.segments.length,
      table: dataTable(['class', 'pixels', 'share'], rows, undefined, { id: 'tryit-detections' }),
    };
  }
  if (r.image) {
    const o = r.image;
    const rows = [
      ['size', `${o.width}x${o.height}`],
      ['scale', `×${o.scale}`],
      ['values', o.range],
      ['channels', o.luminance ? "1 (luminance, shown with the input's colour)" : String(o.channels)],
    ];
    return { title: 'output image', count: 1, table: dataTable(['', ''], rows, undefined, { id: 'tryit-detections' }) };
  }
  if (r.texts) {
    // A recogniser's line shows what it read (as a text node: no markup gets through).
    const rows = r.texts
      .slice(0, MAX_ROWS)
      .map((t, i) => [t.text === undefined ? `text ${i + 1}` : t.text, t.score.toFixed(3), box(t.box)]);
    return {
      title: `${r.texts.length} text region${r.texts.length === 1 ? '' : 's'}`,
      count: r.texts.length,
      table: dataTable(['region', 'score', 'box'], rows, undefined, { id: 'tryit-detections' }),
    };
  }
  const classes = r.classes ?? [];
  const rows = classes.slice(0, MAX_ROWS).map((c) => [c.label, c.score.toFixed(3)]);
  return {
    title: `top ${classes.length} classes`,
    count: classes.length,
    table: dataTable(['class', 'score'], rows, undefined, { id: 'tryit-detections' }),
  };
}
