/** Small DOM helpers: elements are built with textContent, never innerHTML, so report data cannot inject markup. */

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** A two-column table of label → value rows; rows whose value is undefined are left out. */
export function keyValueTable(
  rows: ReadonlyArray<readonly [string, string | number | null | undefined]>,
  attrs: Record<string, string> = {},
): HTMLTableElement {
  const t = h('table', { class: 'kv', ...attrs });
  for (const [k, v] of rows)
    if (v !== undefined) t.append(h('tr', {}, h('th', {}, k), h('td', {}, v === null ? '–' : String(v))));
  return t;
}

/** A table with a header row; cells are text. */
export function dataTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  rowClass?: (i: number) => string | undefined,
  attrs: Record<string, string> = {},
): HTMLTableElement {
  const t = h('table', { class: 'data', ...attrs });
  t.append(h('thead', {}, h('tr', {}, ...header.map((c) => h('th', {}, c)))));
  const body = h('tbody');
  rows.forEach((r, i) => {
    const cls = rowClass?.(i);
    body.append(h('tr', cls ? { class: cls } : {}, ...r.map((c) => h('td', {}, c))));
  });
  t.append(body);
  return t;
}

/** The JSON that the page generator embedded as <script type="application/json" id="rtinfer-data">. */
export function embeddedData<T>(): T {
  const el = document.getElementById('rtinfer-data');
  if (!el?.textContent) throw new Error('rtinfer: no embedded data (#rtinfer-data) in this page');
  return JSON.parse(el.textContent) as T;
}

/** A titled section with a chart container; returns the container. */
export function chartSection(parent: HTMLElement, id: string, title: string, caption?: string): HTMLDivElement {
  const box = h('div', { class: 'chart', id });
  parent.append(
    h('section', { class: 'card' }, h('h2', {}, title), box, caption ? h('p', { class: 'caption' }, caption) : null),
  );
  return box;
}
