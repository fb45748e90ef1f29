/** The tune report's plain HTML page: the fallback when the web pages are not built. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTunePlainHtml } from '../../src/report/tune-html.js';
import type { TuneReport } from '../../src/tune/tune.js';

const evil = '</script><b id="x">&';
const measurement = {
  status: 'ok',
  meetsSlo: false,
  throughput: 12.5,
  latencyMs: 80,
  unloadedMs: 40,
  queries: 100,
  elapsedMs: 1000,
} as const;
// Only the fields the text and the plain page read.
const report = {
  schema: 'rtinfer.tune/1',
  slo: { text: `p99<=50ms ${evil}`, quantile: 0.99, label: 'p99', boundMs: 50 },
  scenario: 'server',
  objective: 'throughput',
  maxAccuracyDrop: null,
  space: { variants: [{ id: 'm' }], cores: 2, oversubscribe: false, gridSize: 4 },
  search: {
    measured: 1,
    evaluations: { quick: 1, full: 0, abandoned: 0, failed: 0 },
    gridSize: 4,
    fractionOfGrid: 0.25,
    elapsedMs: 1000,
    stoppedBy: 'converged',
    pruned: { variants: [], rules: [] },
  },
  accuracy: null,
  candidates: [
    {
      key: `m ${evil}`,
      phase: 'screen',
      quick: measurement,
      full: null,
      accuracy: null,
      feasible: false,
      pareto: true,
    },
  ],
  pareto: [`m ${evil}`],
  chosen: null,
  verdict: { met: false, text: `nothing met ${evil}`, closest: [] },
  elapsedMs: 1000,
} as unknown as TuneReport;

describe('renderTunePlainHtml', () => {
  it('escapes report text, says why the charts are missing, and embeds the report as JSON that parses back', () => {
    const html = renderTunePlainHtml(report, 'charts left out <here>');
    assert.doesNotMatch(html, /<b id=/, 'report text is not markup');
    assert.equal((html.match(/<\/script/gi) ?? []).length, 1, 'only the JSON element closes a script');
    assert.match(
      html,
      /<p class="not"><b>NOT MET<\/b>: nothing met &lt;\/script&gt;&lt;b id=&quot;x&quot;&gt;&amp;<\/p>/,
    );
    assert.match(html, /charts left out &lt;here&gt;\.<\/p>/);
    const json = /<script type="application\/json" id="rtinfer-tune">(.*?)<\/script>/s.exec(html)?.[1];
    assert.deepEqual(JSON.parse(json ?? ''), JSON.parse(JSON.stringify(report)));
  });
});
