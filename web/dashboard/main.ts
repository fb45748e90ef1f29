/**
 * The live dashboard of `rtinfer serve` (GET /): a card per model fed once a second by the
 * server's event stream (/api/live), and the try-it panel. The page is self-contained (scripts and
 * styles inlined by the server); it talks only to the server it came from.
 */
import { embeddedData, h } from '../shared/dom.js';
import { api, liveUrl } from './api.js';
import { ModelPanel } from './model-panel.js';
import { tryItPanel } from './try-it.js';
import type { DashboardData, LiveSnapshot, LiveTick, ModelListing } from './types.js';

const data = embeddedData<DashboardData>();
const root = document.getElementById('app') ?? document.body;
const status = h('span', { class: 'live-status', id: 'live-status', 'data-state': 'connecting' }, 'connecting…');
root.append(
  h('header', { class: 'dash-head' }, h('h1', {}, 'rtinfer serve'), status),
  h(
    'p',
    { class: 'meta' },
    `rtinfer ${data.version} · ${data.models.length} model${data.models.length === 1 ? '' : 's'}: ${data.models.join(', ')} · updates once a second`,
  ),
);
const tryIt = h('div', { id: 'tryit-slot' });
const cards = h('div', { id: 'models' });
root.append(cards, tryIt);

const panels = new Map<string, ModelPanel>();
/** From the model listing, which may arrive before or after the first snapshot creates the cards. */
const deployments = new Map<string, NonNullable<ModelListing['deployment']>>();
let ticks = 0;

function setStatus(state: 'connecting' | 'live' | 'reconnecting', text: string): void {
  status.dataset['state'] = state;
  status.textContent = text;
}

function onSnapshot(s: LiveSnapshot): void {
  s.models.forEach((m, i) => {
    let panel = panels.get(m.name);
    if (!panel) {
      panel = new ModelPanel(cards, m.name, `model-${i}`, {
        bucketEdgesMs: s.bucketEdgesMs,
        windowPoints: s.windowPoints,
        intervalMs: s.intervalMs,
      });
      panels.set(m.name, panel);
      const d = deployments.get(m.name);
      if (d) panel.setDeployment(d);
    }
    // On a reconnect the snapshot replaces what the page had: no gap, no duplicate points.
    panel.setHistory(m.points, m.lastMinute);
  });
  setStatus('live', 'live');
}

function onTick(t: LiveTick): void {
  for (const m of t.models) panels.get(m.name)?.push(m.point, m.lastMinute);
  ticks++;
  document.body.dataset['ticks'] = String(ticks);
}

const events = new EventSource(liveUrl());
events.addEventListener('snapshot', (e) => onSnapshot(JSON.parse((e as MessageEvent<string>).data) as LiveSnapshot));
events.addEventListener('tick', (e) => onTick(JSON.parse((e as MessageEvent<string>).data) as LiveTick));
events.addEventListener('error', () => {
  // The browser retries by itself (the server asks for 2 s) unless the server refused the stream.
  if (events.readyState === EventSource.CLOSED) setStatus('reconnecting', 'disconnected: reload the page to retry');
  else setStatus('reconnecting', 'reconnecting…');
});

void (async () => {
  try {
    const { models } = (await (await api('api/models')).json()) as { models: ModelListing[] };
    for (const m of models) {
      if (!m.deployment) continue;
      deployments.set(m.name, m.deployment);
      panels.get(m.name)?.setDeployment(m.deployment);
    }
    tryItPanel(tryIt, models);
  } catch (error) {
    tryIt.append(
      h(
        'section',
        { class: 'card', id: 'tryit' },
        h('h2', {}, 'Try it'),
        h('p', { class: 'error' }, `cannot list the models: ${error instanceof Error ? error.message : String(error)}`),
      ),
    );
  }
})();
