/** Report page: draws the rtinfer.bench/1 or rtinfer.sweep/1 report that src/report embedded in the page. */
import { embeddedData, h } from '../shared/dom.js';
import type { ReportPageData } from '../shared/report-types.js';
import { renderBench } from './bench.js';
import { renderSweep } from './sweep.js';

const app = document.getElementById('app') ?? document.body;
const data = embeddedData<ReportPageData>();
if (data.kind === 'bench') renderBench(app, data.report);
else if (data.kind === 'sweep') renderSweep(app, data.report);
else app.append(h('p', {}, `rtinfer: unknown report kind ${JSON.stringify((data as { kind: unknown }).kind)}`));
app.append(
  h(
    'footer',
    {},
    `${data.report.schema} · written by rtinfer ${data.report.env.rtinfer} · self-contained: charts by uPlot, nothing loaded from the network`,
  ),
);
