/** Report page: draws a rtinfer.bench/1 or rtinfer.sweep/1 report embedded by src/report/html-report.ts. */
import { embeddedData, h } from '../shared/dom.js';

const root = document.getElementById('app') ?? document.body;
const data = embeddedData<{ kind: string }>();
root.append(h('p', {}, `report: ${data.kind}`));
